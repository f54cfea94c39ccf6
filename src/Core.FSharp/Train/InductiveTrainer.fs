/// Inductive multi-label node classification (PPI protocol of GraphSAGE / GAT / LSP): train on whole training
/// graphs in mini-batches of graphs, BCE with logits over every (node, label) pair, select the epoch by micro-F1
/// on the validation graphs, and score the selected model alone on the test graphs.
namespace GcnKd.Train

open GcnKd

/// A node model over a batch of graphs: the block-diagonal batch (the model adds self-loops or normalises as it
/// needs) and the stacked node features.
type InductiveSpec<'P> =
    { Init: Rng -> 'P
      Forward: 'P -> ForwardContext -> GraphBatch -> Tensor -> ModelOutput }

type InductiveTrainConfig =
    { Epochs: int
      /// Graphs per training step (2 in the GAT and LSP PPI setups).
      BatchSize: int
      Lr: float32
      WeightDecay: float32
      /// Stop after this many epochs without a better validation micro-F1 (0: run all epochs).
      Patience: int
      Seed: int }

type InductiveTrainResult<'P> =
    { Params: 'P
      BestEpoch: int
      ValF1: float
      TestF1: float
      Log: EpochLog[] }

/// Graphs stacked into one batch: block-diagonal graph, stacked features and 0/1 targets.
type LabelledBatch = { Batch: GraphBatch; Features: Tensor; Targets: Tensor }

[<RequireQualifiedAccess>]
module InductiveTrainer =
    let prepare (graphs: LabelledGraph[]) : LabelledBatch =
        { Batch = Graph.batch (graphs |> Array.map (fun g -> g.Adj))
          Features = Graph.batchFeatures (graphs |> Array.map (fun g -> g.Features))
          Targets = Graph.batchFeatures (graphs |> Array.map (fun g -> g.Targets)) }

    /// Mean BCE (weighted by the batches' entry counts) and micro-F1 pooled over every node and label of the
    /// graphs (true/false positives summed over all graphs, as sklearn's f1_score(average="micro") on the stack).
    let evaluate (spec: InductiveSpec<'P>) (p: 'P) (batches: LabelledBatch[]) =
        if batches.Length = 0 then nan, nan
        else
            let mutable loss = 0.0
            let mutable n = 0
            let logits = ResizeArray()
            for b in batches do
                let out = spec.Forward p ForwardContext.Eval b.Batch b.Features
                loss <- loss + float (Loss.bceWithLogits out.Logits b.Targets).Item0 * float b.Targets.Numel
                n <- n + b.Targets.Numel
                logits.Add out.Logits
            let all = Reshape.concat 0 (logits.ToArray())
            let targets = Reshape.concat 0 (batches |> Array.map (fun b -> b.Targets))
            loss / float n, Loss.microF1 all targets

    /// The plain objective: BCE with logits over every (node, label) pair of the batch.
    let bceLoss (_: int) (_: int[]) (b: LabelledBatch) (_: 'P) (out: ModelOutput) = Loss.bceWithLogits out.Logits b.Targets

    /// Train with a custom objective: `loss epoch graphs batch params output` for the training graphs `graphs`
    /// (indices into data.Train, in the batch's order). Validation and test are scored as always (BCE and micro-F1).
    let trainWith (loss: int -> int[] -> LabelledBatch -> 'P -> ModelOutput -> Tensor) (cfg: InductiveTrainConfig) (spec: InductiveSpec<'P>)
                  (data: InductiveDataset) (onEpoch: EpochLog -> unit) : InductiveTrainResult<'P> =
        if cfg.Epochs < 1 then invalidArg "Epochs" "at least one epoch is needed"
        if cfg.BatchSize < 1 then invalidArg "BatchSize" (sprintf "InductiveTrainer: BatchSize must be at least 1, got %d" cfg.BatchSize)
        if data.Train.Length = 0 then invalidArg "data" (sprintf "InductiveTrainer: %s has no training graphs" data.Name)
        if data.Val.Length = 0 then invalidArg "data" (sprintf "InductiveTrainer: %s has no validation graphs (selection needs them)" data.Name)
        let root = Rng.create cfg.Seed
        let keys = Rng.splitN (2 * cfg.Epochs + 1) root
        let opt = Optim.adam cfg.WeightDecay
        // validation graphs one at a time (attention memory grows with the batch); the test split is not touched here
        let valBatches = data.Val |> Array.map (fun g -> prepare [| g |])
        let mutable p = spec.Init keys.[0]
        let mutable opState = Optim.init opt p
        let mutable sel: Selection<'P> = Selection.empty
        let log = ResizeArray()
        let mutable epoch = 0
        while epoch < cfg.Epochs && not (Selection.shouldStop cfg.Patience sel) do
            let order = Rng.permutation data.Train.Length keys.[1 + 2 * epoch]
            let chunks = order |> Array.chunkBySize cfg.BatchSize
            let stepKeys = Rng.splitN chunks.Length keys.[2 + 2 * epoch]
            let mutable lossSum = 0.0
            let mutable entries = 0
            let trainLogits = ResizeArray()
            let trainTargets = ResizeArray()
            for bi, idx in Array.indexed chunks do
                let b = prepare (idx |> Array.map (fun i -> data.Train.[i]))
                let lossValue, g, logits =
                    Autodiff.valueAndGradAux (fun q ->
                        let out = spec.Forward q (ForwardContext.Train stepKeys.[bi]) b.Batch b.Features
                        loss epoch idx b q out, out.Logits) p
                let np, ns = Optim.step opt cfg.Lr opState p g
                p <- np
                opState <- ns
                lossSum <- lossSum + float lossValue * float b.Targets.Numel
                entries <- entries + b.Targets.Numel
                trainLogits.Add (Autodiff.stopGradient logits)
                trainTargets.Add b.Targets
            let trainF1 = Loss.microF1 (Reshape.concat 0 (trainLogits.ToArray())) (Reshape.concat 0 (trainTargets.ToArray()))
            let valLoss, valF1 = evaluate spec p valBatches
            let entry =
                { Epoch = epoch; Lr = float cfg.Lr; TrainLoss = lossSum / float entries; TrainMetric = trainF1
                  ValLoss = valLoss; ValMetric = valF1 }
            log.Add entry
            onEpoch entry
            let current = p
            sel <- Selection.offer entry (fun () -> current) sel
            epoch <- epoch + 1
        let best = sel.Best.Value
        let _, testF1 = evaluate spec best (data.Test |> Array.map (fun g -> prepare [| g |]))
        { Params = best; BestEpoch = sel.BestEpoch; ValF1 = sel.BestMetric; TestF1 = testF1; Log = log.ToArray() }

    let train (cfg: InductiveTrainConfig) (spec: InductiveSpec<'P>) (data: InductiveDataset) (onEpoch: EpochLog -> unit) : InductiveTrainResult<'P> =
        trainWith bceLoss cfg spec data onEpoch
