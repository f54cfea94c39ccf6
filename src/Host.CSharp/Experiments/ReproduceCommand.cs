using System.Globalization;
using GcnKd.Host.Checkpoints;
using GcnKd.Report;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd reproduce teachers`: every teacher row of issue 3, each through the same code path as
/// `gcnkd train` (the row's command), written as experiments/results/teachers.md and teachers.json.</summary>
public static class ReproduceCommand
{
    /// <summary>One row to reproduce: the train options, the published number and the target (percent).</summary>
    public sealed record Row(string Dataset, string Model, GcnKd.Cli.Protocol Protocol, int Seeds, double? Published, double? Target, string Note);

    static readonly GcnKd.Cli.Protocol TenFold = GcnKd.Cli.Protocol.NewKFold(10);

    public static readonly Row[] Teachers =
    [
        new("Cora", "gcn", TenFold, 10, 81.5, 80.5, "Kipf & Welling 2017"),
        new("Cora", "gat", TenFold, 10, 83.0, 82.0, "Velickovic et al. 2018"),
        new("CiteSeer", "gcn", TenFold, 10, 70.3, 69.5, "Kipf & Welling 2017"),
        new("MUTAG", "gin", TenFold, 1, 89.4, 85.0, "Xu et al. 2019, GIN-0"),
        new("PROTEINS", "gin", TenFold, 1, 76.2, 73.0, "Xu et al. 2019, GIN-0"),
        new("IMDB-BINARY", "gin", TenFold, 1, 75.1, 71.0, "Xu et al. 2019, GIN-0"),
        new("PTC_MR", "gin", TenFold, 1, 64.6, 60.0, "Xu et al. 2019, GIN-0"),
    ];

    public static int Run(GcnKd.Cli.ReproduceOptions o)
    {
        var rows = Execute(o, Console.Out);
        string stem = o.Quick ? "teachers-quick" : "teachers";
        Console.WriteLine($"wrote {Path.Combine(Path.GetFullPath(o.Out), stem + ".md")} and {stem}.json ({rows.Count} rows)");
        return 0;
    }

    public static List<ResultRow> Execute(GcnKd.Cli.ReproduceOptions o, TextWriter progress)
    {
        var results = new List<ResultRow>();
        string runs = Path.Combine(Path.GetFullPath(o.Out), o.Quick ? "runs-quick" : "runs");
        foreach (var row in Teachers)
        {
            bool node = DatasetCatalog.IsNodeDataset(row.Dataset);
            var epochs = o.Quick ? FSharpOption<int>.Some(2) : FSharpOption<int>.None;
            var opts = new GcnKd.Cli.TrainOptions(row.Dataset, row.Model, row.Protocol, 0, row.Seeds, epochs, FSharpOption<int>.None, FSharpOption<int>.None, o.Data,
                Path.Combine(runs, $"{row.Dataset}-{row.Model}"));
            progress.WriteLine($"== {row.Dataset} / {row.Model}");
            var s = TrainCommand.Execute(opts, progress, o.Quick ? 1 : int.MaxValue);
            string command = node
                ? $"gcnkd train --dataset {row.Dataset} --model {row.Model} --seeds {row.Seeds} --out runs/{row.Dataset}-{row.Model}"
                : $"gcnkd train --dataset {row.Dataset} --model {row.Model} --folds 10 --out runs/{row.Dataset}-{row.Model}";
            results.Add(new ResultRow(row.Dataset, row.Model, s.Protocol, "accuracy (%)", 100 * s.Mean, 100 * s.Std, s.N, s.Params,
                row.Published is double p ? FSharpOption<double>.Some(p) : FSharpOption<double>.None,
                row.Target is double t && !o.Quick ? FSharpOption<double>.Some(t) : FSharpOption<double>.None, command));
        }
        var list = ListModule.OfSeq(results);
        string title = o.Quick ? "Teachers (smoke run: 2 epochs, one seed or fold; numbers are NOT results)" : "Teachers";
        string preamble =
            $"Produced by `gcnkd reproduce teachers{(o.Quick ? " --quick" : "")}` on {DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}. " +
            "Mean and sample standard deviation of test accuracy over seeds (node classification, fixed Planetoid split) or over " +
            "the 10 standard folds (graph classification); every epoch is selected on validation data only (Planetoid's 500 " +
            "validation nodes, or a stratified 10% of each training fold), and the test part is scored once, by that model. " +
            "Published numbers are the papers' (GIN's were selected on test folds, so ours are expected to sit lower).";
        var dir = new RunDirectory(o.Out);
        string stem = o.Quick ? "teachers-quick" : "teachers";
        dir.WriteText(stem + ".md", ResultTable.markdown(title, preamble, list));
        dir.WriteText(stem + ".json", ResultTable.json(title, list));
        return results;
    }
}
