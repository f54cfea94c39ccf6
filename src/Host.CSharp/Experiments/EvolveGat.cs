using System.Diagnostics;
using System.Globalization;
using GcnKd.Evolution;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>The paper's GAT on a Planetoid dataset for `gcnkd evolve --model gat`: the fixed split; the full GAT is
/// trained there (seed 0, the teachers table's preset, selection on validation accuracy) or loaded; fitness on the
/// training nodes; fine-tuning with KD (or LSP with --lsp) through <c>GatEvolution.fineTune</c>. Inference is
/// transductive, so both timing columns time one pass over the whole graph.</summary>
public sealed class GatModel : EvolveCommand.IPruningModel
{
    readonly GatEvolutionSettings settings;
    readonly GatConfig cfg;
    readonly GatParams full;
    readonly NodeDataset data;
    readonly Csr adj;

    GatModel(GatEvolutionSettings settings, GatConfig cfg, GatParams full, double fullTest, NodeDataset data)
    {
        this.settings = settings;
        this.cfg = cfg;
        this.full = full;
        FullTest = fullTest;
        this.data = data;
        adj = Gat.prepare(data.Adj);
    }

    public string Name => "GAT 8x8";
    public string Dataset => data.Name;
    public PrunableStructure Structure => GatPruning.structure(cfg);
    public ModelCost FullCost => ModelCostModule.gat(GatEvolution.size(data), cfg);
    public double FullTest { get; }

    public static GatEvolutionSettings Settings(GcnKd.Cli.EvolveCliOptions o)
    {
        var d = GatEvolution.defaults;
        NodeTrainConfig With(NodeTrainConfig c, int epochs) => new(epochs, c.Lr, c.WeightDecay, c.Patience, c.Seed);
        var method = o.Lsp ? DistillMethod.NewLsp(LspScore.NewAdaptiveRbf(1f))
            : OptionModule.IsSome(o.KdTemperature) ? DistillMethod.NewKd(o.KdTemperature.Value, 0.5f) : d.Method;
        return new GatEvolutionSettings(d.Genetic, OptionModule.IsSome(o.Form) ? o.Form.Value : d.Form,
            OptionModule.IsSome(o.Epochs) ? With(d.Train, o.Epochs.Value) : d.Train,
            OptionModule.IsSome(o.FineTuneEpochs) ? With(d.FineTune, o.FineTuneEpochs.Value) : d.FineTune, method, d.Options);
    }

    public static GatModel Create(GcnKd.Cli.EvolveCliOptions o, DataRoot root, RunDirectory dir, TextWriter progress)
    {
        string dataset = DatasetCatalog.Canonical(OptionModule.IsSome(o.Dataset) ? o.Dataset.Value : "Cora");
        if (dataset is not ("Cora" or "CiteSeer"))
            throw new GcnKdUserError($"evolve --model gat runs on Cora or CiteSeer (the Planetoid split); got {dataset}");
        var data = DatasetCatalog.LoadNode(root, dataset);
        var settings = Settings(o);
        var cfg = GatEvolution.config(data);
        progress.WriteLine($"  {dataset}: {data.Train.Length} training / {data.Val.Length} validation / {data.Test.Length} test nodes; fitness on the training nodes");
        var fullDir = dir.Sub("full");
        var fullPath = Path.Combine(fullDir.Path, "model.safetensors");
        string? teacher = OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : o.Resume && File.Exists(fullPath) ? fullPath : null;
        var adj = Gat.prepare(data.Adj);
        if (teacher is not null)
        {
            var loaded = CheckpointFile.LoadTree(teacher, Gat.init(cfg, RngModule.create(0))).Tree;
            var test0 = NodeTrainer.evaluate(Gat.forward(cfg, loaded, ForwardContext.Eval, adj, data.Features).Logits, data.Labels, data.Test).Item2;
            progress.WriteLine($"  full GAT from {teacher}: test accuracy {100 * test0:F2} %");
            return new GatModel(settings, cfg, loaded, test0, data);
        }
        var sw = Stopwatch.StartNew();
        var spec = new NodeSpec<GatParams>(FuncConvert.FromFunc<Rng, GatParams>(k => Gat.init(cfg, k)),
            FuncConvert.FromFunc<GatParams, ForwardContext, ModelOutput>((p, ctx) => Gat.forward(cfg, p, ctx, adj, data.Features)));
        var r = NodeTrainer.train(settings.Train, spec, data.Labels, data.Train, data.Val, data.Test, EvolveCommand.Log(progress, "full", settings.Train.Epochs, sw));
        CheckpointFile.SaveTree(fullPath, r.Params, new Dictionary<string, string> { ["model"] = "GAT 8x8", ["dataset"] = dataset });
        EvolveCommand.WriteFull(fullDir, "GAT 8x8", r.BestEpoch, r.ValAccuracy, r.TestAccuracy, Tree.count(r.Params), r.Log);
        progress.WriteLine($"  full GAT: test accuracy {100 * r.TestAccuracy:F2} % (epoch {r.BestEpoch} chosen on validation)");
        return new GatModel(settings, cfg, r.Params, r.TestAccuracy, data);
    }

    public Func<bool[][], double[]> Evaluator(FitnessForm form, int seed)
    {
        var target = GatEvolution.target(cfg, full, data);
        return masks => Fitness.evaluator(form, target, masks);
    }

    public bool[] L1(int[] counts) => MaskBaselines.l1(Structure, full, counts);

    public EvolveCommand.SeedMethod FineTune(string method, bool[] mask, int seed, RunDirectory md, TextWriter progress)
    {
        var r = GatEvolution.fineTune(settings, cfg, full, seed, method, mask, data,
            EvolveCommand.Log(progress, $"seed {seed} {method}", settings.FineTune.Epochs, Stopwatch.StartNew()));
        return EvolveCommand.SaveThin(r, Name, md);
    }

    public (Action, Action) ThinPasses(RunDirectory md, int[] counts)
    {
        var thinCfg = GatPruning.resize(cfg, counts);
        var thin = CheckpointFile.LoadTree(Path.Combine(md.Path, "model.safetensors"), Gat.init(thinCfg, RngModule.create(0))).Tree;
        Action pass = () => Gat.forward(thinCfg, thin, ForwardContext.Eval, adj, data.Features);
        return (pass, pass);
    }

    public Action FullBatch1 => () => Gat.forward(cfg, full, ForwardContext.Eval, adj, data.Features);
    public Action FullBatchLarge => FullBatch1;
}
