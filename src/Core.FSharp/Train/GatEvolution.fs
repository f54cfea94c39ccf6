/// Evolutionary compression of a GAT node classifier (the paper's Cora model, 8 heads x 8 channels): the GA removes
/// attention heads and channels of the hidden layer, scored on the training nodes (transductive: one pass over the
/// whole graph, no fine-tuning), and the thin GAT is fine-tuned from the kept weights with KD or LSP from the full
/// network; the L1-norm and random masks with the GA's kept counts get the same fine-tuning. Epochs are selected on
/// the validation nodes; the test nodes score each selected network once.
namespace GcnKd.Train

open GcnKd
open GcnKd.Evolution

type GatEvolutionSettings =
    { Genetic: GeneticConfig
      Form: FitnessForm
      /// Training of the full network (the teachers table's GAT preset).
      Train: NodeTrainConfig
      FineTune: NodeTrainConfig
      /// KD (or LSP, or the labels alone) from the full network while fine-tuning, with its layer pairs.
      Method: DistillMethod
      Options: DistillOptions }

[<RequireQualifiedAccess>]
module GatEvolution =
    /// The paper's Cora / CiteSeer GAT (8 heads x 8, one averaged output head, dropout 0.6).
    let config (data: NodeDataset) = Gat.cora data.Features.Shape.[1] data.NumClasses

    /// LSP on the last hidden layers (rbf-auto, lambda 1, every epoch) when the fine-tuning method is LSP.
    let lspOptions = { Pairs = [ { TeacherLayer = 0; StudentLayer = 0 } ]; Lambda = 1.0f; Schedule = DistillSchedule.Always }

    /// The released GA schedule, accuracy minus FLOPs and parameter penalties on the training nodes, fine-tuning
    /// with KD (T = 4, alpha 0.5) for up to 300 epochs (patience 100) at the GAT preset's rate.
    let defaults =
        let train = Registry.nodePreset "gat"
        { Genetic = Genetic.released
          Form = AccuracyCost(0.2, 0.2)
          Train = train
          FineTune = { train with Epochs = 300 }
          Method = DistillMethod.defaultKd
          Options = lspOptions }

    let size (data: NodeDataset) = { Nodes = data.Labels.Length; Edges = Csr.nnz (Gat.prepare data.Adj); Graphs = 1 }

    /// What the search optimises: the trained GAT; thin candidates scored in eval mode on the training nodes.
    let target (cfg: GatConfig) (full: GatParams) (data: NodeDataset) : PruningTarget<GatParams> =
        let adj = Gat.prepare data.Adj
        let g = size data
        { Structure = GatPruning.structure cfg
          Full = full
          Score = fun counts p ->
              NodeTrainer.evaluate (Gat.forward (GatPruning.resize cfg counts) p ForwardContext.Eval adj data.Features).Logits data.Labels data.Train
          Cost = fun counts -> ModelCost.gat g (GatPruning.resize cfg counts) }

    /// Fine-tune a thin GAT from its kept weights (the fine-tuning settings, `seed`) against the full network's
    /// outputs (computed once, eval mode).
    let fineTune (settings: GatEvolutionSettings) (cfg: GatConfig) (full: GatParams) (seed: int) (methodName: string) (mask: bool[])
                 (data: NodeDataset) (onEpoch: EpochLog -> unit) : PrunedOutcome<GatConfig, GatParams> =
        let s = GatPruning.structure cfg
        let counts = Prunable.keptCounts s mask
        let thinCfg = GatPruning.resize cfg counts
        let thin = Thinning.thin s mask full
        let adj = Gat.prepare data.Adj
        let teacher = Gat.forward cfg full ForwardContext.Eval adj data.Features
        let spec = { NodeSpec.Init = (fun _ -> thin); Forward = fun p ctx -> Gat.forward thinCfg p ctx adj data.Features }
        let _, before = NodeTrainer.evaluate (spec.Forward thin ForwardContext.Eval).Logits data.Labels data.Test
        let r = DistillTrainer.train { Train = { settings.FineTune with Seed = seed }; Method = settings.Method; Options = settings.Options } spec
                    (Graph.removeSelfLoops data.Adj) teacher data.Labels data.Train data.Val data.Test onEpoch
        { Method = methodName; Mask = mask; Counts = counts; Config = thinCfg; Cost = ModelCost.gat (size data) thinCfg
          TestBefore = before; ValAfter = r.Result.ValAccuracy; TestAfter = r.Result.TestAccuracy; BestEpoch = r.Result.BestEpoch
          Params = r.Result.Params; Log = r.Result.Log }
