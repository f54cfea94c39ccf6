/// The LSP experiments' teacher and student models for transductive node classification (Cora, CiteSeer,
/// PubMed): what `gcnkd distill` runs. The teacher is a wide two-hidden-layer GAT, the student the same design about
/// 19x smaller; both are trained with the GAT preset (Adam 0.005, weight decay 5e-4, early stopping on validation
/// accuracy), and the student is selected on validation accuracy only.
namespace GcnKd.Train

open GcnKd

[<RequireQualifiedAccess>]
module DistillRegistry =
    /// The teacher: GAT with 2 hidden layers of 8 heads x 32 (256 wide), residual, dropout 0.6 (437,525
    /// parameters on Cora).
    let nodeTeacher (inFeatures: int) (classes: int) =
        { Gat.cora inFeatures classes with Hidden = [ 8, 32; 8, 32 ]; Residual = IdentityOrProjection }

    /// The student: GAT with 2 hidden layers of 2 heads x 8 (16 wide), residual, dropout 0.6 (23,525 parameters on
    /// Cora, 18.6x fewer than the teacher).
    let nodeStudent (inFeatures: int) (classes: int) =
        { Gat.cora inFeatures classes with Hidden = [ 2, 8; 2, 8 ]; Residual = IdentityOrProjection }

    /// The feature term's defaults: the teacher's last hidden layer against the student's, lambda 1 (the LSP code's
    /// --loss-weight), on for every epoch.
    let defaultOptions =
        { Pairs = [ { TeacherLayer = -1; StudentLayer = -1 } ]; Lambda = 1.0f; Schedule = DistillSchedule.Always }

    let private describeGat (cfg: GatConfig) =
        (cfg.Hidden |> List.map (fun (h, f) -> sprintf "%dx%d" h f) |> String.concat ", ") + sprintf " -> %d output head(s)" cfg.OutHeads

    let private preset (seed: int) (epochs: int option) =
        let p = Registry.nodePreset "gat"
        { p with Seed = seed; Epochs = defaultArg epochs p.Epochs }

    /// The teacher's outputs on every node in inference mode (what the student is distilled from).
    let teacherOutputs (data: NodeDataset) (p: GatParams) : ModelOutput =
        let cfg = nodeTeacher data.Features.Shape.[1] data.NumClasses
        Gat.forward cfg p ForwardContext.Eval (Gat.prepare data.Adj) data.Features

    /// Train the teacher on a Planetoid dataset; returns the run and its parameters.
    let trainNodeTeacher (data: NodeDataset) (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome * GatParams =
        let cfg = nodeTeacher data.Features.Shape.[1] data.NumClasses
        let tc = preset seed epochs
        let adj = Gat.prepare data.Adj
        let r = NodeTrainer.train tc { Init = Gat.init cfg; Forward = fun p ctx -> Gat.forward cfg p ctx adj data.Features }
                                  data.Labels data.Train data.Val data.Test onEpoch
        let config =
            [ "role", "teacher"; "architecture", "GAT " + describeGat cfg; "residual", "identity or projection"
              "dropout", "0.6 features and attention"; "epochs", string tc.Epochs; "lr", string tc.Lr
              "weight_decay", string tc.WeightDecay; "patience", string tc.Patience; "seed", string seed
              "selection", "best validation accuracy" ]
        Registry.outcomeOf "accuracy" "gat-teacher" seed r.BestEpoch r.ValAccuracy r.TestAccuracy r.Params None r.Log config, r.Params

    /// The node teacher's parameters shaped for this dataset (a checkpoint template).
    let nodeTeacherTemplate (data: NodeDataset) = Gat.init (nodeTeacher data.Features.Shape.[1] data.NumClasses) (Rng.create 0)

    /// Distil the teacher's outputs into a fresh student with one method; returns the run (the student's
    /// parameters) and the distillation term per epoch.
    let distillNode (data: NodeDataset) (teacher: ModelOutput) (teacherParams: int) (m: DistillMethod) (options: DistillOptions)
                    (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome * float[] =
        let cfg = nodeStudent data.Features.Shape.[1] data.NumClasses
        let adj = Gat.prepare data.Adj
        let spec = { NodeSpec.Init = Gat.init cfg; Forward = fun p ctx -> Gat.forward cfg p ctx adj data.Features }
        let tc = preset seed epochs
        // LSP compares each node's neighbours: the data's edges, without the self-loops GAT attends over
        let lspGraph = Graph.removeSelfLoops data.Adj
        let r = DistillTrainer.train { Train = tc; Method = m; Options = options } spec lspGraph teacher data.Labels data.Train data.Val data.Test onEpoch
        let name, kernel = DistillMethod.describe m
        let featureTerm = match m with DistillMethod.FitNet | DistillMethod.AttentionTransfer _ | DistillMethod.Lsp _ -> true | _ -> false
        let config =
            [ "role", "student"; "architecture", "GAT " + describeGat cfg; "residual", "identity or projection"
              "method", name; "kernel", kernel; "teacher_params", string teacherParams
              "pairs", (if featureTerm then options.Pairs |> List.map (fun p -> sprintf "teacher %d / student %d" p.TeacherLayer p.StudentLayer) |> String.concat "; " else "-")
              "lambda", (if featureTerm then string options.Lambda else "-")
              "schedule", (if featureTerm then sprintf "%A" options.Schedule else "-")
              "lsp_graph", "the data's edges without self-loops"
              "epochs", string tc.Epochs; "lr", string tc.Lr; "weight_decay", string tc.WeightDecay; "patience", string tc.Patience
              "seed", string seed; "selection", "best validation accuracy" ]
        Registry.outcomeOf "accuracy" "gat-student" seed r.Result.BestEpoch r.Result.ValAccuracy r.Result.TestAccuracy r.Result.Params None r.Result.Log config,
        r.DistillLoss

    // ---- PPI: the LSP paper's own setting (Gat.ppiTeacher, Gat.ppiStudent, Adam 0.005, batches of 2 graphs) ----

    /// The released LSP code's pairing and schedule: teacher hidden layer 1 with student hidden layer 2, lambda 1,
    /// the term on for the first 30 epochs.
    let ppiOptions = DistillOptions.releasedLsp

    let private ppiForward (cfg: GatConfig) = fun (p: GatParams) ctx (b: GraphBatch) x -> Gat.forward cfg p ctx (Gat.prepare b.Adj) x

    /// Train the PPI teacher (Registry's "gat" inductive preset); returns the run and its parameters.
    let trainInductiveTeacher (data: InductiveDataset) (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome * GatParams =
        let r = Registry.trainInductive "gat" data seed epochs onEpoch
        let cfg = Gat.ppiTeacher data.NumFeatures data.NumLabels
        r, Tree.ofNamed (Gat.init cfg (Rng.create 0)) (readOnlyDict r.Tensors)

    /// The PPI teacher's parameters shaped for this dataset (a checkpoint template).
    let inductiveTeacherTemplate (data: InductiveDataset) = Gat.init (Gat.ppiTeacher data.NumFeatures data.NumLabels) (Rng.create 0)

    /// The teacher's outputs on each training graph, in inference mode, one graph at a time.
    let inductiveTeacherOutputs (data: InductiveDataset) (p: GatParams) : ModelOutput[] =
        let cfg = Gat.ppiTeacher data.NumFeatures data.NumLabels
        data.Train |> Array.map (fun g ->
            let b = InductiveTrainer.prepare [| g |]
            ppiForward cfg p ForwardContext.Eval b.Batch b.Features)

    /// The teacher's test micro-F1.
    let inductiveTeacherTest (data: InductiveDataset) (p: GatParams) =
        let cfg = Gat.ppiTeacher data.NumFeatures data.NumLabels
        snd (InductiveTrainer.evaluate { Init = Gat.init cfg; Forward = ppiForward cfg } p (data.Test |> Array.map (fun g -> InductiveTrainer.prepare [| g |])))

    /// Distil the PPI teacher into the paper's student with one method (LSP on the batch's edges).
    let distillInductive (data: InductiveDataset) (teacher: ModelOutput[]) (teacherParams: int) (m: DistillMethod) (options: DistillOptions)
                         (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome * float[] =
        let cfg = Gat.ppiStudent data.NumFeatures data.NumLabels
        let preset = Registry.inductivePreset "gat-student"
        let tc = { preset with Seed = seed; Epochs = defaultArg epochs preset.Epochs }
        let r, term = DistillTrainer.trainInductive tc m options { Init = Gat.init cfg; Forward = ppiForward cfg } teacher data onEpoch
        let name, kernel = DistillMethod.describe m
        let config =
            [ "role", "student"; "architecture", "Gat.ppiStudent " + describeGat cfg; "method", name; "kernel", kernel
              "teacher_params", string teacherParams
              "pairs", (options.Pairs |> List.map (fun p -> sprintf "teacher %d / student %d" p.TeacherLayer p.StudentLayer) |> String.concat "; ")
              "lambda", string options.Lambda; "schedule", sprintf "%A" options.Schedule; "lsp_graph", "each batch's edges as stored"
              "epochs", string tc.Epochs; "batch_graphs", string tc.BatchSize; "lr", string tc.Lr; "patience", string tc.Patience
              "seed", string seed; "loss", "BCE with logits + distillation"; "selection", "best validation micro-F1" ]
        Registry.outcomeOf "micro_f1" "gat-student" seed r.BestEpoch r.ValF1 r.TestF1 r.Params None r.Log config, term

    // ---- point clouds: DGCNN teacher and a thin DGCNN student, each building its own kNN graphs ----

    /// The thin student: EdgeConv 32-32-64-128 with k = 10 (so its graphs differ from the teacher's k = 20), a
    /// 128-wide embedding and a 128-64 head; otherwise the teacher's design (Registry.pointConfig "dgcnn").
    let pointStudent (inFeatures: int) (classes: int) =
        { Registry.pointConfig "dgcnn" inFeatures classes with EdgeWidths = [ 32; 32; 64; 128 ]; K = 10; Embedding = 128; HeadWidths = [ 128; 64 ] }

    /// LSP on every EdgeConv layer pair (Bahri et al. average three), lambda 1, every epoch.
    let pointOptions =
        { Pairs = [ for l in 0 .. 3 -> { TeacherLayer = l; StudentLayer = l } ]; Lambda = 1.0f; Schedule = DistillSchedule.Always }

    let private pointPass (cfg: DgcnnConfig) (p: DgcnnParams) (s: DgcnnState) ctx (b: GraphBatch) x =
        let r = Dgcnn.run cfg p s ctx (Registry.pointKnn b) b.NodeGraph b.NumGraphs x
        { Output = r.Output; Graphs = r.Graphs }, r.State

    /// A trained teacher's parameters and batch-norm statistics from a run's named tensors (statistics prefixed
    /// "state."), checked against the teacher's shapes.
    let pointTeacherOf (data: PointCloudDataset) (named: (string * Tensor)[]) : DgcnnParams * DgcnnState =
        let cfg = Registry.pointConfig "dgcnn" (data.Train.[0].Points.Shape.[1]) data.NumClasses
        let ps, ss = Registry.paramsAndState named
        Tree.ofNamed (Dgcnn.init cfg (Rng.create 0)) ps, Tree.ofNamed (Dgcnn.initState cfg) ss

    /// A DGCNN teacher's accuracy on every test cloud (for a loaded teacher; a trained one reports it in its run).
    let pointTeacherTest (data: PointCloudDataset) (tp: DgcnnParams) (ts: DgcnnState) : float =
        let cfg = Registry.pointConfig "dgcnn" (data.Train.[0].Points.Shape.[1]) data.NumClasses
        let graphs, testIdx = Registry.pointGraphs data
        let eval = Registry.pointPreset "dgcnn"
        let batches = GraphTrainer.chunks eval.EvalBatchSize testIdx |> Array.map (GraphTrainer.prepare graphs)
        snd (GraphTrainer.evaluate (Registry.pointSpec cfg) tp ts batches)

    /// Distil a DGCNN teacher into the thin student on MNIST point clouds (trainIdx / valIdx index data.Train; every
    /// test cloud is scored by the selected student). LSP compares each EdgeConv pair on the union of the two kNN graphs.
    let distillPoints (data: PointCloudDataset) (teacher: DgcnnParams * DgcnnState) (m: DistillMethod) (options: DistillOptions)
                      (seed: int) (epochs: int option) (trainIdx: int[]) (valIdx: int[]) (onEpoch: EpochLog -> unit) : RunOutcome * float[] =
        let f = data.Train.[0].Points.Shape.[1]
        let tcfg = Registry.pointConfig "dgcnn" f data.NumClasses
        let scfg = pointStudent f data.NumClasses
        let cfg = Registry.pointTrainConfig "dgcnn" seed epochs
        let tp, ts = teacher
        let graphs, testIdx = Registry.pointGraphs data
        let r, term =
            DistillTrainer.trainDynamic cfg m options (Dgcnn.init scfg) (fun () -> Dgcnn.initState scfg) (pointPass scfg)
                (fun b x -> fst (pointPass tcfg tp ts ForwardContext.Eval b x)) graphs trainIdx valIdx testIdx onEpoch
        let name, kernel = DistillMethod.describe m
        let config =
            [ "role", "student"; "edgeconv", (scfg.EdgeWidths |> List.map string |> String.concat "-"); "k", string scfg.K
              "embedding", string scfg.Embedding; "head", (scfg.HeadWidths |> List.map string |> String.concat "-")
              "method", name; "kernel", kernel; "teacher_params", string (Tree.count tp)
              "pairs", (options.Pairs |> List.map (fun p -> sprintf "edgeconv %d / %d" p.TeacherLayer p.StudentLayer) |> String.concat "; ")
              "lambda", string options.Lambda; "lsp_graph", "union of the teacher's and the student's kNN graphs per layer"
              "epochs", string cfg.Epochs; "batch_size", string cfg.BatchSize; "lr", string cfg.Lr; "schedule", sprintf "%A" cfg.Schedule
              "train_clouds", string trainIdx.Length; "val_clouds", string valIdx.Length; "seed", string seed
              "selection", "lowest validation loss (ties: accuracy)" ]
        Registry.outcomeOf "accuracy" "dgcnn-student" seed r.BestEpoch r.ValAccuracy r.TestAccuracy r.Params (Some r.State) r.Log config, term
