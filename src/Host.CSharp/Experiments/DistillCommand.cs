using System.Globalization;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Runtime;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd distill`: train (or load) the teacher of a Planetoid dataset, then distil it into the student with
/// one method over seeds. Writes DIR/teacher/ (when trained here), DIR/seed-S/ per student (checkpoint, epochs.csv,
/// distill.csv with the distillation term per epoch, metrics.json), and DIR/config.json and DIR/metrics.json.</summary>
public static class DistillCommand
{
    public sealed record Summary(string Dataset, string Method, string Kernel, string Metric, double Mean, double Std, int N,
        double TeacherTest, int TeacherParams, int StudentParams, IReadOnlyList<RunOutcome> Runs);

    public static int Run(GcnKd.Cli.DistillCliOptions o)
    {
        var s = ProgressBar.OnConsole(w => Execute(o, w), Path.Combine(o.Out, "log.txt"));
        Console.WriteLine($"{s.Dataset} {s.Method} {s.Kernel}: student test accuracy {100 * s.Mean:F2} ± {100 * s.Std:F2} over {s.N} seed(s) " +
                          $"({s.StudentParams} parameters; teacher {100 * s.TeacherTest:F2} with {s.TeacherParams}); results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    public static Summary Execute(GcnKd.Cli.DistillCliOptions o, TextWriter progress, int maxRuns = int.MaxValue)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        string dataset = DatasetCatalog.Canonical(o.Dataset);
        bool inductive = DatasetCatalog.IsInductiveDataset(dataset);
        bool points = DatasetCatalog.IsPointDataset(dataset);
        if (!DatasetCatalog.IsNodeDataset(dataset) && !inductive && !points)
            throw new GcnKdUserError($"distill runs on the Planetoid node datasets ({string.Join(", ", DatasetCatalog.NodeDatasets)}), PPI and the point clouds ({string.Join(", ", DatasetCatalog.PointDatasets)}); " +
                                     $"{dataset} is not one of them");
        if (!points && (OptionModule.IsSome(o.Points) || OptionModule.IsSome(o.TrainSize)))
            throw new GcnKdUserError($"--points and --train-size apply to the point clouds ({string.Join(", ", DatasetCatalog.PointDatasets)}), not {dataset}");
        if (points && o.Method is "fitnet" or "at")
            throw new GcnKdUserError($"--method {o.Method} is not available on {dataset} (dynamic kNN graphs); use none, kd or lsp");
        var method = DistillMethodModule.ofName(o.Method, o.Kernel);
        // node datasets: last hidden layers, every epoch; PPI: the released code's pairing and its first-30-epochs schedule
        var defaults = inductive ? DistillRegistry.ppiOptions : points ? DistillRegistry.pointOptions : DistillRegistry.defaultOptions;
        var options = new DistillOptions(defaults.Pairs, o.Lambda,
            OptionModule.IsSome(o.DistillEpochs) ? DistillSchedule.NewFirstEpochs(o.DistillEpochs.Value) : defaults.Schedule);
        var epochs = OptionModule.IsSome(o.Epochs) ? FSharpOption<int>.Some(o.Epochs.Value) : FSharpOption<int>.None;
        int EpochsOr(int preset) => OptionModule.IsSome(o.Epochs) ? o.Epochs.Value : preset;   // for the progress bars
        var dir = new RunDirectory(o.Out);
        var (name, kernel) = DistillMethodModule.describe(method).ToValueTuple();
        var runs = new List<RunOutcome>();
        double teacherTest;
        int teacherParams;
        var recorded = Options(o, dataset);
        // config.json with the options before the teacher (once the data is known to be there), for --resume
        void Begin() => RunResume.Begin(dir, o.Resume, [("dataset", dataset), ("data_root", root.Path)], recorded);
        // the teacher this run trained before it was interrupted (--resume, no --teacher), or null
        var ownTeacher = dir.Sub("teacher");
        RunOutcome? KeptTeacher()
        {
            var kept = o.Resume && !OptionModule.IsSome(o.Teacher) ? RunResume.Finished(ownTeacher, null, 0) : null;
            if (kept is not null) progress.WriteLine($"  teacher: kept from {ownTeacher.Path}");
            return kept;
        }
        string ownCheckpoint = Path.Combine(ownTeacher.Path, "model.safetensors");
        RunOutcome Student(Func<Tuple<RunOutcome, double[]>> distil, int seed, Dictionary<string, string> meta) =>
            StudentRun(distil, seed, o.Resume, dir, meta, progress);

        if (points)
        {
            int numPoints = OptionModule.IsSome(o.Points) ? o.Points.Value : DatasetCatalog.DefaultPoints(dataset);
            var data = DatasetCatalog.LoadPoints(root, dataset, numPoints);
            var (train, val) = TrainCommand.PointParts(data, OptionModule.IsSome(o.TrainSize) ? o.TrainSize.Value : null);
            int total = Registry.pointTrainConfig("dgcnn", 0, epochs).Epochs;
            var meta = new Dictionary<string, string> { ["dataset"] = dataset, ["protocol"] = $"{DatasetCatalog.PointProtocol(dataset, numPoints)}, {train.Length} training / {val.Length} validation / {data.Test.Length} test clouds" };
            Tuple<DgcnnParams, DgcnnState> teacher;
            Begin();
            if (KeptTeacher() is { } kept)
            {
                teacher = DistillRegistry.pointTeacherOf(data, kept.Tensors);
                teacherTest = kept.TestAccuracy;
            }
            else if (OptionModule.IsSome(o.Teacher))
            {
                var named = CheckpointFile.Load(o.Teacher.Value).Tensors.Select(t => Tuple.Create(t.Item1, t.Item2)).ToArray();
                try { teacher = DistillRegistry.pointTeacherOf(data, named); }
                catch (ArgumentException e) { throw new GcnKdUserError($"teacher checkpoint {o.Teacher.Value} does not fit the DGCNN teacher: {e.Message}", e); }
                progress.WriteLine($"  teacher: loaded {Path.GetFullPath(o.Teacher.Value)}");
                teacherTest = DistillRegistry.pointTeacherTest(data, teacher.Item1, teacher.Item2);
            }
            else
            {
                progress.WriteLine("  teacher: training (seed 0)");
                var outcome = Registry.trainPoints("dgcnn", data, 0, epochs, train, val, TrainCommand.Progress(progress, "teacher", 1, total));
                dir.Sub("teacher").WriteRun(outcome, meta);
                teacher = DistillRegistry.pointTeacherOf(data, outcome.Tensors);
                teacherTest = outcome.TestAccuracy;
            }
            teacherParams = Tree.count(teacher.Item1);
            progress.WriteLine($"  teacher: {teacherParams} parameters, test accuracy {100 * teacherTest:F2}");
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
                runs.Add(Student(() => DistillRegistry.distillPoints(data, teacher.Item1, teacher.Item2, method, options, s, epochs, train, val, TrainCommand.Progress(progress, $"seed {s}", 1, total)), s, meta));
        }
        else if (inductive)
        {
            var data = DatasetCatalog.LoadInductive(root, dataset);
            var meta = new Dictionary<string, string> { ["dataset"] = dataset, ["protocol"] = $"inductive: {data.Train.Length}/{data.Val.Length}/{data.Test.Length} graphs, micro-F1" };
            GatParams teacher;
            Begin();
            if (KeptTeacher() is { } kept)
            {
                teacher = LoadTeacher(ownCheckpoint, DistillRegistry.inductiveTeacherTemplate(data), progress);
                teacherTest = kept.TestAccuracy;
            }
            else if (OptionModule.IsSome(o.Teacher))
            {
                teacher = LoadTeacher(o.Teacher.Value, DistillRegistry.inductiveTeacherTemplate(data), progress);
                teacherTest = DistillRegistry.inductiveTeacherTest(data, teacher);
            }
            else (teacher, teacherTest) = TrainTeacher(DistillRegistry.trainInductiveTeacher(data, 0, epochs, TrainCommand.Progress(progress, "teacher", 25, EpochsOr(Registry.inductivePreset("gat").Epochs))), dir, meta, progress);
            var teacherOut = DistillRegistry.inductiveTeacherOutputs(data, teacher);
            teacherParams = Tree.count(teacher);
            progress.WriteLine($"  teacher: {teacherParams} parameters, test micro-F1 {100 * teacherTest:F2}");
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
                runs.Add(Student(() => DistillRegistry.distillInductive(data, teacherOut, teacherParams, method, options, s, epochs, TrainCommand.Progress(progress, $"seed {s}", 25, EpochsOr(Registry.inductivePreset("gat-student").Epochs))), s, meta));
        }
        else
        {
            var data = DatasetCatalog.LoadNode(root, dataset);
            var meta = new Dictionary<string, string> { ["dataset"] = dataset, ["protocol"] = $"Planetoid split {data.Train.Length}/{data.Val.Length}/{data.Test.Length}" };
            int total = EpochsOr(Registry.nodePreset("gat").Epochs);
            Begin();
            string? teacherPath = KeptTeacher() is not null ? ownCheckpoint : OptionModule.IsSome(o.Teacher) ? o.Teacher.Value : null;
            var teacher = teacherPath is not null
                ? LoadTeacher(teacherPath, DistillRegistry.nodeTeacherTemplate(data), progress)
                : TrainTeacher(DistillRegistry.trainNodeTeacher(data, 0, epochs, TrainCommand.Progress(progress, "teacher", 50, total)), dir, meta, progress).Params;
            var teacherOut = DistillRegistry.teacherOutputs(data, teacher);
            teacherTest = NodeTrainer.evaluate(teacherOut.Logits, data.Labels, data.Test).Item2;
            teacherParams = Tree.count(teacher);
            progress.WriteLine($"  teacher: {teacherParams} parameters, test accuracy {100 * teacherTest:F2}");
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
                runs.Add(Student(() => DistillRegistry.distillNode(data, teacherOut, teacherParams, method, options, s, epochs, TrainCommand.Progress(progress, $"seed {s}", 50, total)), s, meta));
        }
        var acc = runs.Select(r => r.TestAccuracy).ToArray();
        var (mean, std) = global::GcnKd.Train.Summary.meanStd(acc).ToValueTuple();
        var summary = new Summary(dataset, name, kernel, runs[0].Metric, mean, std, runs.Count, teacherTest, teacherParams, runs[0].ParamCount, runs);
        dir.WriteConfig([("dataset", dataset), ("data_root", root.Path),
            ("teacher", OptionModule.IsSome(o.Teacher) ? Path.GetFullPath(o.Teacher.Value) : "teacher/model.safetensors")], runs[0].Config, recorded);
        dir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("dataset", dataset);
            w.WriteString("method", name);
            w.WriteString("kernel", kernel);
            w.WriteString("metric", summary.Metric);
            w.WriteNumber("mean", mean);
            w.WriteNumber("std", std);
            w.WriteNumber("n", runs.Count);
            w.WriteNumber($"teacher_test_{summary.Metric}", teacherTest);
            w.WriteNumber("teacher_params", teacherParams);
            w.WriteNumber("student_params", summary.StudentParams);
            w.WriteStartArray($"test_{summary.Metric}");
            foreach (var a in acc) w.WriteNumberValue(a);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        dir.WriteReport();
        return summary;
    }

    /// <summary>The summary a finished run left in DIR/metrics.json (written last, by Execute), or null when there is
    /// none, it is unreadable, or it holds a number of seeds other than <paramref name="seeds"/>: the run must be
    /// made (again). Its per-seed outcomes are not read back (Runs is empty).</summary>
    public static Summary? ReadFinished(string dir, int seeds)
    {
        var path = Path.Combine(dir, "metrics.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            if (r.GetProperty("n").GetInt32() != seeds) return null;
            string metric = r.GetProperty("metric").GetString()!;
            return new Summary(r.GetProperty("dataset").GetString()!, r.GetProperty("method").GetString()!, r.GetProperty("kernel").GetString()!,
                metric, r.GetProperty("mean").GetDouble(), r.GetProperty("std").GetDouble(), seeds, r.GetProperty($"teacher_test_{metric}").GetDouble(),
                r.GetProperty("teacher_params").GetInt32(), r.GetProperty("student_params").GetInt32(), []);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    static GatParams LoadTeacher(string path, GatParams template, TextWriter progress)
    {
        var p = CheckpointFile.LoadTree(path, template).Tree;
        progress.WriteLine($"  teacher: loaded {Path.GetFullPath(path)}");
        return p;
    }

    /// <summary>Write a teacher trained here; returns its parameters and the test metric its run measured.</summary>
    static (GatParams Params, double Test) TrainTeacher(Tuple<RunOutcome, GatParams> trained, RunDirectory dir, Dictionary<string, string> meta, TextWriter progress)
    {
        var (outcome, p) = trained.ToValueTuple();
        progress.WriteLine($"  teacher: best epoch {outcome.BestEpoch}, val {100 * outcome.ValAccuracy:F2}");
        dir.Sub("teacher").WriteRun(outcome, meta);
        return (p, outcome.TestAccuracy);
    }

    /// <summary>One student seed: kept when --resume finds it finished in DIR/seed-S, else distilled and written
    /// (distill.csv, then the run with its metrics.json last).</summary>
    static RunOutcome StudentRun(Func<Tuple<RunOutcome, double[]>> distil, int seed, bool resume, RunDirectory dir, Dictionary<string, string> meta, TextWriter progress)
    {
        Interrupt.ThrowIfRequested();
        var sub = dir.Sub($"seed-{seed}");
        if (resume && RunResume.Finished(sub, null, seed) is { } kept)
        {
            progress.WriteLine($"  seed {seed}: kept from {sub.Path} (test {100 * kept.TestAccuracy:F2})");
            return kept;
        }
        var (r, term) = distil().ToValueTuple();
        progress.WriteLine($"  seed {seed}: best epoch {r.BestEpoch}, val {100 * r.ValAccuracy:F2}, test {100 * r.TestAccuracy:F2}");
        sub.WriteText("distill.csv", "epoch,distill_loss\n" + string.Concat(term.Select((v, i) => $"{i},{v.ToString("R", CultureInfo.InvariantCulture)}\n")));
        sub.WriteRun(r, meta);
        return r;
    }

    /// <summary>The options that decide the teacher's and every student's numbers, as config.json records them for
    /// --resume (not --seed and --seeds: a resumed run may add seeds; not --data).</summary>
    static List<(string, string)> Options(GcnKd.Cli.DistillCliOptions o, string dataset)
    {
        var list = new List<(string, string)> { ("command", "distill"), ("dataset", dataset), ("method", o.Method), ("kernel", o.Kernel), ("lambda", TrainCommand.Inv(o.Lambda)) };
        if (OptionModule.IsSome(o.DistillEpochs)) list.Add(("distill-epochs", TrainCommand.Inv(o.DistillEpochs.Value)));
        if (OptionModule.IsSome(o.Epochs)) list.Add(("epochs", TrainCommand.Inv(o.Epochs.Value)));
        if (OptionModule.IsSome(o.Teacher)) list.Add(("teacher", Path.GetFullPath(o.Teacher.Value)));
        if (OptionModule.IsSome(o.Points)) list.Add(("points", TrainCommand.Inv(o.Points.Value)));
        if (OptionModule.IsSome(o.TrainSize)) list.Add(("train-size", TrainCommand.Inv(o.TrainSize.Value)));
        return list;
    }
}
