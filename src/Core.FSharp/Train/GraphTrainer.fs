/// Mini-batch training of a graph classifier on a train / validation / test partition of a graph dataset: the
/// epoch is selected on validation accuracy and the selected model alone is scored on the test part.
namespace GcnKd.Train

open GcnKd

/// A graph-level model as the trainer sees it. 'S is explicit state (batch-norm running statistics).
type GraphSpec<'P, 'S> =
    { Init: Rng -> 'P
      InitState: unit -> 'S
      Forward: 'P -> 'S -> ForwardContext -> GraphBatch -> Tensor -> ModelOutput * 'S }

type GraphTrainConfig =
    { Epochs: int
      BatchSize: int
      /// Graphs per evaluation batch (validation and test): only memory and speed depend on it, not the results.
      EvalBatchSize: int
      Lr: float32
      WeightDecay: float32
      Schedule: Schedule
      Patience: int
      /// The model-selection criterion on the validation part.
      SelectBy: SelectBy
      Seed: int }

type GraphTrainResult<'P, 'S> =
    { Params: 'P
      State: 'S
      BestEpoch: int
      ValAccuracy: float
      TestAccuracy: float
      Log: EpochLog[] }

/// A batch ready for the model: block-diagonal graph, stacked features, labels.
type PreparedBatch = { Batch: GraphBatch; Features: Tensor; Labels: int[] }

[<RequireQualifiedAccess>]
module GraphTrainer =
    /// Stack the graphs `idx` of a dataset into one batch.
    let prepare (graphs: GraphSample[]) (idx: int[]) =
        let sel = idx |> Array.map (fun i -> graphs.[i])
        { Batch = Graph.batch (sel |> Array.map (fun g -> g.Adj))
          Features = Graph.batchFeatures (sel |> Array.map (fun g -> g.Features))
          Labels = sel |> Array.map (fun g -> g.Label) }

    /// Cut indices into consecutive batches.
    let chunks (size: int) (idx: int[]) = idx |> Array.chunkBySize (max 1 size)

    /// Loss and accuracy of a model (eval mode) over prepared batches, weighted by batch size.
    let evaluate (spec: GraphSpec<'P, 'S>) (p: 'P) (s: 'S) (batches: PreparedBatch[]) =
        let mutable loss = 0.0
        let mutable correct = 0.0
        let mutable n = 0
        for b in batches do
            let out, _ = spec.Forward p s ForwardContext.Eval b.Batch b.Features
            let k = b.Labels.Length
            loss <- loss + float (Loss.crossEntropy out.Logits b.Labels).Item0 * float k
            correct <- correct + Loss.accuracy out.Logits b.Labels * float k
            n <- n + k
        if n = 0 then nan, nan else loss / float n, correct / float n

    /// Train with a custom objective `loss epoch batch params output` on each training batch (validation and test
    /// are scored as always: cross-entropy and accuracy), continuing from `snapshots.Resume` if given (a snapshot of
    /// this run); `snapshots.OnState` receives the run's snapshot after every epoch (after `onEpoch`, even if it
    /// throws), for the host to save when it likes.
    let trainFrom (loss: int -> PreparedBatch -> 'P -> ModelOutput -> Tensor) (cfg: GraphTrainConfig) (spec: GraphSpec<'P, 'S>)
                  (graphs: GraphSample[]) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[])
                  (snapshots: Snapshots) (onEpoch: EpochLog -> unit) : GraphTrainResult<'P, 'S> =
        if cfg.Epochs < 1 then invalidArg "Epochs" "at least one epoch is needed"
        if trainIdx.Length = 0 then invalidArg "trainIdx" "the training part is empty"
        let root = Rng.create cfg.Seed
        let keys = Rng.splitN (2 * cfg.Epochs + 1) root
        let opt = Optim.adam cfg.WeightDecay
        let valBatches = chunks cfg.EvalBatchSize valIdx |> Array.map (prepare graphs)
        let p0 = spec.Init keys.[0]
        let start =
            match snapshots.Resume with
            | Some snap -> TrainSnapshot.decode p0 (spec.InitState ()) (Optim.init opt p0) snap
            | None -> { NextEpoch = 0; Params = p0; State = spec.InitState (); Optimizer = Optim.init opt p0; Selection = Selection.empty; Log = [||] }
        let mutable p = start.Params
        let mutable s = start.State
        let mutable opState = start.Optimizer
        let mutable sel: Selection<'P * 'S> = start.Selection
        let log = ResizeArray(start.Log)
        let mutable epoch = start.NextEpoch
        while epoch < cfg.Epochs && not (Selection.shouldStop cfg.Patience sel) do
            let lr = Schedule.lr cfg.Schedule cfg.Lr epoch
            let order = Rng.permutation trainIdx.Length keys.[1 + 2 * epoch] |> Array.map (fun i -> trainIdx.[i])
            let batchKeys = Rng.splitN (order.Length / max 1 cfg.BatchSize + 1) keys.[2 + 2 * epoch]
            let mutable lossSum = 0.0
            let mutable correct = 0.0
            for bi, idx in chunks cfg.BatchSize order |> Array.indexed do
                let b = prepare graphs idx
                let lossValue, g, (logits, newState) =
                    Autodiff.valueAndGradAux (fun q ->
                        let out, ns = spec.Forward q s (ForwardContext.Train batchKeys.[bi]) b.Batch b.Features
                        loss epoch b q out, (out.Logits, ns)) p
                let np, nst = Optim.step opt lr opState p g
                p <- np
                opState <- nst
                s <- newState
                lossSum <- lossSum + float lossValue * float idx.Length
                correct <- correct + Loss.accuracy logits b.Labels * float idx.Length
            let valLoss, valAcc = if valBatches.Length = 0 then nan, nan else evaluate spec p s valBatches
            let entry =
                { Epoch = epoch; Lr = float lr; TrainLoss = lossSum / float order.Length; TrainMetric = correct / float order.Length
                  ValLoss = valLoss; ValMetric = valAcc }
            log.Add entry
            let current = p, s
            // without a validation part, the last epoch is the selected one
            sel <- if valBatches.Length = 0 then { Selection.offerBy ValidationMetric { entry with ValMetric = float epoch; ValLoss = 0.0 } (fun () -> current) sel with SinceBest = 0 }
                   else Selection.offerBy cfg.SelectBy entry (fun () -> current) sel
            epoch <- epoch + 1
            let snapshot = { NextEpoch = epoch; Params = p; State = s; Optimizer = opState; Selection = sel; Log = log.ToArray() }
            // the snapshot is offered even when onEpoch stops the run (the host's Ctrl-C), so no finished epoch is lost
            try onEpoch entry
            finally snapshots.OnState (fun () -> TrainSnapshot.encode snapshot)
        let bp, bs = sel.Best.Value
        let _, testAcc = evaluate spec bp bs (chunks cfg.EvalBatchSize testIdx |> Array.map (prepare graphs))
        { Params = bp; State = bs; BestEpoch = sel.BestEpoch; ValAccuracy = (if valBatches.Length = 0 then nan else sel.BestMetric)
          TestAccuracy = testAcc; Log = log.ToArray() }

    /// Train with a custom objective from the start, without snapshots.
    let trainWith (loss: int -> PreparedBatch -> 'P -> ModelOutput -> Tensor) (cfg: GraphTrainConfig) (spec: GraphSpec<'P, 'S>)
                  (graphs: GraphSample[]) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit) : GraphTrainResult<'P, 'S> =
        trainFrom loss cfg spec graphs trainIdx valIdx testIdx Snapshots.none onEpoch

    /// Train on cross-entropy, the usual objective.
    let train (cfg: GraphTrainConfig) (spec: GraphSpec<'P, 'S>) (graphs: GraphSample[]) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[])
              (onEpoch: EpochLog -> unit) : GraphTrainResult<'P, 'S> =
        trainWith (fun _ b _ out -> Loss.crossEntropy out.Logits b.Labels) cfg spec graphs trainIdx valIdx testIdx onEpoch

    /// Train on cross-entropy with snapshots (see trainFrom).
    let trainResumable (cfg: GraphTrainConfig) (spec: GraphSpec<'P, 'S>) (graphs: GraphSample[]) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[])
                       (snapshots: Snapshots) (onEpoch: EpochLog -> unit) : GraphTrainResult<'P, 'S> =
        trainFrom (fun _ b _ out -> Loss.crossEntropy out.Logits b.Labels) cfg spec graphs trainIdx valIdx testIdx snapshots onEpoch
