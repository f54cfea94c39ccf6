using System.Diagnostics;
using System.Globalization;
using GcnKd.Evolution;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>GIN5_64 on a graph classification dataset for `gcnkd evolve --model gin`: one of the standard 10 folds
/// is the test part, a stratified 10 % validation part is carved from the rest (the teachers table's carve); the full
/// GIN is trained there (seed 0, the teachers table's preset and selection on validation loss) or loaded; fitness on
/// a seeded subset of training graphs; fine-tuning with KD through <c>GinEvolution.fineTune</c>.</summary>
public sealed class GinModel : EvolveCommand.IPruningModel
{
    readonly GinEvolutionSettings settings;
    readonly GinConfig cfg;
    readonly Tuple<GinParams, GinState> full;
    readonly GraphDataset data;
    readonly int[] train, val, test;
    readonly GraphSize size;

    GinModel(GinEvolutionSettings settings, GinConfig cfg, Tuple<GinParams, GinState> full, double fullTest, GraphDataset data, int[] train, int[] val, int[] test)
    {
        this.settings = settings;
        this.cfg = cfg;
        this.full = full;
        FullTest = fullTest;
        this.data = data;
        this.train = train;
        this.val = val;
        this.test = test;
        size = GinEvolution.meanGraph(data, train);
    }

    public string Name => "GIN5_64";
    public string Dataset => data.Name;
    public PrunableStructure Structure => GinPruning.structure(cfg);
    public ModelCost FullCost => ModelCostModule.gin(size, cfg);
    public double FullTest { get; }

    public static GinEvolutionSettings Settings(GcnKd.Cli.EvolveCliOptions o)
    {
        var d = GinEvolution.defaults;
        GraphTrainConfig With(GraphTrainConfig c, int epochs) =>
            new(epochs, c.BatchSize, c.EvalBatchSize, c.Lr, c.WeightDecay, c.Schedule, c.Patience, c.SelectBy, c.Seed);
        var kd = OptionModule.IsSome(o.KdTemperature) ? FSharpOption<Tuple<float, float>>.Some(Tuple.Create(o.KdTemperature.Value, 0.5f)) : d.Kd;
        return new GinEvolutionSettings(d.Genetic, OptionModule.IsSome(o.Form) ? o.Form.Value : d.Form,
            OptionModule.IsSome(o.Subset) ? o.Subset.Value : d.SubsetSize,
            OptionModule.IsSome(o.Epochs) ? With(d.Train, o.Epochs.Value) : d.Train,
            OptionModule.IsSome(o.FineTuneEpochs) ? With(d.FineTune, o.FineTuneEpochs.Value) : d.FineTune, kd);
    }

