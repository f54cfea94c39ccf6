/// Distilling a trained teacher into a student node classifier (transductive, one graph): the student trains on
/// its task loss plus one distillation term (Hinton KD, FitNet, attention transfer or LSP), is selected on
/// validation accuracy like any node model, and only the selected student is scored on the test nodes. The teacher
/// is frozen: its outputs are computed once, in inference mode, and enter every loss as constants.
namespace GcnKd.Train

open GcnKd

/// The distillation term a student trains with.
[<RequireQualifiedAccess>]
type DistillMethod =
    /// The student alone: its task loss only (the baseline every method must beat).
    | StudentAlone
    /// Hinton et al. 2015: (1 - alpha) CE on the labelled nodes + alpha T^2 KL(teacher || student) on every node.
    | Kd of temperature: float32 * alpha: float32
    /// Romero et al. 2015: a learned linear regressor from each paired student layer to the teacher's, MSE.
    | FitNet
    /// Zagoruyko & Komodakis 2017, per node: MSE between normalised mean |z|^p maps.
    | AttentionTransfer of p: float32
    /// Yang et al. 2020: KL between the teacher's and the student's local structure distributions.
    | Lsp of LspScore

[<RequireQualifiedAccess>]
module DistillMethod =
    /// Hinton KD's usual settings for node classification (T = 4, alpha = 0.5; torchdistill's defaults).
    let defaultKd = DistillMethod.Kd(4.0f, 0.5f)

    /// The command-line names, in table order.
    let names = [ "none"; "kd"; "fitnet"; "at"; "lsp" ]

    /// The method for a command-line name (`kernel` is LSP's score function name, ignored otherwise).
    let ofName (name: string) (kernel: string) =
        match (if isNull name then "" else name.Trim().ToLowerInvariant()) with
        | "none" -> DistillMethod.StudentAlone
        | "kd" -> defaultKd
        | "fitnet" -> DistillMethod.FitNet
        | "at" -> DistillMethod.AttentionTransfer AttentionTransfer.DefaultP
        | "lsp" -> DistillMethod.Lsp(LspScore.ofName kernel)
        | other -> invalidArg "name" (sprintf "unknown distillation method '%s'; expected one of %s" other (String.concat ", " names))

    /// (method, kernel) as the result tables print them.
    let describe (m: DistillMethod) =
        match m with
        | DistillMethod.StudentAlone -> "none", "-"
        | DistillMethod.Kd(t, a) -> sprintf "kd(T=%g,alpha=%g)" t a, "-"
        | DistillMethod.FitNet -> "fitnet", "-"
        | DistillMethod.AttentionTransfer p -> sprintf "at(p=%g)" p, "-"
        | DistillMethod.Lsp s -> "lsp", LspScore.describe s

/// The trainable parameters of a distilled student: the student itself and, for FitNet, one regressor per layer
/// pair (trained jointly, dropped after training).
type DistilledParams<'P> = { Student: 'P; Regressors: FitNetParams list }

type NodeDistillConfig =
    { Train: NodeTrainConfig
      Method: DistillMethod
      /// Layer pairs, lambda and schedule of the FitNet / AT / LSP term (KD uses its own alpha).
      Options: DistillOptions }

/// A dynamic-graph model's pass (DGCNN): its output and the kNN graph each graph layer built, Graphs.[l] aligned
/// with Output.Hidden.[l].
type DynamicPass = { Output: ModelOutput; Graphs: Csr list }

/// A student's training run: the selected student and the mean distillation term per epoch (0 when off).
type NodeDistillResult<'P> = { Result: NodeTrainResult<'P>; DistillLoss: float[] }

/// The distillation term's mean per epoch over the training batches of a mini-batch trainer.
type private EpochTerms(epochs: int) =
    let sums = Array.zeroCreate<float> epochs
    let counts = Array.zeroCreate<int> epochs
    member _.Add(epoch: int, term: float) =
        sums.[epoch] <- sums.[epoch] + term
        counts.[epoch] <- counts.[epoch] + 1
    /// The means of the first `ran` epochs (0 for an epoch without batches).
    member _.Means(ran: int) = Array.init ran (fun e -> if counts.[e] = 0 then 0.0 else sums.[e] / float counts.[e])

