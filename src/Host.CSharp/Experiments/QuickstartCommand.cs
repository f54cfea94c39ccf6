using System.Diagnostics;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Errors;
using GcnKd.Host.Runtime;
using GcnKd.Report;
using GcnKd.Train;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd quickstart`: <see cref="Quickstart.run"/> on MUTAG (or another graph-classification dataset)
/// from the data root, with its progress on the console and a run directory: summary.md and summary.json (the
/// table), config.json (the settings), one folder per model (teacher, student, kd, lsp, gfkd, pruned) with its
/// model.safetensors and epochs.csv, ga.csv (the GA's fitness per generation), report.html and log.txt.</summary>
public static class QuickstartCommand
{
    public static int Run(GcnKd.Cli.QuickstartOptions o)
    {
        var r = Execute(o, Quickstart.defaults, Console.Out);
        Console.WriteLine();
        Console.Write(Markdown(r));
        Console.WriteLine($"results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    static string Title(QuickstartResult r) => $"GcnKd quickstart on {r.Dataset}";

    static string Markdown(QuickstartResult r) =>
        QuickstartTable.markdown(Title(r), QuickstartTable.preamble(r.Dataset, r.TrainGraphs, r.TestGraphs), r.Rows);

    public static QuickstartResult Execute(GcnKd.Cli.QuickstartOptions o, QuickstartSettings settings, TextWriter progress)
    {
        var root = Data.DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        string dataset = DatasetCatalog.Canonical(o.Dataset);
        if (!ReproduceGfkd.Datasets.Contains(dataset))
            throw new GcnKdUserError($"--dataset {o.Dataset}: the quickstart runs on {string.Join(", ", ReproduceGfkd.Datasets)}");
        var data = DatasetCatalog.LoadGraph(root, dataset);
        var dir = new RunDirectory(o.Out);
        var log = new StringWriter();
        var clock = Stopwatch.StartNew();
        void Line(string s)
        {
            string l = $"[{clock.Elapsed:mm\\:ss}] {s}";
            progress.WriteLine(l);
            log.WriteLine(l);
            Interrupt.ThrowIfRequested();   // Ctrl-C: stop between steps and epochs (the quickstart writes at its end)
        }
        var r = Quickstart.run(settings, data, FuncConvert.FromAction<string>(Line));
        // Models and Rows list the same steps in the same order
        foreach (var ((name, tensors, epochs), row) in r.Models.Select(c => (c.Item1, c.Item2, c.Item3)).Zip(r.Rows))
        {
            var sub = dir.Sub(name);
            CheckpointFile.Save(Path.Combine(sub.Path, "model.safetensors"), tensors.Select(t => (t.Item1, t.Item2)),
                new Dictionary<string, string> { ["dataset"] = dataset, ["model"] = name == "pruned" ? $"{row.Model} (thin)" : row.Model, ["quickstart_step"] = row.Step });
            sub.WriteText("epochs.csv", RunDirectory.Csv(epochs));
        }
        var st = settings;
        dir.WriteConfig([("command", "quickstart"), ("dataset", dataset), ("data_root", root.Path)],
            new (string, object)[]
            {
                ("teacher", $"{Quickstart.teacherModel}, epochs by {GfkdRegistry.TeacherFolds}-fold CV inside the training part (cap {st.TeacherEpochs})"),
                ("student", Quickstart.studentModel), ("student_epochs", st.StudentEpochs), ("kd_temperature", st.KdTemperature), ("kd_alpha", st.KdAlpha),
                ("lsp_lambda", st.LspLambda), ("gfkd_iterations", st.FitIterations), ("gfkd_student_epochs", st.FakeEpochs),
                ("ga_population", st.Genetic.Population), ("ga_generations", st.Genetic.Generations), ("ga_subset", st.SubsetSize),
                ("fine_tune_epochs", st.FineTuneEpochs), ("seed", 0),
            }.Select(kv => Tuple.Create(kv.Item1, Convert.ToString(kv.Item2, System.Globalization.CultureInfo.InvariantCulture)!)));
        dir.WriteText("summary.md", Markdown(r));
        dir.WriteText("summary.json", QuickstartTable.json(Title(r), r.Rows));
        dir.WriteText("ga.csv", "generation,best,mean,best_kept,evaluated\n" + string.Concat(r.Generations.Select(g =>
            FormattableString.Invariant($"{g.Generation},{g.Best:R},{g.Mean:R},{g.BestKept},{g.Evaluated}\n"))));
        dir.WriteReport();
        Line($"done in {clock.Elapsed.TotalSeconds:F0} s");
        dir.WriteText("log.txt", log.ToString());
        return r;
    }
}
