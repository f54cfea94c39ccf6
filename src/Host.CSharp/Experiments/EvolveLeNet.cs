using System.Diagnostics;
using System.Globalization;
using GcnKd.Evolution;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>LeNet-5 on MNIST for `gcnkd evolve`: the full network trained once (seed 0; epoch chosen on a fixed
/// 5,000-image validation carve) or loaded, fitness on a seeded subset of training images, fine-tuning through
/// <c>LeNetEvolution.fineTune</c>.</summary>
public sealed class LeNetModel : EvolveCommand.IPruningModel
{
    readonly EvolutionSettings settings;
    readonly LeNetConfig cfg = LeNet.config;
    readonly LeNetParams full;
    readonly ImageSet set;
    readonly int[] train, val, test;

    LeNetModel(EvolutionSettings settings, LeNetParams full, double fullTest, ImageSet set, int[] train, int[] val, int[] test)
    {
        this.settings = settings;
        this.full = full;
        FullTest = fullTest;
        this.set = set;
        this.train = train;
        this.val = val;
        this.test = test;
    }

    public string Name => "LeNet-5";
    public string Dataset => "MNIST";
    public PrunableStructure Structure => LeNetPruning.structure(cfg);
    public ModelCost FullCost => ModelCostModule.lenet(cfg);
    public double FullTest { get; }

    static FSharpFunc<LeNetParams, FSharpFunc<ForwardContext, FSharpFunc<Tensor, ModelOutput>>> Fwd(LeNetConfig c) =>
        FuncConvert.FromFunc<LeNetParams, ForwardContext, Tensor, ModelOutput>((p, _, x) => LeNet.forward(c, p, x));

    public static EvolutionSettings Settings(GcnKd.Cli.EvolveCliOptions o)
    {
        var d = LeNetEvolution.defaults;
        var g = d.Genetic;
        var genetic = new GeneticConfig(OptionModule.IsSome(o.Population) ? o.Population.Value : g.Population,
            OptionModule.IsSome(o.Generations) ? o.Generations.Value : g.Generations, g.PCopy, g.PCrossover, g.Elites, g.InitKeep, o.Seed);
        var train = OptionModule.IsSome(o.Epochs) ? With(d.Train, o.Epochs.Value, d.Train.Seed) : d.Train;
        var fine = OptionModule.IsSome(o.FineTuneEpochs) ? With(d.FineTune, o.FineTuneEpochs.Value, d.FineTune.Seed) : d.FineTune;
        var kd = OptionModule.IsSome(o.KdTemperature) ? FSharpOption<Tuple<float, float>>.Some(Tuple.Create(o.KdTemperature.Value, 0.5f)) : d.Kd;
        return new EvolutionSettings(genetic, OptionModule.IsSome(o.Form) ? o.Form.Value : d.Form,
            OptionModule.IsSome(o.Subset) ? o.Subset.Value : d.SubsetSize, d.ValidationSize, train, fine, kd);
    }

    static ImageTrainConfig With(ImageTrainConfig c, int epochs, int seed) =>
        new(epochs, c.BatchSize, c.EvalBatchSize, c.Lr, c.WeightDecay, c.Schedule, c.Patience, seed);

    /// <summary>MNIST's 60,000 training images followed by its 10,000 test images, with the three index sets.</summary>
    public static (ImageSet Set, int[] Train, int[] Val, int[] Test) LoadMnist(DataRoot root, EvolutionSettings settings, int? trainSize)
    {
        var tr = Mnist.Load(root, "train");
        var te = Mnist.Load(root, "t10k");
        var set = new ImageSet(tr.Pixels.Concat(te.Pixels).ToArray(), tr.Labels.Concat(te.Labels).ToArray(), 1, tr.Rows, tr.Cols);
        var (train, val) = LeNetEvolution.split(tr.Count, Math.Min(settings.ValidationSize, tr.Count / 10)).ToValueTuple();
        if (trainSize is { } n)
        {
            train = train.Take(n).ToArray();
            val = val.Take(Math.Max(1, n / 10)).ToArray();
        }
        var test = Enumerable.Range(tr.Count, te.Count).ToArray();
        return (set, train, val, test);
    }

    public static LeNetModel Create(GcnKd.Cli.EvolveCliOptions o, DataRoot root, RunDirectory dir, TextWriter progress)
    {
        var settings = Settings(o);
        int? trainSize = OptionModule.IsSome(o.TrainSize) ? o.TrainSize.Value : null;
        var (set, train, val, test) = LoadMnist(root, settings, trainSize);
        var cfg = LeNet.config;
        progress.WriteLine($"  MNIST: {train.Length} training / {val.Length} validation / {test.Length} test images; fitness on {Math.Min(settings.SubsetSize, train.Length)} training images");
        var fullDir = dir.Sub("full");
        var fullPath = Path.Combine(fullDir.Path, "model.safetensors");
        string? teacher = OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : o.Resume && File.Exists(fullPath) ? fullPath : null;
        if (teacher is not null)
        {
            var loaded = CheckpointFile.LoadTree(teacher, LeNet.init(cfg, RngModule.create(0))).Tree;
            var test0 = ImageTrainer.evaluate(Fwd(cfg), loaded, settings.Train.EvalBatchSize, set, test).Item2;
            progress.WriteLine($"  full LeNet from {teacher}: test accuracy {100 * test0:F2} %");
            return new LeNetModel(settings, loaded, test0, set, train, val, test);
        }
        var sw = Stopwatch.StartNew();
        var loss = FuncConvert.FromFunc<ImageBatch, LeNetParams, ModelOutput, Tensor>((b, p, output) => ImageTrainer.crossEntropy(b, p, output));
        var r = ImageTrainer.trainFrom(loss, settings.Train, Fwd(cfg), LeNet.init(cfg, RngModule.create(0)), set, train, val, test,
            EvolveCommand.Log(progress, "full", settings.Train.Epochs, sw));
        CheckpointFile.SaveTree(fullPath, r.Params, new Dictionary<string, string> { ["model"] = "LeNet-5", ["best_epoch"] = r.BestEpoch.ToString(CultureInfo.InvariantCulture) });
        EvolveCommand.WriteFull(fullDir, "LeNet-5", r.BestEpoch, r.ValAccuracy, r.TestAccuracy, Tree.count(r.Params), r.Log);
        progress.WriteLine($"  full LeNet: test accuracy {100 * r.TestAccuracy:F2} % (epoch {r.BestEpoch} chosen on validation)");
        return new LeNetModel(settings, r.Params, r.TestAccuracy, set, train, val, test);
    }

    public Func<bool[][], double[]> Evaluator(FitnessForm form, int seed)
    {
        var target = LeNetEvolution.target(cfg, full, set, Fitness.subset(train, settings.SubsetSize, seed));
        return masks => Fitness.evaluator(form, target, masks);
    }

    public bool[] L1(int[] counts) => MaskBaselines.l1(Structure, full, counts);

    public EvolveCommand.SeedMethod FineTune(string method, bool[] mask, int seed, RunDirectory md, TextWriter progress)
    {
        var r = LeNetEvolution.fineTune(settings, cfg, full, seed, method, mask, set, train, val, test,
            EvolveCommand.Log(progress, $"seed {seed} {method}", settings.FineTune.Epochs, Stopwatch.StartNew()));
        return EvolveCommand.SaveThin(r, Name, md);
    }

    public (Action, Action) ThinPasses(RunDirectory md, int[] counts)
    {
        var thinCfg = LeNetPruning.resize(cfg, counts);
        var thin = CheckpointFile.LoadTree(Path.Combine(md.Path, "model.safetensors"), LeNet.init(thinCfg, RngModule.create(0))).Tree;
        var one = Batch(1);
        var many = Batch(256);
        return (() => LeNet.forward(thinCfg, thin, one), () => LeNet.forward(thinCfg, thin, many));
    }

    Tensor Batch(int n) => ImageSetModule.batch(set, test.Take(n).ToArray()).Images;

    public Action FullBatch1 { get { var one = Batch(1); return () => LeNet.forward(cfg, full, one); } }
    public Action FullBatchLarge { get { var many = Batch(256); return () => LeNet.forward(cfg, full, many); } }
}
