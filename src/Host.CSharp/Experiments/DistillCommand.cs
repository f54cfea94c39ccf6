using System.Globalization;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd distill`: train (or load) the teacher of a Planetoid dataset, then distil it into the student with
/// one method over seeds. Writes DIR/teacher/ (when trained here), DIR/seed-S/ per student (checkpoint, epochs.csv,
/// distill.csv with the distillation term per epoch, metrics.json), and DIR/config.json and DIR/metrics.json.</summary>
public static class DistillCommand
{
    public sealed record Summary(string Dataset, string Method, string Kernel, double Mean, double Std, int N,
        double TeacherTest, int TeacherParams, int StudentParams, IReadOnlyList<RunOutcome> Runs);

    public static int Run(GcnKd.Cli.DistillCliOptions o)
    {
        var s = Execute(o, Console.Out);
        Console.WriteLine($"{s.Dataset} {s.Method} {s.Kernel}: student test accuracy {100 * s.Mean:F2} ± {100 * s.Std:F2} over {s.N} seed(s) " +
                          $"({s.StudentParams} parameters; teacher {100 * s.TeacherTest:F2} with {s.TeacherParams}); results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    public static Summary Execute(GcnKd.Cli.DistillCliOptions o, TextWriter progress, int maxRuns = int.MaxValue)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        string dataset = DatasetCatalog.Canonical(o.Dataset);
        if (!DatasetCatalog.IsNodeDataset(dataset))
            throw new GcnKdUserError($"distill runs on the Planetoid node datasets ({string.Join(", ", DatasetCatalog.NodeDatasets)}); " +
                                     $"{dataset} is not one of them (PPI and MNIST-points distillation are not available yet)");
        var method = DistillMethodModule.ofName(o.Method, o.Kernel);
        var options = DistillRegistry.defaultOptions;
        options = new DistillOptions(options.Pairs, o.Lambda,
            OptionModule.IsSome(o.DistillEpochs) ? DistillSchedule.NewFirstEpochs(o.DistillEpochs.Value) : DistillSchedule.Always);
        var epochs = OptionModule.IsSome(o.Epochs) ? FSharpOption<int>.Some(o.Epochs.Value) : FSharpOption<int>.None;
        var data = DatasetCatalog.LoadNode(root, dataset);
        var dir = new RunDirectory(o.Out);
        var meta = new Dictionary<string, string> { ["dataset"] = dataset, ["protocol"] = $"Planetoid split {data.Train.Length}/{data.Val.Length}/{data.Test.Length}" };

        int f = data.Features.Shape[1];
        GatParams teacher;
        if (OptionModule.IsSome(o.Teacher))
        {
            var template = Gat.init(DistillRegistry.nodeTeacher(f, data.NumClasses), RngModule.create(0));
            teacher = CheckpointFile.LoadTree(o.Teacher.Value, template).Tree;
            progress.WriteLine($"  teacher: loaded {Path.GetFullPath(o.Teacher.Value)}");
        }
        else
        {
            progress.WriteLine("  teacher: training (seed 0)");
            var (outcome, p) = DistillRegistry.trainNodeTeacher(data, 0, epochs, TrainCommand.Progress(progress, "teacher", 50)).ToValueTuple();
            dir.Sub("teacher").WriteRun(outcome, meta);
            teacher = p;
        }
        var teacherOut = DistillRegistry.teacherOutputs(data, teacher);
        double teacherTest = NodeTrainer.evaluate(teacherOut.Logits, data.Labels, data.Test).Item2;
        int teacherParams = Tree.count(teacher);
        progress.WriteLine($"  teacher: {teacherParams} parameters, test accuracy {100 * teacherTest:F2}");

        var (name, kernel) = DistillMethodModule.describe(method).ToValueTuple();
        var runs = new List<RunOutcome>();
        for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
        {
            string label = $"seed {s}";
            var (r, term) = DistillRegistry.distillNode(data, teacherOut, teacherParams, method, options, s, epochs, TrainCommand.Progress(progress, label, 50)).ToValueTuple();
            progress.WriteLine($"  {label}: best epoch {r.BestEpoch}, val {100 * r.ValAccuracy:F2}, test {100 * r.TestAccuracy:F2}");
            var sub = dir.Sub($"seed-{s}");
            sub.WriteRun(r, meta);
            sub.WriteText("distill.csv", "epoch,distill_loss\n" + string.Concat(term.Select((v, i) => $"{i},{v.ToString("R", CultureInfo.InvariantCulture)}\n")));
            runs.Add(r);
        }
        var acc = runs.Select(r => r.TestAccuracy).ToArray();
        var (mean, std) = global::GcnKd.Train.Summary.meanStd(acc).ToValueTuple();
        var summary = new Summary(dataset, name, kernel, mean, std, runs.Count, teacherTest, teacherParams, runs[0].ParamCount, runs);
        dir.WriteConfig([("dataset", dataset), ("data_root", root.Path),
            ("teacher", OptionModule.IsSome(o.Teacher) ? Path.GetFullPath(o.Teacher.Value) : "teacher/model.safetensors")], runs[0].Config);
        dir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("dataset", dataset);
            w.WriteString("method", name);
            w.WriteString("kernel", kernel);
            w.WriteString("metric", "accuracy");
            w.WriteNumber("mean", mean);
            w.WriteNumber("std", std);
            w.WriteNumber("n", runs.Count);
            w.WriteNumber("teacher_test_accuracy", teacherTest);
            w.WriteNumber("teacher_params", teacherParams);
            w.WriteNumber("student_params", summary.StudentParams);
            w.WriteStartArray("test_accuracy");
            foreach (var a in acc) w.WriteNumberValue(a);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        return summary;
    }
}