[<RequireQualifiedAccess>]
module DistillTrainer =
    /// A teacher's outputs as constants (no gradient reaches the teacher).
    let private frozen (o: ModelOutput) = { Logits = o.Logits.Detach(); Hidden = o.Hidden |> List.map (fun h -> h.Detach()) }

    /// Widths of the teacher and student features each pair reads (FitNet's regressor shapes).
    let pairWidths (options: DistillOptions) (teacher: ModelOutput) (student: ModelOutput) =
        DistillOptions.select options teacher student |> List.map (fun (t, s) -> s.Shape.[1], t.Shape.[1])

    /// The feature term averaged over the layer pairs: FitNet, AT or LSP on `graph` (LSP's neighbourhoods), or None
    /// for the methods without one.
    let featureTerm (m: DistillMethod) (options: DistillOptions) (graph: Csr) (regressors: FitNetParams list)
                    (teacher: ModelOutput) (student: ModelOutput) : Tensor option =
        let pairs = DistillOptions.select options teacher student
        let mean (terms: Tensor list) = Some(List.reduce (+) terms * (1.0f / float32 terms.Length))
        match m with
        | DistillMethod.StudentAlone | DistillMethod.Kd _ -> None
        | DistillMethod.FitNet ->
            if regressors.Length <> pairs.Length then
                invalidArg "regressors" (sprintf "DistillTrainer: FitNet needs one regressor per layer pair (%d), got %d" pairs.Length regressors.Length)
            mean (List.map2 (fun r (t, s) -> FitNet.loss r t s) regressors pairs)
        | DistillMethod.AttentionTransfer p -> mean (pairs |> List.map (fun (t, s) -> AttentionTransfer.loss p t s))
        | DistillMethod.Lsp score -> mean (pairs |> List.map (fun (t, s) -> LocalStructure.loss score graph t s))

    /// One full-batch student step: forward in training mode with `key`, the task loss on the training nodes plus
    /// the method's term (KD on every node, or `weight` x the feature term), backward, an optimiser step. Returns the
    /// loss, the training nodes' logits, the term's value and the new parameters and optimiser state.
    let step (opt: OptimizerConfig) (lr: float32) (m: DistillMethod) (options: DistillOptions) (weight: float32)
             (forward: 'P -> ForwardContext -> ModelOutput) (graph: Csr) (teacher: ModelOutput) (trainNodes: int[]) (yTrain: int[])
             (key: Rng) (p: DistilledParams<'P>) (state: OptState<DistilledParams<'P>>) =
        let loss, g, (trainLogits: Tensor, term: float) =
            Autodiff.valueAndGradAux (fun (q: DistilledParams<'P>) ->
                let out = forward q.Student (ForwardContext.Train key)
                let l = Sparse.gatherRows trainNodes out.Logits
                let ce = Loss.crossEntropy l yTrain
                match m with
                | DistillMethod.Kd(t, alpha) ->
                    let soft = Kd.soft t teacher.Logits out.Logits
                    ce * (1.0f - alpha) + soft * alpha, (l, float soft.Item0)
                | _ ->
                    match (if weight > 0.0f then featureTerm m options graph q.Regressors teacher out else None) with
                    | Some d -> ce + d * weight, (l, float d.Item0)
                    | None -> ce, (l, 0.0)) p
        let np, ns = Optim.step opt lr state p g
        loss, trainLogits, term, np, ns

    /// Train a student against a frozen teacher's outputs (`teacher`: logits and hidden features of every node,
    /// computed once in inference mode). `graph` holds the neighbourhoods LSP compares (the data's edges).
    let train (cfg: NodeDistillConfig) (spec: NodeSpec<'P>) (graph: Csr) (teacher: ModelOutput) (labels: int[])
              (trainNodes: int[]) (valNodes: int[]) (testNodes: int[]) (onEpoch: EpochLog -> unit) : NodeDistillResult<'P> =
        let tc = cfg.Train
        if tc.Epochs < 1 then invalidArg "Epochs" "DistillTrainer: at least one epoch is needed"
        DistillOptions.validate cfg.Options
        if teacher.Logits.Shape.[0] <> labels.Length then
            invalidArg "teacher" (sprintf "DistillTrainer: the teacher's logits cover %d nodes, the labels %d" teacher.Logits.Shape.[0] labels.Length)
        let teacher = frozen teacher
        let root = Rng.create tc.Seed
        let initKey, rest = Rng.split root
        let regKey, epochRoot = Rng.split rest
        let epochKeys = Rng.splitN tc.Epochs epochRoot
        let student0 = spec.Init initKey
        let regressors =
            match cfg.Method with
            | DistillMethod.FitNet ->
                let probe = spec.Forward student0 ForwardContext.Eval
                let keys = Rng.splitN cfg.Options.Pairs.Length regKey
                pairWidths cfg.Options teacher probe |> List.mapi (fun i (sw, tw) -> FitNet.init keys.[i] sw tw)
            | _ -> []
        let opt = Optim.adam tc.WeightDecay
        let yTrain = trainNodes |> Array.map (fun i -> labels.[i])
        let mutable p = { Student = student0; Regressors = regressors }
        let mutable state = Optim.init opt p
        let mutable sel = Selection.empty
        let log = ResizeArray()
        let distillLog = ResizeArray()
        let mutable epoch = 0
        while epoch < tc.Epochs && not (Selection.shouldStop tc.Patience sel) do
            let loss, trainLogits, term, np, ns =
                step opt tc.Lr cfg.Method cfg.Options (DistillOptions.weight cfg.Options epoch) spec.Forward graph teacher trainNodes yTrain epochKeys.[epoch] p state
            p <- np
            state <- ns
            let _, valAcc as v = NodeTrainer.evaluate (spec.Forward p.Student ForwardContext.Eval).Logits labels valNodes
            let entry =
                { Epoch = epoch; Lr = float tc.Lr; TrainLoss = float loss; TrainMetric = Loss.accuracy trainLogits yTrain
                  ValLoss = fst v; ValMetric = valAcc }
            log.Add entry
            distillLog.Add term
            onEpoch entry
            let current = p.Student
            sel <- Selection.offer entry (fun () -> current) sel
            epoch <- epoch + 1
        let best = sel.Best.Value
        let _, testAcc = NodeTrainer.evaluate (spec.Forward best ForwardContext.Eval).Logits labels testNodes
        { Result = { Params = best; BestEpoch = sel.BestEpoch; ValAccuracy = sel.BestMetric; TestAccuracy = testAcc; Log = log.ToArray() }
          DistillLoss = distillLog.ToArray() }

    /// The teacher's outputs for a batch of training graphs: each graph's rows (computed once, graph by graph, in
    /// inference mode) stacked in the batch's order, as InductiveTrainer.prepare stacks their nodes.
    let stackOutputs (perGraph: ModelOutput[]) (graphs: int[]) : ModelOutput =
        let pick (f: ModelOutput -> Tensor) = Reshape.concat 0 (graphs |> Array.map (fun i -> f perGraph.[i]))
        let layers = perGraph.[graphs.[0]].Hidden.Length
        { Logits = pick (fun o -> o.Logits); Hidden = List.init layers (fun l -> pick (fun o -> o.Hidden.[l])) }

    /// Distil on an inductive multi-label dataset (PPI, the LSP paper's setting): per training batch the teacher's
    /// stacked outputs (`teacher`: one per training graph, inference mode), BCE with logits + weight(epoch) x the
    /// feature term on the batch's edges, or Hinton's sigmoid form for KD. Selection on validation micro-F1 as
    /// InductiveTrainer; returns the run (the student's parameters) and the mean distillation term per epoch.
    let trainInductive (cfg: InductiveTrainConfig) (m: DistillMethod) (options: DistillOptions) (spec: InductiveSpec<'P>)
                       (teacher: ModelOutput[]) (data: InductiveDataset) (onEpoch: EpochLog -> unit) : InductiveTrainResult<'P> * float[] =
        DistillOptions.validate options
        if teacher.Length <> data.Train.Length then
            invalidArg "teacher" (sprintf "DistillTrainer.trainInductive: %d teacher outputs for %d training graphs" teacher.Length data.Train.Length)
        let teacher = Array.map frozen teacher
        let terms = EpochTerms cfg.Epochs
        let wrapped =
            { InductiveSpec.Init = fun rng ->
                let k1, k2 = Rng.split rng
                let student = spec.Init k1
                let regressors =
                    match m with
                    | DistillMethod.FitNet ->
                        let g = InductiveTrainer.prepare [| data.Train.[0] |]
                        let probe = spec.Forward student ForwardContext.Eval g.Batch g.Features
                        let keys = Rng.splitN options.Pairs.Length k2
                        pairWidths options teacher.[0] probe |> List.mapi (fun i (sw, tw) -> FitNet.init keys.[i] sw tw)
                    | _ -> []
                { Student = student; Regressors = regressors }
              Forward = fun (q: DistilledParams<'P>) ctx b x -> spec.Forward q.Student ctx b x }
        let loss epoch (graphs: int[]) (b: LabelledBatch) (q: DistilledParams<'P>) (out: ModelOutput) =
            let t = stackOutputs teacher graphs
            let total, term =
                match m with
                | DistillMethod.Kd(temperature, alpha) ->
                    let soft = Kd.sigmoid temperature t.Logits out.Logits
                    Loss.bceWithLogits out.Logits b.Targets * (1.0f - alpha) + soft * alpha, float soft.Item0
                | _ ->
                    let bce = Loss.bceWithLogits out.Logits b.Targets
                    let w = DistillOptions.weight options epoch
                    match (if w > 0.0f then featureTerm m options b.Batch.Adj q.Regressors t out else None) with
                    | Some d -> bce + d * w, float d.Item0
                    | None -> bce, 0.0
            terms.Add(epoch, term)
            total
        let r = InductiveTrainer.trainWith loss cfg wrapped data onEpoch
        let epochs = r.Log.Length
        { Params = r.Params.Student; BestEpoch = r.BestEpoch; ValF1 = r.ValF1; TestF1 = r.TestF1; Log = r.Log },
        terms.Means epochs

    /// Distil a dynamic-graph classifier (DGCNN on point clouds): per training batch the frozen teacher's pass on the
    /// same clouds (`teacher batch x`, inference mode) and the student's; cross-entropy plus, for LSP, weight(epoch)
    /// x the mean over the layer pairs (indices into the graph layers) of the LSP loss on the union of the two kNN
    /// graphs, or Hinton KD on the logits. FitNet and AT are not defined here (the table's baselines are the student
    /// alone and KD). Selection on validation as GraphTrainer; returns the run and the mean term per epoch.
    let trainDynamic (cfg: GraphTrainConfig) (m: DistillMethod) (options: DistillOptions) (init: Rng -> 'P) (initState: unit -> 'S)
                     (student: 'P -> 'S -> ForwardContext -> GraphBatch -> Tensor -> DynamicPass * 'S) (teacher: GraphBatch -> Tensor -> DynamicPass)
                     (graphs: GraphSample[]) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit)
                     : GraphTrainResult<'P, 'S> * float[] =
        DistillOptions.validate options
        match m with
        | DistillMethod.FitNet | DistillMethod.AttentionTransfer _ ->
            invalidArg "m" "DistillTrainer.trainDynamic: FitNet and attention transfer are not available for dynamic graphs; use none, kd or lsp"
        | _ -> ()
        // the student's graphs of the pass just run, read by the loss right after it (one pass at a time)
        let mutable lastGraphs : Csr list = []
        let spec =
            { GraphSpec.Init = init; InitState = initState
              Forward = fun p s ctx b x ->
                  let pass, s' = student p s ctx b x
                  lastGraphs <- pass.Graphs
                  pass.Output, s' }
        let terms = EpochTerms cfg.Epochs
        let resolve (count: int) (i: int) = if i < 0 then count + i else i
        let loss epoch (b: PreparedBatch) (_: 'P) (out: ModelOutput) =
            let ce = Loss.crossEntropy out.Logits b.Labels
            let total, term =
                match m with
                | DistillMethod.Kd(temperature, alpha) ->
                    let t = teacher b.Batch b.Features
                    let soft = Kd.soft temperature t.Output.Logits out.Logits
                    ce * (1.0f - alpha) + soft * alpha, float soft.Item0
                | DistillMethod.Lsp score when DistillOptions.weight options epoch > 0.0f ->
                    let t = teacher b.Batch b.Features
                    let tg, sg = Array.ofList t.Graphs, Array.ofList lastGraphs
                    let th, sh = Array.ofList t.Output.Hidden, Array.ofList out.Hidden
                    let pairs =
                        options.Pairs |> List.map (fun p ->
                            let ti, si = resolve tg.Length p.TeacherLayer, resolve sg.Length p.StudentLayer
                            if ti < 0 || ti >= tg.Length || si < 0 || si >= sg.Length then
                                invalidArg "options" (sprintf "DistillTrainer.trainDynamic: layer pair (%d, %d) is outside the teacher's %d and the student's %d graph layers"
                                                          p.TeacherLayer p.StudentLayer tg.Length sg.Length)
                            { TeacherGraph = tg.[ti]; StudentGraph = sg.[si]; Teacher = th.[ti]; Student = sh.[si] })
                    let d = DynamicStructure.meanLoss score pairs
                    ce + d * DistillOptions.weight options epoch, float d.Item0
                | _ -> ce, 0.0
            terms.Add(epoch, term)
            total
        let r = GraphTrainer.trainWith loss cfg spec graphs trainIdx valIdx testIdx onEpoch
        r, terms.Means r.Log.Length