    public static GinModel Create(GcnKd.Cli.EvolveCliOptions o, DataRoot root, RunDirectory dir, TextWriter progress)
    {
        string dataset = DatasetCatalog.Canonical(OptionModule.IsSome(o.Dataset) ? o.Dataset.Value : "PROTEINS");
        if (!DatasetCatalog.GraphDatasets.Contains(dataset))
            throw new GcnKdUserError($"evolve --model gin runs on the graph classification datasets ({string.Join(", ", DatasetCatalog.GraphDatasets)}); {dataset} is not one of them");
        var data = DatasetCatalog.LoadGraph(root, dataset);
        if (OptionModule.IsNone(data.Folds))
            throw new GcnKdUserError($"{dataset} has no standard 10-fold split in the data root (10fold_idx); evolve --model gin needs one");
        int fold = OptionModule.IsSome(o.Fold) ? o.Fold.Value : 1;
        var testIdx = data.Folds.Value[fold - 1];
        var rest = Enumerable.Range(0, data.Graphs.Length).Except(testIdx).ToArray();
        var labels = data.Graphs.Select(g => g.Label).ToArray();
        var (train, val) = Splits.carveValidation(RngModule.create(1000003), 0.1, labels, rest).ToValueTuple();
        if (OptionModule.IsSome(o.TrainSize)) train = train.Take(o.TrainSize.Value).ToArray();
        var settings = Settings(o);
        var cfg = GinEvolution.config(data);
        progress.WriteLine($"  {dataset} fold {fold}: {train.Length} training / {val.Length} validation / {testIdx.Length} test graphs; fitness on {Math.Min(settings.SubsetSize, train.Length)} training graphs");
        var fullDir = dir.Sub("full");
        var fullPath = Path.Combine(fullDir.Path, "model.safetensors");
        string? teacher = OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : o.Resume && File.Exists(fullPath) ? fullPath : null;
        var template = Tuple.Create(Gin.init(cfg, RngModule.create(0)), Gin.initState(cfg));
        if (teacher is not null)
        {
            var loaded = CheckpointFile.LoadTree(teacher, template).Tree;
            var batches = GraphTrainer.chunks(256, testIdx).Select(idx => GraphTrainer.prepare(data.Graphs, idx)).ToArray();
            var test0 = GraphTrainer.evaluate(GinEvolution.spec(cfg, loaded.Item1, loaded.Item2), loaded.Item1, loaded.Item2, batches).Item2;
            progress.WriteLine($"  full GIN from {teacher}: test accuracy {100 * test0:F2} %");
            return new GinModel(settings, cfg, loaded, test0, data, train, val, testIdx);
        }
        var sw = Stopwatch.StartNew();
        var r = GraphTrainer.train(settings.Train, GinEvolution.freshSpec(cfg), data.Graphs, train, val, testIdx, EvolveCommand.Log(progress, "full", settings.Train.Epochs, sw));
        var trained = Tuple.Create(r.Params, r.State);
        CheckpointFile.SaveTree(fullPath, trained, new Dictionary<string, string> { ["model"] = "GIN5_64", ["dataset"] = dataset, ["fold"] = fold.ToString(CultureInfo.InvariantCulture) });
        EvolveCommand.WriteFull(fullDir, "GIN5_64", r.BestEpoch, r.ValAccuracy, r.TestAccuracy, Tree.count(r.Params), r.Log);
        progress.WriteLine($"  full GIN: test accuracy {100 * r.TestAccuracy:F2} % (epoch {r.BestEpoch} chosen on validation loss)");
        return new GinModel(settings, cfg, trained, r.TestAccuracy, data, train, val, testIdx);
    }

    public Func<bool[][], double[]> Evaluator(FitnessForm form, int seed)
    {
        var target = GinEvolution.target(cfg, full.Item1, full.Item2, data, Fitness.subset(train, settings.SubsetSize, seed), size);
        return masks => Fitness.evaluator(form, target, masks);
    }

    public bool[] L1(int[] counts) => MaskBaselines.l1(Structure, full, counts);

    public EvolveCommand.SeedMethod FineTune(string method, bool[] mask, int seed, RunDirectory md, TextWriter progress)
    {
        var r = GinEvolution.fineTune(settings, cfg, full.Item1, full.Item2, size, seed, method, mask, data, train, val, test,
            EvolveCommand.Log(progress, $"seed {seed} {method}", settings.FineTune.Epochs, Stopwatch.StartNew()));
        return EvolveCommand.SaveThin(r, Name, md);
    }

    public (Action, Action) ThinPasses(RunDirectory md, int[] counts)
    {
        var thinCfg = GinPruning.resize(cfg, counts);
        var template = Tuple.Create(Gin.init(thinCfg, RngModule.create(0)), Gin.initState(thinCfg));
        var (p, s) = CheckpointFile.LoadTree(Path.Combine(md.Path, "model.safetensors"), template).Tree;
        var one = Batch(1);
        var many = Batch(256);
        return (() => Gin.forward(thinCfg, p, s, ForwardContext.Eval, one.Batch, one.Features), () => Gin.forward(thinCfg, p, s, ForwardContext.Eval, many.Batch, many.Features));
    }

    PreparedBatch Batch(int n) => GraphTrainer.prepare(data.Graphs, test.Concat(train).Take(n).ToArray());

    public Action FullBatch1 { get { var one = Batch(1); return () => Gin.forward(cfg, full.Item1, full.Item2, ForwardContext.Eval, one.Batch, one.Features); } }
    public Action FullBatchLarge { get { var many = Batch(256); return () => Gin.forward(cfg, full.Item1, full.Item2, ForwardContext.Eval, many.Batch, many.Features); } }
}
