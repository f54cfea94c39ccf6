/// Evolutionary compression of LeNet-5 on MNIST end to end (Wang et al., KDD 2018): train the full network, evolve
/// a keep-mask over its filters and hidden units on a fixed training subset, rebuild the thin network from the
/// kept weights and fine-tune it (optionally with KD from the full network); the equal-size baselines (L1-norm and
/// random masks with the GA's kept counts per layer) get the same fine-tuning. Model selection reads the validation
/// part only; the test part scores each selected network once.
namespace GcnKd.Train

open GcnKd
open GcnKd.Evolution

type EvolutionSettings =
    { Genetic: GeneticConfig
      Form: FitnessForm
      /// Training images the fitness is measured on: a fixed random subset of the training part.
      SubsetSize: int
      /// Images held out of the training split for model selection.
      ValidationSize: int
      /// Training of the full network.
      Train: ImageTrainConfig
      /// Fine-tuning of every thin network (the GA's and the baselines').
      FineTune: ImageTrainConfig
      /// KD from the full network while fine-tuning: (temperature, alpha); None trains on the labels alone.
      Kd: (float32 * float32) option }

[<RequireQualifiedAccess>]
module LeNetEvolution =
    /// Adam at 1e-3, halved every 5 epochs, batch 64, 15 epochs, selection on validation accuracy: 99.1-99.2 %
    /// on MNIST's test set for Caffe's LeNet.
    let trainConfig =
        { Epochs = 15; BatchSize = 64; EvalBatchSize = 1000; Lr = 1e-3f; WeightDecay = 0.0f; Schedule = Step(5, 0.5f); Patience = 0; Seed = 0 }

    /// The released GA schedule (32 x 50), accuracy minus FLOPs and parameter penalties on 2,000 training images,
    /// 10 fine-tuning epochs at 5e-4 on the labels.
    let defaults =
        { Genetic = Genetic.released
          Form = AccuracyCost(0.2, 0.2)
          SubsetSize = 2000
          ValidationSize = 5000
          Train = trainConfig
          FineTune = { trainConfig with Epochs = 10; Lr = 5e-4f; Schedule = Step(4, 0.5f) }
          Kd = None }

    /// Training and validation indices of a training set of n images: a fixed random carve (key 0, the same for
    /// every seed), so every run selects on the same images.
    let split (n: int) (validationSize: int) =
        if validationSize < 0 || validationSize >= n then
            invalidArg "validationSize" (sprintf "LeNetEvolution.split: a validation part of %d from %d training images" validationSize n)
        let perm = Rng.permutation n (Rng.create 0)
        Array.sort perm.[validationSize ..], Array.sort perm.[.. validationSize - 1]

    let forward (cfg: LeNetConfig) (p: LeNetParams) (_: ForwardContext) (x: Tensor) = LeNet.forward cfg p x

    /// What the search optimises: the trained network's structure, thin candidates scored on the subset.
    let target (cfg: LeNetConfig) (full: LeNetParams) (set: ImageSet) (subsetIdx: int[]) : PruningTarget<LeNetParams> =
        let batch = ImageSet.batch set subsetIdx
        { Structure = LeNetPruning.structure cfg
          Full = full
          Score = fun counts thin ->
              let logits = (LeNet.forward (LeNetPruning.resize cfg counts) thin batch.Images).Logits
              float (Loss.crossEntropy logits batch.Labels).Item0, Loss.accuracy logits batch.Labels
          Cost = fun counts -> ModelCost.lenet (LeNetPruning.resize cfg counts) }

    /// Fine-tune a thin network from its kept weights with the fine-tuning settings and `seed`; with KD the full
    /// network's logits on each batch are the soft targets.
    let fineTune (settings: EvolutionSettings) (cfg: LeNetConfig) (full: LeNetParams) (seed: int) (methodName: string) (mask: bool[])
                 (set: ImageSet) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit) : PrunedOutcome<LeNetConfig, LeNetParams> =
        let s = LeNetPruning.structure cfg
        let counts = Prunable.keptCounts s mask
        let thinCfg = LeNetPruning.resize cfg counts
        let thin = Thinning.thin s mask full
        let loss =
            match settings.Kd with
            | None -> ImageTrainer.crossEntropy
            | Some (t, alpha) ->
                fun (b: ImageBatch) _ (out: ModelOutput) ->
                    let teacher = (LeNet.forward cfg full b.Images).Logits
                    Kd.withCrossEntropy alpha t teacher out.Logits b.Labels
        let _, before = ImageTrainer.evaluate (forward thinCfg) thin settings.FineTune.EvalBatchSize set testIdx
        let r = ImageTrainer.trainFrom loss { settings.FineTune with Seed = seed } (forward thinCfg) thin set trainIdx valIdx testIdx onEpoch
        { Method = methodName; Mask = mask; Counts = counts; Config = thinCfg; Cost = ModelCost.lenet thinCfg
          TestBefore = before; ValAfter = r.ValAccuracy; TestAfter = r.TestAccuracy; BestEpoch = r.BestEpoch; Params = r.Params; Log = r.Log }
