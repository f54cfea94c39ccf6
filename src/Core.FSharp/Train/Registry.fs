/// Models by name with their standard training presets: what `gcnkd train --model M` resolves to. Each function
/// hides the model's parameter type behind the trainer's generic loop and returns plain named tensors.
namespace GcnKd.Train

open GcnKd

/// The outcome of one training run (one seed, or one fold).
type RunOutcome =
    { Model: string
      Seed: int
      BestEpoch: int
      /// What ValAccuracy and TestAccuracy measure: "accuracy", or "micro_f1" (multi-label PPI).
      Metric: string
      /// The selected epoch's validation metric (NaN without a validation part).
      ValAccuracy: float
      /// The selected model's test metric.
      TestAccuracy: float
      ParamCount: int
      /// Parameters by name (then batch-norm running statistics prefixed "state."), for the checkpoint.
      Tensors: (string * Tensor)[]
      Log: EpochLog[]
      /// The resolved configuration, as name/value text pairs for the run directory.
      Config: (string * string) list }

[<RequireQualifiedAccess>]
module Registry =
    let nodeModels = [ "gcn"; "gat"; "sage"; "mlp" ]
    /// Dropout on the graph models' logits (Xu et al. tune it in {0, 0.5}; GFKD's models use 0.5).
    let DefaultGraphDropout = 0.5f
    let graphModels = [ "gin"; "GCN5_64"; "GIN5_64"; "GCN3_32"; "GIN3_32" ]
    let pointModels = [ "dgcnn" ]
    /// Inductive multi-label (PPI) models: the LSP teacher and student GATs.
    let inductiveModels = [ "gat"; "gat-student" ]

    let private unknown (kind: string) (name: string) (known: string list) =
        invalidArg "model" (sprintf "unknown %s model '%s' (known: %s)" kind name (String.concat ", " known))

    /// Kipf & Welling's and Velickovic et al.'s Planetoid settings; PyG's examples for SAGE and the MLP baseline.
    let nodePreset (model: string) : NodeTrainConfig =
        match model with
        | "gcn" -> { Epochs = 200; Lr = 0.01f; WeightDecay = 5e-4f; Patience = 0; Seed = 0 }
        | "gat" -> { Epochs = 1000; Lr = 0.005f; WeightDecay = 5e-4f; Patience = 100; Seed = 0 }
        | "sage" -> { Epochs = 200; Lr = 0.01f; WeightDecay = 5e-4f; Patience = 0; Seed = 0 }
        | "mlp" -> { Epochs = 200; Lr = 0.01f; WeightDecay = 5e-4f; Patience = 0; Seed = 0 }
        | m -> unknown "node" m nodeModels

    /// Xu et al.'s GIN protocol (Adam 0.01 halved every 50 epochs, 350 epochs, batch 32), used for every graph model.
    let graphPreset (_: string) : GraphTrainConfig =
        { Epochs = 350; BatchSize = 32; EvalBatchSize = 256; Lr = 0.01f; WeightDecay = 0.0f; Schedule = Step(50, 0.5f); Patience = 0; SelectBy = ValidationLoss; Seed = 0 }

    /// A run's outcome: its named parameters (and state, prefixed "state."), metrics, log and resolved config.
    let outcomeOf metric model seed (best: int) (va: float) (te: float) (p: 'P) (state: 'S option) log config =
        let named = Tree.leaves p
        let stateNamed = match state with Some s -> Tree.leaves s |> Array.map (fun (n, t) -> "state." + n, t) | None -> [||]
        { Model = model; Seed = seed; BestEpoch = best; Metric = metric; ValAccuracy = va; TestAccuracy = te
          ParamCount = named |> Array.sumBy (fun (_, t) -> t.Numel); Tensors = Array.append named stateNamed; Log = log; Config = config }

    let private outcome model seed best va te p state log config = outcomeOf "accuracy" model seed best va te p state log config

    /// The node models' architectures (Kipf & Welling's GCN, PyG's SAGE and MLP examples; the GAT is `Gat.cora`).
    let gcnNode (f: int) (c: int) = { GcnConfig.InFeatures = f; Hidden = [ 16 ]; OutFeatures = c; Dropout = 0.5f; Bias = true }
    let sageNode (f: int) (c: int) = { SageConfig.InFeatures = f; Hidden = [ 64 ]; OutFeatures = c; Dropout = 0.5f }
    let mlpNode (f: int) (c: int) = { MlpConfig.Sizes = [ f; 64; c ]; Activation = Relu; Dropout = 0.5f; BatchNorm = false; Norm = NormSettings.torch; Bias = true }

    /// A checkpoint's named tensors split into parameters and batch-norm state (names prefixed "state.", prefix removed).
    let paramsAndState (named: (string * Tensor)[]) =
        named |> Array.filter (fun (n, _) -> not (n.StartsWith "state.")) |> readOnlyDict,
        named |> Array.choose (fun (n, t) -> if n.StartsWith "state." then Some(n.Substring 6, t) else None) |> readOnlyDict

    let private nodeRun model (cfg: NodeTrainConfig) (data: NodeDataset) (spec: NodeSpec<'P>) onEpoch config =
        let r = NodeTrainer.train cfg spec data.Labels data.Train data.Val data.Test onEpoch
        outcome model cfg.Seed r.BestEpoch r.ValAccuracy r.TestAccuracy r.Params None r.Log config

    /// Train a node classifier on a Planetoid-style dataset with the model's preset (epochs overridable).
    let trainNode (model: string) (data: NodeDataset) (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome =
        let preset = nodePreset model
        let cfg = { preset with Seed = seed; Epochs = defaultArg epochs preset.Epochs }
        let f, c = data.Features.Shape.[1], data.NumClasses
        let common = [ "epochs", string cfg.Epochs; "lr", string cfg.Lr; "weight_decay", string cfg.WeightDecay
                       "patience", string cfg.Patience; "seed", string seed; "selection", "best validation accuracy" ]
        match model with
        | "gcn" ->
            let mc = gcnNode f c
            let adj = Gcn.prepare data.Adj
            nodeRun model cfg data { Init = Gcn.init mc; Forward = fun p ctx -> Gcn.forward mc p ctx adj data.Features } onEpoch
                (("hidden", "16") :: ("dropout", "0.5") :: common)
        | "gat" ->
            let mc = Gat.cora f c
            let adj = Gat.prepare data.Adj
            nodeRun model cfg data { Init = Gat.init mc; Forward = fun p ctx -> Gat.forward mc p ctx adj data.Features } onEpoch
                (("heads", "8x8, 1 output head") :: ("dropout", "0.6 features and attention") :: common)
        | "sage" ->
            let mc = sageNode f c
            let adj = Sage.prepare data.Adj
            nodeRun model cfg data { Init = Sage.init mc; Forward = fun p ctx -> Sage.forward mc p ctx adj data.Features } onEpoch
                (("hidden", "64") :: ("dropout", "0.5") :: common)
        | "mlp" ->
            let mc = mlpNode f c
            let st = Mlp.initState mc
            nodeRun model cfg data { Init = Mlp.init mc; Forward = fun p ctx -> fst (Mlp.forward mc p st ctx data.Features) } onEpoch
                (("hidden", "64") :: ("dropout", "0.5") :: common)
        | m -> unknown "node" m nodeModels

    let private graphRun model (cfg: GraphTrainConfig) (data: GraphDataset) (spec: GraphSpec<'P, 'S>) trainIdx valIdx testIdx snapshots onEpoch config =
        let r = GraphTrainer.trainResumable cfg spec data.Graphs trainIdx valIdx testIdx snapshots onEpoch
        outcome model cfg.Seed r.BestEpoch r.ValAccuracy r.TestAccuracy r.Params (Some r.State) r.Log config

    /// Train a graph classifier on one partition (train / validation / test indices) with the model's preset.

    /// With snapshots: continue from one, and receive each epoch's (see GraphTrainer.trainFrom).
    let trainGraphFrom (model: string) (data: GraphDataset) (seed: int) (epochs: int option) (dropout: float32 option)
                       (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (snapshots: Snapshots) (onEpoch: EpochLog -> unit) : RunOutcome =
        let preset = graphPreset model
        let cfg = { preset with Seed = seed; Epochs = defaultArg epochs preset.Epochs }
        let dropout = defaultArg dropout DefaultGraphDropout
        if not (dropout >= 0.0f && dropout < 1.0f) then invalidArg "dropout" (sprintf "trainGraph: dropout must lie in [0, 1), got %g" dropout)
        let common = [ "epochs", string cfg.Epochs; "batch_size", string cfg.BatchSize; "lr", string cfg.Lr
                       "schedule", sprintf "%A" cfg.Schedule; "dropout", string dropout; "seed", string seed
                       "selection", "lowest validation loss (ties: accuracy)" ]
        match model with
        | "gin" ->
            let mc = { Gin.config data.NumFeatures data.NumClasses with FinalDropout = dropout }
            graphRun model cfg data
                { Init = Gin.init mc; InitState = (fun () -> Gin.initState mc)
                  Forward = fun p s ctx b x -> Gin.forward mc p s ctx b x } trainIdx valIdx testIdx snapshots onEpoch
                (("layers", "5 (4 GIN + input)") :: ("width", "64") :: ("eps", "0 (GIN-0)") :: ("readout", "sum over every layer") :: common)
        | name when List.contains name graphModels ->
            let mc = { GfkdFamily.create name data.NumFeatures data.NumClasses with FinalDropout = dropout }
            graphRun model cfg data
                { Init = GfkdFamily.init mc; InitState = (fun () -> GfkdFamily.initState mc)
                  Forward = fun p s ctx b x -> GfkdFamily.forward mc p s ctx (GfkdFamily.prepareBatch mc b) x } trainIdx valIdx testIdx snapshots onEpoch
                (("architecture", name + " (METHODS.md section 2)") :: common)
        | m -> unknown "graph" m graphModels

    let trainGraph (model: string) (data: GraphDataset) (seed: int) (epochs: int option) (dropout: float32 option)
                   (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit) : RunOutcome =
        trainGraphFrom model data seed epochs dropout trainIdx valIdx testIdx Snapshots.none onEpoch

    /// A point cloud as a graph sample for the graph trainer: no fixed edges (DGCNN builds its kNN graphs itself
    /// from the features of each layer) and the points [P; 3] as node features.
    let cloudAsGraph (c: PointCloud) : GraphSample =
        let p = c.Points.Shape.[0]
        { Adj = Csr.ofCoo p p [||] [||] None; Features = c.Points; Label = c.Label }

    /// DGCNN for MNIST point clouds, sized for 2 CPU cores: the paper's EdgeConv 64-64-128-256 with k = 20, but a
    /// 256-wide shared embedding (not 1024: it is a per-point GEMM, the largest dense cost after the edges) and a
    /// 256-128 head. Adam 1e-3 with weight decay 1e-4 and cosine annealing to 1e-5 over the run (the released
    /// code's Adam option), batch 32.
    let pointConfig (model: string) (inFeatures: int) (numClasses: int) : DgcnnConfig =
        match model with
        | "dgcnn" -> { Dgcnn.config inFeatures numClasses with Embedding = 256; HeadWidths = [ 256; 128 ] }
        | m -> unknown "point-cloud" m pointModels

    let pointPreset (model: string) : GraphTrainConfig =
        match model with
        | "dgcnn" -> { Epochs = 20; BatchSize = 32; EvalBatchSize = 64; Lr = 0.001f; WeightDecay = 1e-4f; Schedule = Cosine(20, 1e-5f); Patience = 0; SelectBy = ValidationLoss; Seed = 0 }
        | m -> unknown "point-cloud" m pointModels

    /// Train a point-cloud classifier: trainIdx and valIdx index data.Train (the validation part is carved from the
    /// training clouds), and the selected model alone is scored on every test cloud.
    /// The point preset for a run: seed set, epochs overridable, a cosine schedule stretched over those epochs.
    let pointTrainConfig (model: string) (seed: int) (epochs: int option) : GraphTrainConfig =
        let preset = pointPreset model
        let n = defaultArg epochs preset.Epochs
        { preset with Seed = seed; Epochs = n; Schedule = (match preset.Schedule with Cosine (_, m) -> Cosine(n, m) | s -> s) }

    /// The kNN graphs DGCNN builds per layer within each cloud of a batch (each point among its own neighbours).
    let pointKnn (b: GraphBatch) = fun k h -> Knn.graph k true b.NodeGraph b.NumGraphs h

    /// A DGCNN as the graph trainer sees it.
    let pointSpec (mc: DgcnnConfig) : GraphSpec<DgcnnParams, DgcnnState> =
        { Init = Dgcnn.init mc; InitState = (fun () -> Dgcnn.initState mc)
          Forward = fun p s ctx (b: GraphBatch) x -> Dgcnn.forward mc p s ctx (pointKnn b) b.NodeGraph b.NumGraphs x }

    /// Every cloud of a dataset as a graph sample, the test clouds after the training clouds, and the test indices.
    let pointGraphs (data: PointCloudDataset) =
        Array.append data.Train data.Test |> Array.map cloudAsGraph, Array.init data.Test.Length (fun i -> data.Train.Length + i)

    let trainPointsFrom (model: string) (data: PointCloudDataset) (seed: int) (epochs: int option) (trainIdx: int[]) (valIdx: int[])
                        (snapshots: Snapshots) (onEpoch: EpochLog -> unit) : RunOutcome =
        let cfg = pointTrainConfig model seed epochs
        if data.Train.Length = 0 then invalidArg "data" (sprintf "trainPoints: %s has no training clouds" data.Name)
        let mc = pointConfig model (data.Train.[0].Points.Shape.[1]) data.NumClasses
        let graphs, testIdx = pointGraphs data
        let r = GraphTrainer.trainResumable cfg (pointSpec mc) graphs trainIdx valIdx testIdx snapshots onEpoch
        let config =
            [ "points", string data.Train.[0].Points.Shape.[0]; "k", string mc.K; "edgeconv", (mc.EdgeWidths |> List.map string |> String.concat "-")
              "embedding", string mc.Embedding; "head", (mc.HeadWidths |> List.map string |> String.concat "-"); "dropout", string mc.Dropout
              "epochs", string cfg.Epochs; "batch_size", string cfg.BatchSize; "optimizer", "Adam"; "lr", string cfg.Lr
              "weight_decay", string cfg.WeightDecay; "schedule", sprintf "%A" cfg.Schedule; "seed", string seed
              "train_clouds", string trainIdx.Length; "val_clouds", string valIdx.Length; "test_clouds", string data.Test.Length
              "selection", "lowest validation loss (ties: accuracy)" ]
        outcome model seed r.BestEpoch r.ValAccuracy r.TestAccuracy r.Params (Some r.State) r.Log config

    let trainPoints (model: string) (data: PointCloudDataset) (seed: int) (epochs: int option) (trainIdx: int[]) (valIdx: int[])
                    (onEpoch: EpochLog -> unit) : RunOutcome =
        trainPointsFrom model data seed epochs trainIdx valIdx Snapshots.none onEpoch

    /// The GAT PPI setup (Velickovic et al. 2018; LSP, Yang et al. 2020): Adam 0.005, no weight decay, batches of
    /// 2 graphs, early stopping on validation micro-F1 with patience 100.
    let inductivePreset (model: string) : InductiveTrainConfig =
        match model with
        | "gat" | "gat-student" -> { Epochs = 500; BatchSize = 2; Lr = 0.005f; WeightDecay = 0.0f; Patience = 100; Seed = 0 }
        | m -> unknown "inductive" m inductiveModels

    /// Train a multi-label node classifier on an inductive dataset (PPI): BCE with logits, selection on validation
    /// micro-F1, test micro-F1 of the selected model (reported in the RunOutcome's accuracy fields, Metric "micro_f1").
    let trainInductive (model: string) (data: InductiveDataset) (seed: int) (epochs: int option) (onEpoch: EpochLog -> unit) : RunOutcome =
        let preset = inductivePreset model
        let cfg = { preset with Seed = seed; Epochs = defaultArg epochs preset.Epochs }
        let mc =
            match model with
            | "gat" -> Gat.ppiTeacher data.NumFeatures data.NumLabels
            | _ -> Gat.ppiStudent data.NumFeatures data.NumLabels
        let spec = { InductiveSpec.Init = Gat.init mc; Forward = fun p ctx b x -> Gat.forward mc p ctx (Gat.prepare b.Adj) x }
        let r = InductiveTrainer.train cfg spec data onEpoch
        let config =
            [ "architecture", (if model = "gat" then "Gat.ppiTeacher" else "Gat.ppiStudent")
              "hidden", (mc.Hidden |> List.map (fun (h, d) -> sprintf "%dx%d" h d) |> String.concat ", ")
              "output_heads", sprintf "%d (mean)" mc.OutHeads
              "epochs", string cfg.Epochs; "batch_graphs", string cfg.BatchSize; "lr", string cfg.Lr
              "weight_decay", string cfg.WeightDecay; "patience", string cfg.Patience; "seed", string seed
              "loss", "BCE with logits"; "selection", "best validation micro-F1" ]
        outcomeOf "micro_f1" model seed r.BestEpoch r.ValF1 r.TestF1 r.Params None r.Log config
