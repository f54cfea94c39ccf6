/// Evolutionary compression of a GIN graph classifier (GIN5_64: 4 GIN layers of width 64, sum readout over every
/// layer): the GA removes hidden MLP units and output channels per layer on a fixed subset of training graphs, the
/// thin GIN (batch-norm running statistics thinned with their channels) is fine-tuned with KD from the full
/// network, and the L1-norm and random masks with the GA's kept counts get the same fine-tuning. Epochs are
/// selected on a validation part carved from the training part; the test part scores each selected network once.
namespace GcnKd.Train

open GcnKd
open GcnKd.Evolution

type GinEvolutionSettings =
    { Genetic: GeneticConfig
      Form: FitnessForm
      /// Training graphs the fitness is measured on.
      SubsetSize: int
      /// Training of the full network (the teachers table's GIN preset).
      Train: GraphTrainConfig
      FineTune: GraphTrainConfig
      /// KD from the full network while fine-tuning: (temperature, alpha); None trains on the labels alone.
      Kd: (float32 * float32) option }

[<RequireQualifiedAccess>]
module GinEvolution =
    /// The teachers table's GIN (Xu et al.'s GIN-0, width 64, 5 layers, sum readout, dropout 0.5 on the heads).
    let config (data: GraphDataset) = Gin.config data.NumFeatures data.NumClasses

    /// The released GA schedule, accuracy minus FLOPs and parameter penalties on 300 training graphs, 100
    /// fine-tuning epochs with KD (T = 4, alpha 0.5) from the full network at a tenth of the training rate.
    let defaults =
        let train = Registry.graphPreset "gin"
        { Genetic = Genetic.released
          Form = AccuracyCost(0.2, 0.2)
          SubsetSize = 300
          Train = train
          FineTune = { train with Epochs = 100; Lr = 0.001f; Schedule = Step(50, 0.5f) }
          Kd = Some (4.0f, 0.5f) }

    /// The trainer's view of a fresh GIN (random initialisation).
    let freshSpec (cfg: GinConfig) : GraphSpec<GinParams, GinState> =
        { Init = Gin.init cfg; InitState = (fun () -> Gin.initState cfg); Forward = fun p s ctx b x -> Gin.forward cfg p s ctx b x }

    /// The trainer's view of a GIN starting from given parameters and statistics (a thin network to fine-tune).
    let spec (cfg: GinConfig) (init: GinParams) (initState: GinState) : GraphSpec<GinParams, GinState> =
        { freshSpec cfg with Init = (fun _ -> init); InitState = (fun () -> initState) }

    /// The mean graph of the dataset's graphs `idx` (nodes, stored adjacency entries): the cost model's input.
    let meanGraph (data: GraphDataset) (idx: int[]) =
        let n = idx |> Array.averageBy (fun i -> float data.Graphs.[i].Adj.Rows)
        let e = idx |> Array.averageBy (fun i -> float (Csr.nnz data.Graphs.[i].Adj))
        { Nodes = int (round n); Edges = int (round e); Graphs = 1 }

    /// What the search optimises: the trained (params, state) tree; thin candidates scored in eval mode on the subset.
    let target (cfg: GinConfig) (full: GinParams * GinState) (data: GraphDataset) (subsetIdx: int[]) (size: GraphSize) : PruningTarget<GinParams * GinState> =
        let batches = GraphTrainer.chunks 256 subsetIdx |> Array.map (GraphTrainer.prepare data.Graphs)
        { Structure = GinPruning.structure cfg
          Full = full
          Score = fun counts (p, s) ->
              GraphTrainer.evaluate (spec (GinPruning.resize cfg counts) p s) p s batches
          Cost = fun counts -> ModelCost.gin size (GinPruning.resize cfg counts) }

    /// Fine-tune a thin GIN from its kept weights and statistics with the fine-tuning settings and `seed`; with KD the full network's logits (eval mode) on
    /// each batch are the soft targets.
    let fineTune (settings: GinEvolutionSettings) (cfg: GinConfig) (full: GinParams * GinState) (size: GraphSize) (seed: int) (methodName: string) (mask: bool[])
                 (data: GraphDataset) (trainIdx: int[]) (valIdx: int[]) (testIdx: int[]) (onEpoch: EpochLog -> unit) : PrunedOutcome<GinConfig, GinParams * GinState> =
        let s = GinPruning.structure cfg
        let counts = Prunable.keptCounts s mask
        let thinCfg = GinPruning.resize cfg counts
        let thinP, thinS = Thinning.thin s mask full
        let fullP, fullS = full
        let loss =
            match settings.Kd with
            | None -> fun _ (b: PreparedBatch) _ (out: ModelOutput) -> Loss.crossEntropy out.Logits b.Labels
            | Some (t, alpha) ->
                fun _ (b: PreparedBatch) _ (out: ModelOutput) ->
                    let teacher = (fst (Gin.forward cfg fullP fullS ForwardContext.Eval b.Batch b.Features)).Logits
                    Kd.withCrossEntropy alpha t teacher out.Logits b.Labels
        let sp = spec thinCfg thinP thinS
        let testBatches = GraphTrainer.chunks settings.FineTune.EvalBatchSize testIdx |> Array.map (GraphTrainer.prepare data.Graphs)
        let _, before = GraphTrainer.evaluate sp thinP thinS testBatches
        let r = GraphTrainer.trainWith loss { settings.FineTune with Seed = seed } sp data.Graphs trainIdx valIdx testIdx onEpoch
        { Method = methodName; Mask = mask; Counts = counts; Config = thinCfg; Cost = ModelCost.gin size thinCfg
          TestBefore = before; ValAfter = r.ValAccuracy; TestAfter = r.TestAccuracy; BestEpoch = r.BestEpoch
          Params = (r.Params, r.State); Log = r.Log }
