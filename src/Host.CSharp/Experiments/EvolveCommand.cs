using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GcnKd.Evolution;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Runtime;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd evolve`: evolutionary compression (shared/METHODS.md section 3) of LeNet-5 on MNIST
/// (<see cref="LeNetModel"/>), GIN5_64's channels (<see cref="GinModel"/>) or a GAT's heads and channels
/// (<see cref="GatModel"/>). The full network is trained once (seed 0, epoch chosen on validation) or loaded; per
/// seed, the GA evolves a keep-mask on training data, the thin network is rebuilt from the kept weights and
/// fine-tuned, and the L1-norm and random masks with the GA's kept counts per layer get the same fine-tuning. Writes
/// DIR/full/, per seed DIR/seed-S/ (ga.csv, ga.svg, mask.txt, ga/ l1/ random/ each with model.safetensors,
/// epochs.csv, metrics.json) and DIR/config.json, DIR/metrics.json. Inference times are measured at the end, from
/// the saved thin checkpoints of every seed (also those kept by --resume).</summary>
public static class EvolveCommand
{
    public static readonly string[] Methods = ["ga", "l1", "random"];

    /// <summary>One method over the seeds: accuracies (fractions), seed 0's kept counts and costs, and the largest
    /// costs over the seeds (the worst compression).</summary>
    public sealed record MethodSummary(string Method, double TestBefore, double TestBeforeStd, double TestAfter, double TestAfterStd,
        int N, int[] Counts, long Params, long Mults, long MaxParams, long MaxMults);

    public sealed record Summary(string Model, string Dataset, (string Name, int Units)[] Groups, double FullTest, long FullParams, long FullMults, IReadOnlyList<MethodSummary> Methods,
        double FullMsBatch1, double ThinMsBatch1, double FullMsBatch256, double ThinMsBatch256, int Seeds);

    public static int Run(GcnKd.Cli.EvolveCliOptions o)
    {
        var s = ProgressBar.OnConsole(w => Execute(o, w), Path.Combine(o.Out, "log.txt"));
        Console.WriteLine($"full network: test accuracy {100 * s.FullTest:F2} %, {s.FullParams} parameters, {s.FullMults} multiplications");
        foreach (var m in s.Methods)
            Console.WriteLine($"{m.Method,-6}: kept {string.Join("-", m.Counts)}, rc {(double)s.FullParams / m.Params:F2}, rs {(double)s.FullMults / m.Mults:F2}, " +
                              $"test {100 * m.TestBefore:F2} before / {100 * m.TestAfter:F2} ± {100 * m.TestAfterStd:F2} after fine-tuning ({m.N} seed(s))");
        Console.WriteLine($"inference, full vs thin (GA), median ms: batch 1 {s.FullMsBatch1:F3} vs {s.ThinMsBatch1:F3} ms, batch 256 {s.FullMsBatch256:F2} vs {s.ThinMsBatch256:F2} ms " +
                          $"(speed-up {s.FullMsBatch256 / s.ThinMsBatch256:F2}x at 256)");
        Console.WriteLine($"results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    static string Inv(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string FormText(FitnessForm f) => f switch
    {
        FitnessForm.AccuracyCost a => $"accuracy - {Inv(a.flops)} * FLOPs ratio - {Inv(a.parameters)} * parameter ratio",
        FitnessForm.InverseLoss i => $"{Inv(i.scale)} / loss + {Inv(i.lambda)} * removed units",
        _ => f.ToString(),
    };

    /// <summary>What the search loop needs from the network being compressed: its structure and costs, the fitness
    /// of masks on a seed's subset, the L1 baseline, fine-tuning (writing the thin network's files) and timing.</summary>
    public interface IPruningModel
    {
        string Name { get; }
        string Dataset { get; }
        PrunableStructure Structure { get; }
        ModelCost FullCost { get; }
        double FullTest { get; }
        /// <summary>The batch fitness of masks, measured on the training subset drawn with <paramref name="seed"/>.</summary>
        Func<bool[][], double[]> Evaluator(FitnessForm form, int seed);
        bool[] L1(int[] counts);
        /// <summary>Fine-tune the thin network of <paramref name="mask"/>, write its checkpoint and epoch log into
        /// <paramref name="md"/>, and return its numbers.</summary>
        SeedMethod FineTune(string method, bool[] mask, int seed, RunDirectory md, TextWriter progress);
        /// <summary>One inference pass of the thin network saved in <paramref name="md"/> (kept counts
        /// <paramref name="counts"/>) at batch 1 and at a large batch.</summary>
        (Action Batch1, Action BatchLarge) ThinPasses(RunDirectory md, int[] counts);
        Action FullBatch1 { get; }
        Action FullBatchLarge { get; }
    }

    public static Summary Execute(GcnKd.Cli.EvolveCliOptions o, TextWriter progress)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        var dir = new RunDirectory(o.Out);
        IPruningModel model = o.Model switch
        {
            "gin" => GinModel.Create(o, root, dir, progress),
            "gat" => GatModel.Create(o, root, dir, progress),
            _ => LeNetModel.Create(o, root, dir, progress),
        };
        var genetic0 = o.Model switch { "gin" => GinEvolution.defaults.Genetic, "gat" => GatEvolution.defaults.Genetic, _ => LeNetEvolution.defaults.Genetic };
        var genetic = new GeneticConfig(OptionModule.IsSome(o.Population) ? o.Population.Value : genetic0.Population,
            OptionModule.IsSome(o.Generations) ? o.Generations.Value : genetic0.Generations, genetic0.PCopy, genetic0.PCrossover, genetic0.Elites, genetic0.InitKeep, o.Seed);
        var form = OptionModule.IsSome(o.Form) ? o.Form.Value
            : o.Model switch { "gin" => GinEvolution.defaults.Form, "gat" => GatEvolution.defaults.Form, _ => LeNetEvolution.defaults.Form };
        var structure = model.Structure;
        var fullCost = model.FullCost;

        var outcomes = new Dictionary<string, List<SeedMethod>>();
        foreach (var m in Methods) outcomes[m] = [];
        var timings = new List<double[]>();
        for (int seed = o.Seed; seed < o.Seed + o.Seeds; seed++)
        {
            Interrupt.ThrowIfRequested();
            var sd = dir.Sub($"seed-{seed}");
            if (o.Resume && ReadSeed(sd) is { } done)
            {
                foreach (var m in Methods) outcomes[m].Add(done[m]);
                progress.WriteLine($"  seed {seed}: finished earlier, kept");
                continue;
            }
            var seedGenetic = new GeneticConfig(genetic.Population, genetic.Generations, genetic.PCopy, genetic.PCrossover, genetic.Elites, genetic.InitKeep, seed);
            var evaluate = model.Evaluator(form, seed);
            var sw = Stopwatch.StartNew();
            var csv = new StringBuilder("generation,best,mean,best_kept,evaluated\n");
            var bar = new ProgressBar(progress, $"  seed {seed} GA", seedGenetic.Generations, "generation");
            var ga = Genetic.evolve(seedGenetic, Prunable.length(structure), [], Fn(evaluate),
                Fn(st =>
                {
                    csv.Append($"{st.Generation},{Inv(st.Best)},{Inv(st.Mean)},{st.BestKept},{st.Evaluated}\n");
                    if (bar.Live)
                    {
                        bar.Update(st.Generation + 1, $"best fitness {st.Best:F4}, mean {st.Mean:F4}, best keeps {st.BestKept}/{Prunable.length(structure)} units");
                        return;
                    }
                    var left = sw.Elapsed.TotalSeconds / (st.Generation + 1) * (seedGenetic.Generations - st.Generation - 1);
                    progress.WriteLine($"  seed {seed} generation {st.Generation + 1,3}/{seedGenetic.Generations}: best fitness {st.Best:F4}, mean {st.Mean:F4}, " +
                                       $"best keeps {st.BestKept}/{Prunable.length(structure)} units ({st.Evaluated} new, {left:F0} s left)");
                }, Interrupt.ThrowIfRequested));
            sd.WriteText("ga.csv", csv.ToString());
            sd.WriteText("ga.svg", GcnKd.Report.SvgPlot.render($"GA fitness, {model.Name} on {model.Dataset} (seed {seed})", "generation", "fitness",
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
                ["l1"] = model.L1(counts),
                ["random"] = MaskBaselines.random(structure, counts, RngModule.create(seed + 104729)),
            };
            var results = new Dictionary<string, SeedMethod>();
            foreach (var m in Methods)
            {
                var sm = model.FineTune(m, masks[m], seed, sd.Sub(m), progress);
                sd.Sub(m).WriteJson("metrics.json", w => WriteSeedMethod(w, m, seed, sm));
                results[m] = sm;
                outcomes[m].Add(sm);
                progress.WriteLine($"  seed {seed} {m}: kept {string.Join("-", sm.Counts)}, test {100 * sm.TestBefore:F2} % before, {100 * sm.TestAfter:F2} % after fine-tuning");
            }
            sd.WriteJson("metrics.json", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("seed", seed);
                w.WriteNumber("ga_seconds", sw.Elapsed.TotalSeconds);
                w.WriteStartObject("methods");
                foreach (var m in Methods) { w.WritePropertyName(m); WriteSeedMethod(w, m, seed, results[m]); }
                w.WriteEndObject();
                w.WriteEndObject();
            });
        }
        // inference times, from the saved thin networks, on this machine as it is now
        for (int i = 0; i < o.Seeds; i++)
        {
            var (thin1, thinLarge) = model.ThinPasses(dir.Sub($"seed-{o.Seed + i}").Sub("ga"), outcomes["ga"][i].Counts);
            timings.Add([MedianMs(model.FullBatch1, 200), MedianMs(thin1, 200), MedianMs(model.FullBatchLarge, 20), MedianMs(thinLarge, 20)]);
        }
        double fullTest = model.FullTest;
        var summaries = Methods.Select(m =>
        {
            var xs = outcomes[m];
            var (mb, sb) = Summary0(xs.Select(x => x.TestBefore));
            var (ma, sa) = Summary0(xs.Select(x => x.TestAfter));
            return new MethodSummary(m, mb, sb, ma, sa, xs.Count, xs[0].Counts, xs[0].Params, xs[0].Mults, xs.Max(x => x.Params), xs.Max(x => x.Mults));
        }).ToList();
        double Med(int k) => timings.Select(t => t[k]).OrderBy(v => v).ElementAt(timings.Count / 2);
        var summary = new Summary(model.Name, model.Dataset, structure.Groups.Select(g => (g.Name, g.Units)).ToArray(), fullTest, fullCost.Params, fullCost.Mults, summaries, Med(0), Med(1), Med(2), Med(3), o.Seeds);
        dir.WriteConfig(
            [("command", "gcnkd evolve"), ("model", model.Name), ("dataset", model.Dataset)],
            [
                Tuple.Create("seeds", $"{o.Seed}..{o.Seed + o.Seeds - 1}"),
                Tuple.Create("genetic", $"population {genetic.Population}, generations {genetic.Generations}, copy {Inv(genetic.PCopy)}, crossover {Inv(genetic.PCrossover)}, elites {genetic.Elites}"),
                Tuple.Create("fitness", FormText(form)),
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
        dir.WriteReport();
        return summary;
    }

    public sealed record SeedMethod(double TestBefore, double TestAfter, double ValAfter, int[] Counts, long Params, long Mults);

    /// <summary>Save a fine-tuned thin network into <paramref name="md"/> (checkpoint with its kept counts, epoch log)
    /// and return its numbers.</summary>
    public static SeedMethod SaveThin<C, P>(PrunedOutcome<C, P> r, string model, RunDirectory md)
    {
        CheckpointFile.SaveTree(Path.Combine(md.Path, "model.safetensors"), r.Params, new Dictionary<string, string>
        {
            ["model"] = $"{model} (thin)", ["kept"] = string.Join(",", r.Counts), ["method"] = r.Method,
        });
        md.WriteText("epochs.csv", RunDirectory.Csv(r.Log));
        return new SeedMethod(r.TestBefore, r.TestAfter, r.ValAfter, r.Counts, r.Cost.Params, r.Cost.Mults);
    }

    static void WriteSeedMethod(Utf8JsonWriter w, string method, int seed, SeedMethod s)
    {
        w.WriteStartObject();
        w.WriteString("method", method);
        w.WriteNumber("seed", seed);
        w.WriteNumber("test_before", s.TestBefore);
        w.WriteNumber("test_after", s.TestAfter);
        w.WriteNumber("val_after", s.ValAfter);
        w.WriteString("kept", string.Join(",", s.Counts));
        w.WriteNumber("params", s.Params);
        w.WriteNumber("mults", s.Mults);
        w.WriteEndObject();
    }

    /// <summary>A seed's metrics.json, or null when it is missing or unreadable (the seed is then rerun).</summary>
    static Dictionary<string, SeedMethod>? ReadSeed(RunDirectory sd)
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
            return methods;
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

    /// <summary>full/epochs.csv and full/metrics.json of a trained full network.</summary>
    public static void WriteFull(RunDirectory fullDir, string model, int bestEpoch, double val, double test, int parameters, IEnumerable<EpochLog> log)
    {
        fullDir.WriteText("epochs.csv", RunDirectory.Csv(log));
        fullDir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteNumber("best_epoch", bestEpoch);
            w.WriteNumber("val_accuracy", val);
            w.WriteNumber("test_accuracy", test);
            w.WriteNumber("params", parameters);
            w.WriteEndObject();
        });
    }

    /// <summary>Median wall time of <paramref name="f"/> in milliseconds over <paramref name="runs"/> runs, after three
    /// warm-up runs.</summary>
    static double MedianMs(Action f, int runs)
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

    /// <summary>Epoch progress of a full or thin network's training: a bar on a terminal, else a line per epoch.</summary>
    public static FSharpFunc<EpochLog, Unit> Log(TextWriter progress, string what, int epochs, Stopwatch sw)
    {
        var bar = new ProgressBar(progress, $"  {what}", epochs, "epoch");
        return FuncConvert.FromAction<EpochLog>(e =>
        {
            if (bar.Live)
                bar.Update(e.Epoch + 1, $"train loss {e.TrainLoss:F4}, train {100 * e.TrainMetric:F2} %, validation {100 * e.ValMetric:F2} %");
            else
            {
                var left = sw.Elapsed.TotalSeconds / (e.Epoch + 1) * (epochs - e.Epoch - 1);
                progress.WriteLine($"  {what} epoch {e.Epoch + 1,3}/{epochs}: train loss {e.TrainLoss:F4}, train {100 * e.TrainMetric:F2} %, validation {100 * e.ValMetric:F2} % ({left:F0} s left)");
            }
            Interrupt.ThrowIfRequested();   // Ctrl-C: stop after this epoch
        });
    }

    static FSharpFunc<A, FSharpFunc<B, FSharpFunc<C, R>>> Fn<A, B, C, R>(Func<A, B, C, R> f) =>
        FuncConvert.FromFunc<A, B, C, R>(f);

    static FSharpFunc<A, R> Fn<A, R>(Func<A, R> f) => FuncConvert.FromFunc(f);

    /// <summary>A generation callback, then <paramref name="after"/> (the Ctrl-C check).</summary>
    static FSharpFunc<GenerationStats, Unit> Fn(Action<GenerationStats> f, Action after) => FuncConvert.FromAction<GenerationStats>(st => { f(st); after(); });

}
