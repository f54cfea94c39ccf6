/// Full-batch training of a node classifier on one graph (Planetoid protocol): train on the training nodes, select
/// the epoch by validation accuracy, report test accuracy of that selected model only.
namespace GcnKd.Train

open GcnKd

/// A node model as the trainer sees it: the graph and features are captured by `Forward`.
type NodeSpec<'P> =
    { Init: Rng -> 'P
      Forward: 'P -> ForwardContext -> ModelOutput }

type NodeTrainConfig =
    { Epochs: int
      Lr: float32
      WeightDecay: float32
      /// Stop after this many epochs without a better validation accuracy (0: run all epochs).
      Patience: int
      Seed: int }

type NodeTrainResult<'P> =
    { Params: 'P
      BestEpoch: int
      ValAccuracy: float
      TestAccuracy: float
      Log: EpochLog[] }

[<RequireQualifiedAccess>]
module NodeTrainer =
    let private pick (idx: int[]) (labels: int[]) = idx |> Array.map (fun i -> labels.[i])

    /// Loss and accuracy of logits restricted to a node set.
    let evaluate (logits: Tensor) (labels: int[]) (nodes: int[]) =
        let l = Sparse.gatherRows nodes logits
        let y = pick nodes labels
        float (Loss.crossEntropy l y).Item0, Loss.accuracy l y

    /// One full-batch training step: forward in training mode with `key`, cross-entropy on the training nodes,
    /// backward, an optimiser step. Returns the loss, the training nodes' logits and the new parameters and state.
    let step (opt: OptimizerConfig) (lr: float32) (forward: 'P -> ForwardContext -> ModelOutput) (trainNodes: int[]) (yTrain: int[])
             (key: Rng) (p: 'P) (state: OptState<'P>) =
        let loss, g, trainLogits =
            Autodiff.valueAndGradAux (fun q ->
                let out = forward q (ForwardContext.Train key)
                let l = Sparse.gatherRows trainNodes out.Logits
                Loss.crossEntropy l yTrain, l) p
        let np, ns = Optim.step opt lr state p g
        loss, trainLogits, np, ns

    let train (cfg: NodeTrainConfig) (spec: NodeSpec<'P>) (labels: int[]) (trainNodes: int[]) (valNodes: int[]) (testNodes: int[])
              (onEpoch: EpochLog -> unit) : NodeTrainResult<'P> =
        if cfg.Epochs < 1 then invalidArg "Epochs" "at least one epoch is needed"
        let root = Rng.create cfg.Seed
        let initKey, epochKeys = let a, b = Rng.split root in a, Rng.splitN cfg.Epochs b
        let opt = Optim.adam cfg.WeightDecay
        let yTrain = pick trainNodes labels
        let mutable p = spec.Init initKey
        let mutable state = Optim.init opt p
        let mutable sel = Selection.empty
        let log = ResizeArray()
        let mutable epoch = 0
        while epoch < cfg.Epochs && not (Selection.shouldStop cfg.Patience sel) do
            let loss, trainLogits, np, ns = step opt cfg.Lr spec.Forward trainNodes yTrain epochKeys.[epoch] p state
            p <- np
            state <- ns
            let evalLogits = (spec.Forward p ForwardContext.Eval).Logits
            let valLoss, valAcc = evaluate evalLogits labels valNodes
            let entry =
                { Epoch = epoch; Lr = float cfg.Lr; TrainLoss = float loss; TrainMetric = Loss.accuracy trainLogits yTrain
                  ValLoss = valLoss; ValMetric = valAcc }
            log.Add entry
            onEpoch entry
            let current = p
            sel <- Selection.offer entry (fun () -> current) sel
            epoch <- epoch + 1
        let best = sel.Best.Value
        let _, testAcc = evaluate (spec.Forward best ForwardContext.Eval).Logits labels testNodes
        { Params = best; BestEpoch = sel.BestEpoch; ValAccuracy = sel.BestMetric; TestAccuracy = testAcc; Log = log.ToArray() }
