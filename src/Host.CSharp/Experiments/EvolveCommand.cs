using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GcnKd.Evolution;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd evolve`: evolutionary compression of LeNet-5 on MNIST (shared/METHODS.md section 3). The full
/// network is trained once (seed 0; epoch chosen on a fixed 5,000-image validation carve of the training set) or
/// loaded; per seed, the GA evolves a keep-mask on a training subset, the thin network is rebuilt from the kept
/// weights and fine-tuned, and the L1-norm and random masks with the GA's kept counts per layer get the same
/// fine-tuning. Writes DIR/full/, per seed DIR/seed-S/ (ga.csv, ga.svg, mask.txt, ga/ l1/ random/ each with
/// model.safetensors, epochs.csv, metrics.json; timing.json) and DIR/config.json, DIR/metrics.json.</summary>
public static class EvolveCommand
{
    public static readonly string[] Methods = ["ga", "l1", "random"];

    /// <summary>One method over the seeds: accuracies (fractions), seed 0's kept counts and costs, and the largest
    /// costs over the seeds (the worst compression).</summary>
    public sealed record MethodSummary(string Method, double TestBefore, double TestBeforeStd, double TestAfter, double TestAfterStd,
        int N, int[] Counts, long Params, long Mults, long MaxParams, long MaxMults);

    public sealed record Summary(double FullTest, long FullParams, long FullMults, IReadOnlyList<MethodSummary> Methods,
        double FullMsBatch1, double ThinMsBatch1, double FullMsBatch256, double ThinMsBatch256, int Seeds);

    public static int Run(GcnKd.Cli.EvolveCliOptions o)
    {
        var s = Execute(o, Console.Out);
        Console.WriteLine($"full LeNet: test accuracy {100 * s.FullTest:F2} %, {s.FullParams} parameters, {s.FullMults} multiplications");
        foreach (var m in s.Methods)
            Console.WriteLine($"{m.Method,-6}: kept {string.Join("-", m.Counts)}, rc {(double)s.FullParams / m.Params:F2}, rs {(double)s.FullMults / m.Mults:F2}, " +
                              $"test {100 * m.TestBefore:F2} before / {100 * m.TestAfter:F2} ± {100 * m.TestAfterStd:F2} after fine-tuning ({m.N} seed(s))");
        Console.WriteLine($"inference, full vs thin (GA): batch 1 {s.FullMsBatch1:F3} vs {s.ThinMsBatch1:F3} ms, batch 256 {s.FullMsBatch256:F2} vs {s.ThinMsBatch256:F2} ms " +
                          $"(speed-up {s.FullMsBatch256 / s.ThinMsBatch256:F2}x at 256)");
        Console.WriteLine($"results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    static string Inv(double v) => v.ToString("R", CultureInfo.InvariantCulture);

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

    static string FormText(FitnessForm f) => f switch
    {
        FitnessForm.AccuracyCost a => $"accuracy - {Inv(a.flops)} * FLOPs ratio - {Inv(a.parameters)} * parameter ratio",
        FitnessForm.InverseLoss i => $"{Inv(i.scale)} / loss + {Inv(i.lambda)} * removed units",
        _ => f.ToString(),
    };

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

    public static Summary Execute(GcnKd.Cli.EvolveCliOptions o, TextWriter progress)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        var settings = Settings(o);
        int? trainSize = OptionModule.IsSome(o.TrainSize) ? o.TrainSize.Value : null;
        var (set, train, val, test) = LoadMnist(root, settings, trainSize);
        var cfg = LeNet.config;
        var dir = new RunDirectory(o.Out);
        progress.WriteLine($"  MNIST: {train.Length} training / {val.Length} validation / {test.Length} test images; fitness on {Math.Min(settings.SubsetSize, train.Length)} training images");
        Func<LeNetParams, ForwardContext, Tensor, ModelOutput> fwd(LeNetConfig c) => (p, ctx, x) => LeNet.forward(c, p, x);

        // the full network: loaded, resumed, or trained with seed 0
        LeNetParams full;
        double fullTest;
        var fullDir = dir.Sub("full");
        var fullPath = Path.Combine(fullDir.Path, "model.safetensors");
        string? teacher = OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : o.Resume && File.Exists(fullPath) ? fullPath : null;
        if (teacher is not null)
        {
            full = CheckpointFile.LoadTree(teacher, LeNet.init(cfg, RngModule.create(0))).Tree;
            fullTest = ImageTrainer.evaluate(Fn(fwd(cfg)), full, settings.Train.EvalBatchSize, set, test).Item2;
            progress.WriteLine($"  full LeNet from {teacher}: test accuracy {100 * fullTest:F2} %");
        }
        else
        {
            var sw = Stopwatch.StartNew();
            var r = ImageTrainer.trainFrom(Fn<ImageBatch, LeNetParams, ModelOutput, Tensor>((b, p, output) => ImageTrainer.crossEntropy(b, p, output)), settings.Train, Fn(fwd(cfg)), LeNet.init(cfg, RngModule.create(0)),
                set, train, val, test, Log(progress, "full", settings.Train.Epochs, sw));
            full = r.Params;
            fullTest = r.TestAccuracy;
            CheckpointFile.SaveTree(fullPath, full, new Dictionary<string, string> { ["model"] = "LeNet-5", ["best_epoch"] = r.BestEpoch.ToString(CultureInfo.InvariantCulture) });
            fullDir.WriteText("epochs.csv", RunDirectory.Csv(r.Log));
            fullDir.WriteJson("metrics.json", w =>
            {
                w.WriteStartObject();
                w.WriteString("model", "LeNet-5");
                w.WriteNumber("best_epoch", r.BestEpoch);
                w.WriteNumber("val_accuracy", r.ValAccuracy);
                w.WriteNumber("test_accuracy", r.TestAccuracy);
                w.WriteNumber("params", Tree.count(full));
                w.WriteEndObject();
            });
            progress.WriteLine($"  full LeNet: test accuracy {100 * fullTest:F2} % (epoch {r.BestEpoch} chosen on validation)");
        }
        var structure = LeNetPruning.structure(cfg);
        var fullCost = ModelCostModule.lenet(cfg);

        var outcomes = new Dictionary<string, List<SeedMethod>>();
        foreach (var m in Methods) outcomes[m] = [];
        var timings = new List<double[]>();
        for (int seed = o.Seed; seed < o.Seed + o.Seeds; seed++)
        {
            var sd = dir.Sub($"seed-{seed}");
            if (o.Resume && ReadSeed(sd) is { } done)
            {
                foreach (var m in Methods) outcomes[m].Add(done.Methods[m]);
                timings.Add(done.Timing);
                progress.WriteLine($"  seed {seed}: finished earlier, kept");
                continue;
            }
            var seedSettings = new EvolutionSettings(
                new GeneticConfig(settings.Genetic.Population, settings.Genetic.Generations, settings.Genetic.PCopy, settings.Genetic.PCrossover,
                    settings.Genetic.Elites, settings.Genetic.InitKeep, seed),
                settings.Form, settings.SubsetSize, settings.ValidationSize, settings.Train, With(settings.FineTune, settings.FineTune.Epochs, seed), settings.Kd);
            var subset = LeNetEvolution.subset(train, settings.SubsetSize, seed);
            var target = LeNetEvolution.target(cfg, full, set, subset);
            var sw = Stopwatch.StartNew();
            var csv = new StringBuilder("generation,best,mean,best_kept,evaluated\n");
            var ga = Genetic.evolve(seedSettings.Genetic, Prunable.length(structure), [],
                Fn<bool[][], double[]>(masks => Fitness.evaluator(seedSettings.Form, target, masks)),
                Fn(st =>
                {
                    csv.Append($"{st.Generation},{Inv(st.Best)},{Inv(st.Mean)},{st.BestKept},{st.Evaluated}\n");
                    var left = sw.Elapsed.TotalSeconds / (st.Generation + 1) * (seedSettings.Genetic.Generations - st.Generation - 1);
                    progress.WriteLine($"  seed {seed} generation {st.Generation + 1,3}/{seedSettings.Genetic.Generations}: best fitness {st.Best:F4}, mean {st.Mean:F4}, " +
                                       $"best keeps {st.BestKept}/{Prunable.length(structure)} units ({st.Evaluated} new, {left:F0} s left)");
                }));
            sd.WriteText("ga.csv", csv.ToString());
            sd.WriteText("ga.svg", GcnKd.Report.SvgPlot.render($"GA fitness, LeNet-5 on MNIST (seed {seed})", "generation", "fitness",
                Microsoft.FSharp.Collections.ListModule.OfSeq(new[]
                {
                    new GcnKd.Report.SvgPlot.Series("best", ga.History.Select(h => Tuple.Create((double)h.Generation, h.Best)).ToArray()),
                    new GcnKd.Report.SvgPlot.Series("mean", ga.History.Select(h => Tuple.Create((double)h.Generation, h.Mean)).ToArray()),
                })));
            var counts = Prunable.keptCounts(structure, ga.Best);
            sd.WriteText("mask.txt", MaskText(structure, ga.Best));
            var masks = new Dictionary<string, bool[]>
            {
                ["ga"] = ga.Best,
                ["l1"] = MaskBaselines.l1(structure, full, counts),
                ["random"] = MaskBaselines.random(structure, counts, RngModule.create(seed + 104729)),
            };
            var results = new Dictionary<string, SeedMethod>();
            LeNetParams? gaThin = null;
            LeNetConfig? gaCfg = null;
            foreach (var m in Methods)
            {
                var msw = Stopwatch.StartNew();
                var r = LeNetEvolution.fineTune(seedSettings, cfg, full, m, masks[m], set, train, val, test, Log(progress, $"seed {seed} {m}", seedSettings.FineTune.Epochs, msw));
                var md = sd.Sub(m);
                CheckpointFile.SaveTree(Path.Combine(md.Path, "model.safetensors"), r.Params, new Dictionary<string, string>
                {
                    ["model"] = "LeNet-5 (thin)", ["kept"] = string.Join(",", r.Counts), ["method"] = m,
                });
                md.WriteText("epochs.csv", RunDirectory.Csv(r.Log));
                var sm = new SeedMethod(r.TestBefore, r.TestAfter, r.ValAfter, r.Counts, r.Cost.Params, r.Cost.Mults);
                md.WriteJson("metrics.json", w => WriteSeedMethod(w, m, seed, r.BestEpoch, sm));
                results[m] = sm;
                outcomes[m].Add(sm);
                progress.WriteLine($"  seed {seed} {m}: kept {string.Join("-", r.Counts)}, test {100 * r.TestBefore:F2} % before, {100 * r.TestAfter:F2} % after fine-tuning");
                if (m == "ga") { gaThin = r.Params; gaCfg = r.Config; }
            }
            var timing = new[]
            {
                MedianMs(() => LeNet.forward(cfg, full, Batch(set, test, 1)), 200), MedianMs(() => LeNet.forward(gaCfg!, gaThin!, Batch(set, test, 1)), 200),
                MedianMs(() => LeNet.forward(cfg, full, Batch(set, test, 256)), 20), MedianMs(() => LeNet.forward(gaCfg!, gaThin!, Batch(set, test, 256)), 20),
            };
            timings.Add(timing);
            sd.WriteJson("metrics.json", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("seed", seed);
                w.WriteNumber("ga_seconds", sw.Elapsed.TotalSeconds);
                w.WriteStartObject("methods");
                foreach (var m in Methods) { w.WritePropertyName(m); WriteSeedMethod(w, m, seed, -1, results[m]); }
                w.WriteEndObject();
                w.WriteStartArray("timing_ms");
                foreach (var t in timing) w.WriteNumberValue(t);
                w.WriteEndArray();
                w.WriteEndObject();
            });
        }

        var summaries = Methods.Select(m =>
        {
            var xs = outcomes[m];
            var (mb, sb) = Summary0(xs.Select(x => x.TestBefore));
            var (ma, sa) = Summary0(xs.Select(x => x.TestAfter));
            return new MethodSummary(m, mb, sb, ma, sa, xs.Count, xs[0].Counts, xs[0].Params, xs[0].Mults, xs.Max(x => x.Params), xs.Max(x => x.Mults));
        }).ToList();
        double Med(int k) => timings.Select(t => t[k]).OrderBy(v => v).ElementAt(timings.Count / 2);
        var summary = new Summary(fullTest, fullCost.Params, fullCost.Mults, summaries, Med(0), Med(1), Med(2), Med(3), o.Seeds);
        dir.WriteConfig(
            [("command", "gcnkd evolve"), ("model", "LeNet-5"), ("dataset", "MNIST")],
            [
                Tuple.Create("seeds", $"{o.Seed}..{o.Seed + o.Seeds - 1}"),
                Tuple.Create("genetic", $"population {settings.Genetic.Population}, generations {settings.Genetic.Generations}, copy {Inv(settings.Genetic.PCopy)}, crossover {Inv(settings.Genetic.PCrossover)}, elites {settings.Genetic.Elites}"),
                Tuple.Create("fitness", FormText(settings.Form)),
                Tuple.Create("fitness_subset", settings.SubsetSize.ToString(CultureInfo.InvariantCulture)),
                Tuple.Create("train", $"{settings.Train.Epochs} epochs, batch {settings.Train.BatchSize}, Adam {Inv(settings.Train.Lr)}, {settings.Train.Schedule}"),
                Tuple.Create("fine_tune", $"{settings.FineTune.Epochs} epochs, batch {settings.FineTune.BatchSize}, Adam {Inv(settings.FineTune.Lr)}, {settings.FineTune.Schedule}" +
                             (OptionModule.IsSome(settings.Kd) ? $", KD T {Inv(settings.Kd.Value.Item1)} alpha {Inv(settings.Kd.Value.Item2)}" : "")),
                Tuple.Create("train_images", train.Length.ToString(CultureInfo.InvariantCulture)),
            ]);
        dir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteNumber("full_test_accuracy", fullTest);
            w.WriteNumber("full_params", fullCost.Params);
            w.WriteNumber("full_mults", fullCost.Mults);
            w.WriteNumber("seeds", o.Seeds);
            w.WriteStartObject("methods");
            foreach (var m in summaries)
            {
                w.WriteStartObject(m.Method);
                w.WriteNumber("test_before_mean", m.TestBefore);
                w.WriteNumber("test_before_std", m.TestBeforeStd);
                w.WriteNumber("test_after_mean", m.TestAfter);
                w.WriteNumber("test_after_std", m.TestAfterStd);
                w.WriteNumber("n", m.N);
                w.WriteString("kept_seed0", string.Join("-", m.Counts));
                w.WriteNumber("params_seed0", m.Params);
                w.WriteNumber("mults_seed0", m.Mults);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartObject("timing_ms_median");
            w.WriteNumber("full_batch1", summary.FullMsBatch1);
            w.WriteNumber("thin_batch1", summary.ThinMsBatch1);
            w.WriteNumber("full_batch256", summary.FullMsBatch256);
            w.WriteNumber("thin_batch256", summary.ThinMsBatch256);
            w.WriteEndObject();
            w.WriteEndObject();
        });
        return summary;
    }

    public sealed record SeedMethod(double TestBefore, double TestAfter, double ValAfter, int[] Counts, long Params, long Mults);

    sealed record SeedDone(Dictionary<string, SeedMethod> Methods, double[] Timing);

    static void WriteSeedMethod(Utf8JsonWriter w, string method, int seed, int bestEpoch, SeedMethod s)
    {
        w.WriteStartObject();
        w.WriteString("method", method);
        w.WriteNumber("seed", seed);
        if (bestEpoch >= 0) w.WriteNumber("best_epoch", bestEpoch);
        w.WriteNumber("test_before", s.TestBefore);
        w.WriteNumber("test_after", s.TestAfter);
        w.WriteNumber("val_after", s.ValAfter);
        w.WriteString("kept", string.Join(",", s.Counts));
        w.WriteNumber("params", s.Params);
        w.WriteNumber("mults", s.Mults);
        w.WriteEndObject();
    }

    /// <summary>A seed's metrics.json, or null when it is missing or unreadable (the seed is then rerun).</summary>
    static SeedDone? ReadSeed(RunDirectory sd)
    {
        var path = Path.Combine(sd.Path, "metrics.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var methods = new Dictionary<string, SeedMethod>();
            foreach (var m in Methods)
            {
                var e = doc.RootElement.GetProperty("methods").GetProperty(m);
                methods[m] = new SeedMethod(e.GetProperty("test_before").GetDouble(), e.GetProperty("test_after").GetDouble(), e.GetProperty("val_after").GetDouble(),
                    e.GetProperty("kept").GetString()!.Split(',').Select(int.Parse).ToArray(), e.GetProperty("params").GetInt64(), e.GetProperty("mults").GetInt64());
            }
            return new SeedDone(methods, doc.RootElement.GetProperty("timing_ms").EnumerateArray().Select(x => x.GetDouble()).ToArray());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    static (double, double) Summary0(IEnumerable<double> xs)
    {
        var t = global::GcnKd.Train.Summary.meanStd(xs.ToArray());
        return (t.Item1, t.Item2);
    }

    static string MaskText(PrunableStructure s, bool[] mask)
    {
        var sb = new StringBuilder();
        var offsets = Prunable.offsets(s);
        int gi = 0;
        foreach (var g in s.Groups)
        {
            sb.Append(g.Name).Append(": ");
            for (int k = 0; k < g.Units; k++) sb.Append(mask[offsets[gi] + k] ? '1' : '0');
            sb.Append('\n');
            gi++;
        }
        return sb.ToString();
    }

    static Tensor Batch(ImageSet set, int[] idx, int n) => ImageSetModule.batch(set, idx.Take(n).ToArray()).Images;

    /// <summary>Median wall time of <paramref name="f"/> in milliseconds over <paramref name="runs"/> runs, after three
    /// warm-up runs.</summary>
    static double MedianMs(Func<object> f, int runs)
    {
        for (int i = 0; i < 3; i++) f();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            f();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    static FSharpFunc<EpochLog, Unit> Log(TextWriter progress, string what, int epochs, Stopwatch sw) =>
        FuncConvert.FromAction<EpochLog>(e =>
        {
            var left = sw.Elapsed.TotalSeconds / (e.Epoch + 1) * (epochs - e.Epoch - 1);
            progress.WriteLine($"  {what} epoch {e.Epoch + 1,3}/{epochs}: train loss {e.TrainLoss:F4}, train {100 * e.TrainMetric:F2} %, validation {100 * e.ValMetric:F2} % ({left:F0} s left)");
        });

    static FSharpFunc<A, FSharpFunc<B, FSharpFunc<C, R>>> Fn<A, B, C, R>(Func<A, B, C, R> f) =>
        FuncConvert.FromFunc<A, B, C, R>(f);

    static FSharpFunc<A, R> Fn<A, R>(Func<A, R> f) => FuncConvert.FromFunc(f);

    static FSharpFunc<GenerationStats, Unit> Fn(Action<GenerationStats> f) => FuncConvert.FromAction(f);

}
