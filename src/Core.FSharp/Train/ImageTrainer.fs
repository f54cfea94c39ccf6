/// Mini-batch training of an image classifier (LeNet on MNIST) on a train / validation / test partition: the epoch
/// is selected on validation accuracy and the selected model alone is scored on the test part. Training can start
/// from given parameters (fine-tuning a thinned network) and take a custom objective (KD from a frozen teacher).
namespace GcnKd.Train

open GcnKd

/// Images stored row-major, image after image: `Pixels.[i * C * H * W ..]` is image i.
type ImageSet =
    { Pixels: float32[]
      Labels: int[]
      Channels: int
      Height: int
      Width: int }

/// A batch ready for the model: images [n, C, H, W] and labels, with their indices in the set.
type ImageBatch = { Images: Tensor; Labels: int[]; Indices: int[] }

type ImageTrainConfig =
    { Epochs: int
      BatchSize: int
      /// Images per evaluation batch: only memory and speed depend on it.
      EvalBatchSize: int
      Lr: float32
      WeightDecay: float32
      Schedule: Schedule
      /// Epochs without a better validation accuracy before stopping (0: never).
      Patience: int
      Seed: int }

/// What image training returns: the node trainer's result record (selected parameters, epoch, accuracies, log).
type ImageTrainResult<'P> = NodeTrainResult<'P>

[<RequireQualifiedAccess>]
module ImageSet =
    let imageSize (s: ImageSet) = s.Channels * s.Height * s.Width

    let count (s: ImageSet) = s.Labels.Length

    /// Check that pixels and labels agree in count.
    let validate (s: ImageSet) =
        if s.Channels < 1 || s.Height < 1 || s.Width < 1 then
            invalidArg "set" (sprintf "ImageSet: images must have positive sizes, got %d x %d x %d" s.Channels s.Height s.Width)
        if s.Pixels.Length <> imageSize s * s.Labels.Length then
            invalidArg "set" (sprintf "ImageSet: %d pixels for %d images of %d x %d x %d" s.Pixels.Length s.Labels.Length s.Channels s.Height s.Width)

    /// The images `idx` as one batch.
    let batch (s: ImageSet) (idx: int[]) : ImageBatch =
        let size = imageSize s
        let data = Array.zeroCreate (idx.Length * size)
        idx |> Array.iteri (fun j i -> Array.blit s.Pixels (i * size) data (j * size) size)
        { Images = Tensor.ofArray [| idx.Length; s.Channels; s.Height; s.Width |] data
          Labels = idx |> Array.map (fun i -> s.Labels.[i])
          Indices = idx }

[<RequireQualifiedAccess>]
module ImageTrainer =
    /// Logits of a model (eval mode) on images `idx`, in batches.
    let predict (forward: 'P -> ForwardContext -> Tensor -> ModelOutput) (p: 'P) (evalBatch: int) (set: ImageSet) (idx: int[]) : Tensor =
        let parts = idx |> Array.chunkBySize (max 1 evalBatch) |> Array.map (fun c -> (forward p ForwardContext.Eval (ImageSet.batch set c).Images).Logits)
        if parts.Length = 0 then Tensor.zeros [| 0; 0 |] else Reshape.concat 0 parts

    /// Cross-entropy and accuracy (a fraction) of a model on images `idx`; NaN for no images.
    let evaluate (forward: 'P -> ForwardContext -> Tensor -> ModelOutput) (p: 'P) (evalBatch: int) (set: ImageSet) (idx: int[]) =
        if idx.Length = 0 then nan, nan
        else
            let mutable loss = 0.0
            let mutable correct = 0.0
            for c in idx |> Array.chunkBySize (max 1 evalBatch) do
                let b = ImageSet.batch set c
                let logits = (forward p ForwardContext.Eval b.Images).Logits
                loss <- loss + float (Loss.crossEntropy logits b.Labels).Item0 * float c.Length
                correct <- correct + Loss.accuracy logits b.Labels * float c.Length
            loss / float idx.Length, correct / float idx.Length

    /// Train from `init` on objective `loss batch params output` (validation and test scored by cross-entropy and
    /// accuracy): Adam, the learning-rate schedule per epoch, selection on validation accuracy.
    let trainFrom (loss: ImageBatch -> 'P -> ModelOutput -> Tensor) (cfg: ImageTrainConfig) (forward: 'P -> ForwardContext -> Tensor -> ModelOutput)
                  (init: 'P) (set: ImageSet) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit) : ImageTrainResult<'P> =
        ImageSet.validate set
        if cfg.Epochs < 1 then invalidArg "Epochs" "at least one epoch is needed"
        if trainIdx.Length = 0 then invalidArg "trainIdx" "the training part is empty"
        let keys = Rng.splitN (2 * cfg.Epochs) (Rng.create cfg.Seed)
        let opt = Optim.adam cfg.WeightDecay
        let mutable p = init
        let mutable opState = Optim.init opt p
        let mutable sel: Selection<'P> = Selection.empty
        let log = ResizeArray()
        let mutable epoch = 0
        while epoch < cfg.Epochs && not (Selection.shouldStop cfg.Patience sel) do
            let lr = Schedule.lr cfg.Schedule cfg.Lr epoch
            let order = Rng.permutation trainIdx.Length keys.[2 * epoch] |> Array.map (fun i -> trainIdx.[i])
            let batches = order |> Array.chunkBySize (max 1 cfg.BatchSize)
            let batchKeys = Rng.splitN batches.Length keys.[2 * epoch + 1]
            let mutable lossSum = 0.0
            let mutable correct = 0.0
            for bi, idx in Array.indexed batches do
                let b = ImageSet.batch set idx
                let value, g, logits =
                    Autodiff.valueAndGradAux (fun q ->
                        let out = forward q (ForwardContext.Train batchKeys.[bi]) b.Images
                        loss b q out, out.Logits) p
                let np, nst = Optim.step opt lr opState p g
                p <- np
                opState <- nst
                lossSum <- lossSum + float value * float idx.Length
                correct <- correct + Loss.accuracy logits b.Labels * float idx.Length
            let valLoss, valAcc = evaluate forward p cfg.EvalBatchSize set valIdx
            let entry =
                { Epoch = epoch; Lr = float lr; TrainLoss = lossSum / float order.Length; TrainMetric = correct / float order.Length
                  ValLoss = valLoss; ValMetric = valAcc }
            log.Add entry
            onEpoch entry
            let current = p
            sel <- if valIdx.Length = 0 then { Selection.offer { entry with ValMetric = float epoch; ValLoss = 0.0 } (fun () -> current) sel with SinceBest = 0 }
                   else Selection.offer entry (fun () -> current) sel
            epoch <- epoch + 1
        let best = sel.Best.Value
        let _, testAcc = evaluate forward best cfg.EvalBatchSize set testIdx
        { NodeTrainResult.Params = best; BestEpoch = sel.BestEpoch; ValAccuracy = (if valIdx.Length = 0 then nan else sel.BestMetric)
          TestAccuracy = testAcc; Log = log.ToArray() }

    /// Cross-entropy on the batch's labels.
    let crossEntropy (b: ImageBatch) (_: 'P) (out: ModelOutput) = Loss.crossEntropy out.Logits b.Labels
