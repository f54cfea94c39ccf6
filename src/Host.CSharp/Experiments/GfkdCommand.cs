using System.Diagnostics;
using System.Globalization;
using System.Text;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Runtime;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd gfkd`: graph-free distillation of a graph classifier (shared/METHODS.md section 2). The split is
/// GFKD's 70 / 30 (seed 0); the teacher is trained on the 70 % (its length chosen by 5-fold CV inside it) or loaded; per
/// seed, one method makes the transfer graphs (fitted fake graphs, random graphs, or the real 70 %) and every named
/// student learns from them and is scored once on the real 30 %. Writes DIR/teacher/ (when trained here), per seed
/// DIR/seed-S/ with fake.txt (GIN text), fit.csv, fit.safetensors (the fitting checkpoint), transfer.json and
/// student-MODEL/, and DIR/config.json and DIR/metrics.json.</summary>
public static class GfkdCommand
{
    public sealed record StudentSummary(string Model, double Mean, double Std, int N, int Params, double[] Test);

    public sealed record Summary(string Dataset, string Method, string TeacherModel, double TeacherTest, int TeacherParams,
        IReadOnlyList<StudentSummary> Students, double FakeDensity, double FakeNodes, double RealDensity, double RealNodes,
        double GenerationSeconds, int Seeds);

    /// <summary>Progress lines during generation: every this many iterations (and the first).</summary>
    const int LogEvery = 100;

    /// <summary>A fitting checkpoint every this many iterations, so that --resume loses little.</summary>
    const int CheckpointEvery = 100;

    public static int Run(GcnKd.Cli.GfkdCliOptions o)
    {
        var s = ProgressBar.OnConsole(w => Execute(o, w), Path.Combine(o.Out, "log.txt"));
        foreach (var st in s.Students)
            Console.WriteLine($"{s.Dataset} {s.Method} -> {st.Model}: test accuracy {100 * st.Mean:F2} ± {100 * st.Std:F2} over {st.N} seed(s) " +
                              $"(teacher {s.TeacherModel} {100 * s.TeacherTest:F2}; transfer density {s.FakeDensity:F3}, real {s.RealDensity:F3})");
        Console.WriteLine($"results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    static string Inv(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The teacher on the transfer graphs as exported (metrics.json and transfer.json).</summary>
    static void WriteExported(System.Text.Json.Utf8JsonWriter w, TransferReport report)
    {
        w.WriteNumber("exported_bn_prior", report.ExportedBnPrior);
        w.WriteNumber("exported_teacher_agreement", report.ExportedAgreement);
        w.WriteNumber("exported_teacher_confidence", report.ExportedConfidence);
    }

    /// <summary>The fitting settings of a run: GcnKd's defaults (or the released ones), then the options.</summary>
    public static FittingConfig Fitting(GcnKd.Cli.GfkdCliOptions o, double realDensity)
    {
        var fit = o.Released ? FittingConfigModule.released : GfkdRegistry.defaultFitting(realDensity);
        return new FittingConfig(
            OptionModule.IsSome(o.Iterations) ? o.Iterations.Value : fit.Iterations, fit.StructureLr, fit.FeatureLr, fit.DecayEvery, fit.Decay,
            OptionModule.IsSome(o.BnWeight) ? o.BnWeight.Value : fit.BnWeight,
            OptionModule.IsSome(o.BnPrior) ? o.BnPrior.Value : fit.BnForm,
            OptionModule.IsSome(o.BnCredit) ? o.BnCredit.Value : fit.BnCredit, fit.EntropyWeight,
            OptionModule.IsSome(o.InputWeight) ? o.InputWeight.Value : fit.InputWeight,
            OptionModule.IsSome(o.DensityWeight) ? o.DensityWeight.Value : fit.DensityWeight, realDensity, fit.Estimator,
            OptionModule.IsSome(o.Features) ? o.Features.Value : fit.Features,
            OptionModule.IsSome(o.InitShift) ? o.InitShift.Value : fit.InitShift);
    }

    public static Summary Execute(GcnKd.Cli.GfkdCliOptions o, TextWriter progress)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        string dataset = DatasetCatalog.Canonical(o.Dataset);
        if (!DatasetCatalog.GraphDatasets.Contains(dataset))
            throw new GcnKdUserError($"gfkd runs on the graph classification datasets ({string.Join(", ", DatasetCatalog.GraphDatasets)}); {dataset} is not one of them");
        var method = GfkdRegistry.methodOfName(o.Method);
        var data = DatasetCatalog.LoadGraph(root, dataset);
        var (train, test) = GfkdRegistry.split(data, 0).ToValueTuple();
        var real = train.Select(i => data.Graphs[i]).ToArray();
        double realDensity = GfkdPriors.meanDensity(real);
        var fit = Fitting(o, realDensity);
        var range = OptionModule.IsSome(o.Nodes)
            ? o.Nodes.Value is GcnKd.Cli.NodeCounts.CountRange cr ? (cr.lo, cr.hi) : ((int, int)?)null
            : o.Released ? (10, 29) : null;
        var nodes = GfkdRegistry.nodeSource(data, train, range is { } rr ? FSharpOption<Tuple<int, int>>.Some(Tuple.Create(rr.Item1, rr.Item2)) : FSharpOption<Tuple<int, int>>.None);
        var vocabulary = GfkdRegistry.degreeVocabulary(data);
        var dir = new RunDirectory(o.Out);
        var meta = new Dictionary<string, string> { ["dataset"] = dataset, ["protocol"] = $"GFKD 70/30 split (seed 0): {train.Length} train / {test.Length} test graphs" };
        progress.WriteLine($"  {dataset}: {train.Length} training graphs (mean {real.Average(g => g.Adj.Rows):F1} nodes, density {realDensity:F3}), {test.Length} test graphs" +
                           (OptionModule.IsSome(vocabulary) ? $", degree features ({vocabulary.Value.Length} values)" : ""));

        // the teacher: loaded, or trained on the 70 % for a length chosen by cross-validation inside it
        FrozenTeacher teacher;
        int teacherParams;
        string ownTeacher = Path.Combine(dir.Path, "teacher", "model.safetensors");
        string? teacherPath = OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : o.Resume && File.Exists(ownTeacher) ? ownTeacher : null;
        if (teacherPath is not null)
        {
            var named = CheckpointFile.Load(teacherPath).Tensors.Select(t => Tuple.Create(t.Item1, t.Item2)).ToArray();
            try { teacher = GfkdRegistry.teacherOf(o.TeacherModel, data, named); }
            catch (ArgumentException e) { throw new GcnKdUserError($"teacher checkpoint {teacherPath} does not fit a {o.TeacherModel} teacher on {dataset}: {e.Message}", e); }
            teacherParams = named.Where(t => !t.Item1.StartsWith("state.", StringComparison.Ordinal)).Sum(t => t.Item2.Numel);
            progress.WriteLine($"  teacher: loaded {Path.GetFullPath(teacherPath)}");
        }
        else
        {
            int folds = GfkdRegistry.TeacherFolds;
            progress.WriteLine($"  teacher: training {o.TeacherModel} (seed 0) on {train.Length} graphs, its length chosen by {folds}-fold CV inside them");
            var epochs = OptionModule.IsSome(o.TeacherEpochs) ? FSharpOption<int>.Some(o.TeacherEpochs.Value) : FSharpOption<int>.None;
            int foldEpochs = OptionModule.IsSome(epochs) ? epochs.Value : Registry.graphPreset(o.TeacherModel).Epochs;
            // the final run's length is chosen by the folds: its bar shows no total
            var onEpoch = FuncConvert.FromFunc<int, FSharpFunc<EpochLog, Unit>>(k =>
                TrainCommand.Progress(progress, k < folds ? $"teacher fold {k + 1}/{folds}" : "teacher", 50, k < folds ? foldEpochs : 0));
            var (outcome, choice) = GfkdRegistry.trainTeacher(o.TeacherModel, data, 0, epochs, train, test, onEpoch).ToValueTuple();
            progress.WriteLine($"  teacher: {choice.Epoch + 1} epochs (mean validation accuracy {100 * choice.MeanValMetric:F2} over {choice.Folds} folds)");
            dir.Sub("teacher").WriteRun(outcome, meta);   // with its config.json
            teacher = GfkdRegistry.teacherOf(o.TeacherModel, data, outcome.Tensors);
            teacherParams = outcome.ParamCount;
        }
        double teacherTest = GfkdRegistry.teacherAccuracy(teacher, data, test);
        progress.WriteLine($"  teacher: {teacherParams} parameters, test accuracy {100 * teacherTest:F2}");

        var students = ListModule.OfSeq(o.Students).ToArray();
        var tests = students.ToDictionary(s => s, _ => new List<double>());
        var paramCounts = new Dictionary<string, int>();
        var densities = new List<double>();
        var nodeMeans = new List<double>();
        double generation = 0;
        double realNodes = real.Average(g => (double)g.Adj.Rows);
        for (int seed = o.Seed; seed < o.Seed + o.Seeds; seed++)
        {
            Interrupt.ThrowIfRequested();
            var sub = dir.Sub($"seed-{seed}");
            var done = o.Resume ? ReadSeed(sub.Path, students) : null;
            if (done is not null)
            {
                progress.WriteLine($"  seed {seed}: kept from {sub.Path}");
                foreach (var s in students) { tests[s].Add(done.Value.Tests[s]); paramCounts[s] = done.Value.Params[s]; }
                densities.Add(done.Value.Density);
                nodeMeans.Add(done.Value.Nodes);
                generation += done.Value.Seconds;
                continue;
            }
            var (graphs, report, seconds) = Transfer(method, fit, data, train, teacher, nodes, vocabulary, seed, sub, o.Resume, progress);
            generation += seconds;
            densities.Add(report.MeanDensity);
            nodeMeans.Add(report.MeanNodes);
            var studentTests = new Dictionary<string, double>();
            foreach (var s in students)
            {
                var cfg = FakeDistillConfigModule.released(seed);
                if (OptionModule.IsSome(o.Epochs)) cfg = new FakeDistillConfig(o.Epochs.Value, cfg.BatchSize, cfg.Lr, cfg.Temperature, cfg.Seed);
                var r = GfkdRegistry.distil(method, cfg, s, data, teacher, graphs, test, TrainCommand.Progress(progress, $"seed {seed} {s}", 50, cfg.Epochs));
                var outcome = GfkdRegistry.studentOutcome(method, cfg, s, r);
                sub.Sub($"student-{s}").WriteRun(outcome, meta);
                progress.WriteLine($"  seed {seed} {s}: test accuracy {100 * r.TestAccuracy:F2}");
                tests[s].Add(r.TestAccuracy);
                studentTests[s] = r.TestAccuracy;
                paramCounts[s] = outcome.ParamCount;
            }
            sub.WriteJson("metrics.json", w =>
            {
                w.WriteStartObject();
                w.WriteNumber("seed", seed);
                w.WriteNumber("transfer_density", report.MeanDensity);
                w.WriteNumber("transfer_nodes", report.MeanNodes);
                w.WriteNumber("generation_seconds", seconds);
                WriteExported(w, report);
                w.WriteStartObject("students");
                foreach (var s in students)
                {
                    w.WriteStartObject(s);
                    w.WriteNumber("test_accuracy", studentTests[s]);
                    w.WriteNumber("params", paramCounts[s]);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
            });
        }

        var summaries = students.Select(s =>
        {
            var (mean, std) = global::GcnKd.Train.Summary.meanStd(tests[s].ToArray()).ToValueTuple();
            return new StudentSummary(s, mean, std, tests[s].Count, paramCounts[s], tests[s].ToArray());
        }).ToList();
        var summary = new Summary(dataset, o.Method, o.TeacherModel, teacherTest, teacherParams, summaries, densities.Average(), nodeMeans.Average(),
            realDensity, realNodes, generation, o.Seeds);
        dir.WriteConfig([("dataset", dataset), ("data_root", root.Path), ("method", o.Method), ("teacher_model", o.TeacherModel),
                ("teacher", OptionModule.IsSome(o.Teacher) ? Path.GetFullPath(o.Teacher.Value) : "teacher/model.safetensors"),
                ("split", "stratified 70/30 (GfkdRegistry.split, seed 0)"),
                ("students", string.Join(",", students)), ("node_counts", range is { } q ? $"{q.Item1}-{q.Item2}" : "the real 70 %'s, resampled"),
                ("features", OptionModule.IsSome(vocabulary) ? "degree one-hot of the sampled structure"
                    : fit.Features.IsStraightThrough ? "learned (the one-hot argmax forward, softmax's gradient backward; one-hot argmax on export)"
                    : "learned (softmax; one-hot argmax on export)")],
            FittingSettings(fit));
        dir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("dataset", dataset);
            w.WriteString("method", o.Method);
            w.WriteString("teacher_model", o.TeacherModel);
            w.WriteNumber("teacher_test_accuracy", teacherTest);
            w.WriteNumber("teacher_params", teacherParams);
            w.WriteNumber("seeds", o.Seeds);
            w.WriteNumber("transfer_density", summary.FakeDensity);
            w.WriteNumber("transfer_nodes", summary.FakeNodes);
            w.WriteNumber("real_density", realDensity);
            w.WriteNumber("real_nodes", realNodes);
            w.WriteNumber("generation_seconds", generation);
            w.WriteStartObject("students");
            foreach (var st in summaries)
            {
                w.WriteStartObject(st.Model);
                w.WriteNumber("mean", st.Mean);
                w.WriteNumber("std", st.Std);
                w.WriteNumber("n", st.N);
                w.WriteNumber("params", st.Params);
                w.WriteStartArray("test_accuracy");
                foreach (var a in st.Test) w.WriteNumberValue(a);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        });
        dir.WriteReport();
        return summary;
    }

    static IEnumerable<Tuple<string, string>> FittingSettings(FittingConfig f) =>
    [
        Tuple.Create("iterations", f.Iterations.ToString(CultureInfo.InvariantCulture)),
        Tuple.Create("structure_lr", Inv(f.StructureLr)), Tuple.Create("feature_lr", Inv(f.FeatureLr)),
        Tuple.Create("decay", $"x{Inv(f.Decay)} every {f.DecayEvery}"),
        Tuple.Create("bn_weight", Inv(f.BnWeight)), Tuple.Create("bn_prior", f.BnForm.IsRaw ? "raw" : "standardized"),
        Tuple.Create("bn_credit", f.BnCredit.IsPerGraph ? "per-graph" : "batch"), Tuple.Create("entropy_weight", Inv(f.EntropyWeight)),
        Tuple.Create("input_weight", Inv(f.InputWeight)),
        Tuple.Create("density_weight", Inv(f.DensityWeight)), Tuple.Create("target_density", Inv(f.TargetDensity)),
        Tuple.Create("init_shift", Inv(f.InitShift)), Tuple.Create("feature_relaxation", f.Features.IsStraightThrough ? "straight-through" : "softmax"),
    ];

    /// <summary>The transfer graphs of one seed, with the fitting log (fit.csv), checkpoints every
    /// <see cref="CheckpointEvery"/> iterations (fit.safetensors; resumed from with --resume), the exported fake graphs
    /// (fake.txt) and their report (transfer.json).</summary>
    static (GraphSample[] Graphs, TransferReport Report, double Seconds) Transfer(GfkdMethod method, FittingConfig fit, GraphDataset data, int[] train,
        FrozenTeacher teacher, NodeCountSource nodes, FSharpOption<int[]> vocabulary, int seed, RunDirectory sub, bool resume, TextWriter progress)
    {
        string checkpoint = Path.Combine(sub.Path, "fit.safetensors");
        var csv = new StringBuilder("iteration,loss,cross_entropy,bn_prior,entropy,density,target_accuracy,structure_objective\n");
        var resumeFrom = FSharpOption<Tuple<FakeGraphSpec, FittingState>>.None;
        if (resume && File.Exists(checkpoint))
        {
            try { resumeFrom = FSharpOption<Tuple<FakeGraphSpec, FittingState>>.Some(FittingCheckpoint.decode(UserFiles.ReadAllBytes(checkpoint, "fitting checkpoint"))); }
            catch (ArgumentException e) { throw new GcnKdUserError($"{checkpoint} is not a readable fitting checkpoint ({e.Message}); delete it to start this seed afresh", e); }
            var csvPath = Path.Combine(sub.Path, "fit.csv");
            int upTo = resumeFrom.Value.Item2.Iteration;
            if (File.Exists(csvPath))
                foreach (var line in File.ReadLines(csvPath).Skip(1))
                    if (int.TryParse(line.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var it) && it < upTo) csv.Append(line).Append('\n');
            progress.WriteLine($"  seed {seed}: resuming generation at iteration {upTo} from {checkpoint}");
        }
        var clock = Stopwatch.StartNew();
        int first = -1;
        var bar = new ProgressBar(progress, $"  seed {seed} generation", fit.Iterations, "iteration", resumeFrom == null ? 0 : resumeFrom.Value.Item2.Iteration);
        var control = new FitControl(
            FuncConvert.FromAction<FittingLog>(l =>
            {
                csv.Append(string.Join(",", new[] { l.Iteration.ToString(CultureInfo.InvariantCulture), Inv(l.Loss), Inv(l.CrossEntropy), Inv(l.BnPrior),
                    Inv(l.Entropy), Inv(l.Density), Inv(l.TargetAccuracy), Inv(l.StructureObjective) })).Append('\n');
                if (first < 0) first = l.Iteration;
                if (bar.Live)
                    bar.Update(l.Iteration + 1, string.Create(CultureInfo.InvariantCulture,
                        $"loss {l.Loss:F4} (CE {l.CrossEntropy:F4}, BN {l.BnPrior:F4}), density {l.Density:F3}, teacher agrees {100 * l.TargetAccuracy:F1} %"));
                else if (l.Iteration % LogEvery == 0 || l.Iteration == fit.Iterations - 1)
                {
                    double perIt = clock.Elapsed.TotalSeconds / (l.Iteration - first + 1);
                    progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  seed {seed} generation {l.Iteration,5}/{fit.Iterations}: loss {l.Loss:F4} (CE {l.CrossEntropy:F4}, BN {l.BnPrior:F4}), density {l.Density:F3}, teacher agrees on {100 * l.TargetAccuracy:F1} % ({1000 * perIt:F0} ms/iteration, {perIt * (fit.Iterations - l.Iteration - 1):F0} s left)"));
                }
                Interrupt.ThrowIfRequested();   // Ctrl-C: stop between iterations (--resume restarts from the last fitting checkpoint)
            }),
            resumeFrom, CheckpointEvery,
            FuncConvert.FromAction<FakeGraphSpec, FittingState>((spec, state) =>
            {
                sub.WriteText("fit.csv", csv.ToString());
                CheckpointFile.WriteAtomic(checkpoint, "fitting checkpoint", s => s.Write(FittingCheckpoint.encode(spec, state)));
            }));
        Tuple<GraphSample[], TransferReport> made;
        try { made = GfkdRegistry.transferGraphs(method, fit, data, train, teacher, nodes, vocabulary, seed, control); }
        catch (ArgumentException e) when (resumeFrom != null && e.Message.Contains("made for other fake graphs"))
        {
            throw new GcnKdUserError($"{checkpoint} was made for other fake graphs than this run draws (another dataset, method, seed or --nodes); delete it or drop --resume", e);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var (graphs, report) = made.ToValueTuple();
        bool fake = method is not { IsRealKd: true } and not { IsRealLabels: true };
        if (fake) sub.WriteText("fake.txt", GinText.write(GfkdRegistry.exportTags(data), graphs));
        sub.WriteJson("transfer.json", w =>
        {
            w.WriteStartObject();
            w.WriteNumber("graphs", report.Graphs);
            w.WriteNumber("mean_nodes", report.MeanNodes);
            w.WriteNumber("mean_density", report.MeanDensity);
            w.WriteNumber("real_mean_nodes", report.RealMeanNodes);
            w.WriteNumber("real_mean_density", report.RealMeanDensity);
            w.WriteNumber("generation_seconds", seconds);
            WriteExported(w, report);
            if (OptionModule.IsSome(report.LastFit))
            {
                var l = report.LastFit.Value;
                w.WriteNumber("last_iteration", l.Iteration);
                w.WriteNumber("last_loss", l.Loss);
                w.WriteNumber("last_teacher_agreement", l.TargetAccuracy);
                w.WriteNumber("last_bn_prior", l.BnPrior);
            }
            w.WriteEndObject();
        });
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  seed {seed}: {report.Graphs} transfer graphs, {report.MeanNodes:F1} nodes and density {report.MeanDensity:F3} on average (real {report.RealMeanNodes:F1}, {report.RealMeanDensity:F3}); as exported, the teacher's batch-norm prior {report.ExportedBnPrior:F1}, agreement with their labels {100 * report.ExportedAgreement:F1} % and soft-label confidence {report.ExportedConfidence:F3}; {seconds:F1} s"));
        return (graphs, report, seconds);
    }

    /// <summary>The summary a finished run left in DIR/metrics.json (written last, by Execute), or null when there is
    /// none, it is unreadable, or it holds another number of seeds or not every student: the run must be made.</summary>
    public static Summary? ReadFinished(string dir, int seeds, string[] students)
    {
        var path = Path.Combine(dir, "metrics.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            if (r.GetProperty("seeds").GetInt32() != seeds) return null;
            var st = r.GetProperty("students");
            var list = students.Select(s =>
            {
                var e = st.GetProperty(s);
                return new StudentSummary(s, e.GetProperty("mean").GetDouble(), e.GetProperty("std").GetDouble(), e.GetProperty("n").GetInt32(),
                    e.GetProperty("params").GetInt32(), e.GetProperty("test_accuracy").EnumerateArray().Select(a => a.GetDouble()).ToArray());
            }).ToList();
            return new Summary(r.GetProperty("dataset").GetString()!, r.GetProperty("method").GetString()!, r.GetProperty("teacher_model").GetString()!,
                r.GetProperty("teacher_test_accuracy").GetDouble(), r.GetProperty("teacher_params").GetInt32(), list,
                r.GetProperty("transfer_density").GetDouble(), r.GetProperty("transfer_nodes").GetDouble(), r.GetProperty("real_density").GetDouble(),
                r.GetProperty("real_nodes").GetDouble(), r.GetProperty("generation_seconds").GetDouble(), seeds);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A seed that finished (its metrics.json lists every student), or null.</summary>
    static (Dictionary<string, double> Tests, Dictionary<string, int> Params, double Density, double Nodes, double Seconds)? ReadSeed(string dir, string[] students)
    {
        var path = Path.Combine(dir, "metrics.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            var st = r.GetProperty("students");
            var tests = new Dictionary<string, double>();
            var ps = new Dictionary<string, int>();
            foreach (var s in students)
            {
                var e = st.GetProperty(s);
                tests[s] = e.GetProperty("test_accuracy").GetDouble();
                ps[s] = e.GetProperty("params").GetInt32();
            }
            return (tests, ps, r.GetProperty("transfer_density").GetDouble(), r.GetProperty("transfer_nodes").GetDouble(), r.GetProperty("generation_seconds").GetDouble());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
