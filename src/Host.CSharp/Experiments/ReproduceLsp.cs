using System.Globalization;
using GcnKd.Report;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd reproduce lsp`: on each Planetoid dataset, one teacher (trained by the first row, reused by the
/// others through --teacher) and the student alone, KD, FitNet, AT and LSP with each score function, over 10 seeds,
/// each row through `gcnkd distill` (the row's command); written as experiments/results/lsp.md and lsp.json.</summary>
public static class ReproduceLsp
{
    static FSharpOption<int> Opt(int? v) => v is int x ? FSharpOption<int>.Some(x) : FSharpOption<int>.None;

    /// <summary>One dataset's block of rows: its methods, seeds and (MNIST-points) training subset and epochs.</summary>
    /// <summary>One dataset's block of rows: its methods, seeds and (MNIST-points) training subset and epochs.
    /// Published holds the paper's numbers by method name; an Optional study whose data is absent from the data root
    /// is listed with those numbers and no result of ours.</summary>
    public sealed record Study(string Dataset, string Teacher, string Student, (string Method, string Kernel)[] Methods, int Seeds,
        int? TrainSize = null, int? Epochs = null, bool Optional = false, IReadOnlyDictionary<string, double>? Published = null);

    static readonly (string, string)[] NodeMethods =
        [("none", "rbf"), ("kd", "rbf"), ("fitnet", "rbf"), ("at", "rbf"),
         ("lsp", "rbf"), ("lsp", "rbf-auto"), ("lsp", "linear"), ("lsp", "poly"), ("lsp", "sqdist"), ("lsp", "l1exp")];

    public static readonly Study[] Studies =
    [
        new("Cora", "GAT 8x32, 8x32", "GAT 2x8, 2x8", NodeMethods, 10),
        new("CiteSeer", "GAT 8x32, 8x32", "GAT 2x8, 2x8", NodeMethods, 10),
        new("MNIST-points", "DGCNN 64-64-128-256, k 20", "DGCNN 32-32-64-128, k 10",
            [("none", "rbf"), ("kd", "rbf"), ("lsp", "rbf-auto")], 3, TrainSize: 3000, Epochs: 10),
        // the LSP paper's own setting; its Table 2 reports the LSP student at 96.1 micro-F1 (the other rows' published
        // values could not be verified, see shared/reference/lsp-notes.md section 3)
        new("PPI", "GAT 4x256, 4x256, 6 heads", "GAT 4 x (2x68), 2 heads",
            [("none", "l1exp"), ("kd", "l1exp"), ("fitnet", "l1exp"), ("at", "l1exp"), ("lsp", "l1exp")], 1,
            Optional: true, Published: new Dictionary<string, double> { ["lsp"] = 96.1 }),
    ];

    /// <summary>Why an optional (PPI-layout) dataset cannot run here (its files are not in the data root), or null when
    /// they are all present; only the files are checked, the dataset is loaded once, by its rows.</summary>
    static string? Missing(string dataset, GcnKd.Cli.ReproduceOptions o)
    {
        try
        {
            var root = Data.DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
            root.Require(dataset, dataset, Data.Ppi.RequiredFiles());
            return null;
        }
        // named relative to the data root, so the table does not carry this machine's paths
        catch (Errors.GcnKdUserError) { return $"the {dataset} files are not in the data root (expected {string.Join(", ", Data.Ppi.RequiredFiles().Select(f => $"{dataset}/{f}"))})"; }
    }

    public static List<DistillRow> Execute(GcnKd.Cli.ReproduceOptions o, TextWriter progress)
    {
        var rows = new List<DistillRow>();
        string runs = Path.Combine(Path.GetFullPath(o.Out), o.Quick ? "runs-quick" : "runs");
        foreach (var study in Studies)
        {
            string dataset = study.Dataset;
            string teacherRel = $"runs/{dataset}-lsp/none/teacher/model.safetensors";
            string extra = (study.TrainSize is int ts ? $" --train-size {ts}" : "") + (study.Epochs is int ep ? $" --epochs {ep}" : "");
            string? missing = study.Optional ? Missing(study.Dataset, o) : null;
            foreach (var (method, kernel) in study.Methods)
            {
                var published = study.Published is { } pub && pub.TryGetValue(method, out var pv) ? FSharpOption<double>.Some(pv) : FSharpOption<double>.None;
                if (missing is not null)
                {
                    var (mname, mkernel) = DistillMethodModule.describe(DistillMethodModule.ofName(method, kernel)).ToValueTuple();
                    rows.Add(new DistillRow(dataset, study.Teacher, study.Student, mname, mkernel, "micro_f1 (%)", double.NaN, double.NaN, 0,
                        Tree.count(Gat.init(Gat.ppiTeacher(50, 121), RngModule.create(0))), Tree.count(Gat.init(Gat.ppiStudent(50, 121), RngModule.create(0))),
                        double.NaN, published, $"not run: {missing}"));
                    continue;
                }
                string name = method == "lsp" ? $"lsp-{kernel}" : method;
                bool first = method == "none";
                string outDir = Path.Combine(runs, $"{dataset}-lsp", name);
                var teacher = first ? FSharpOption<string>.None
                    : FSharpOption<string>.Some(Path.Combine(runs, $"{dataset}-lsp", "none", "teacher", "model.safetensors"));
                int? trainSize = o.Quick && study.TrainSize is int q ? Math.Min(q, 200) : study.TrainSize;
                int? epochs = o.Quick ? (study.TrainSize is null ? 2 : 1) : study.Epochs;
                var opts = new GcnKd.Cli.DistillCliOptions(dataset, method, kernel, 1.0f, FSharpOption<int>.None, 0, study.Seeds,
                    Opt(epochs), teacher, FSharpOption<int>.None, Opt(trainSize), o.Resume, o.Data, outDir);
                int wanted = o.Quick ? 1 : study.Seeds;
                var s = o.Resume ? DistillCommand.ReadFinished(outDir, wanted) : null;
                progress.WriteLine(s is null ? $"== {dataset} / {name}" : $"== {dataset} / {name}: kept from {outDir}");
                s ??= DistillCommand.Execute(opts, progress, o.Quick ? 1 : int.MaxValue);
                string command = $"gcnkd distill --dataset {dataset} --method {method}" + (method == "lsp" ? $" --kernel {kernel}" : "") +
                                 $" --seeds {study.Seeds}{extra}" + (first ? "" : $" --teacher {teacherRel}") + $" --out runs/{dataset}-lsp/{name}";
                rows.Add(new DistillRow(dataset, study.Teacher, study.Student, s.Method, s.Kernel, s.Metric == "accuracy" ? "accuracy (%)" : s.Metric + " (%)",
                    100 * s.Mean, 100 * s.Std, s.N, s.TeacherParams, s.StudentParams, 100 * s.TeacherTest, published, command));
            }
        }
        var list = ListModule.OfSeq(rows);
        string title = o.Quick ? "LSP and its baselines (smoke run: 2 epochs, one seed; numbers are NOT results)" : "LSP and its baselines";
        string preamble =
            $"Produced by `gcnkd reproduce lsp{(o.Quick ? " --quick" : "")}` on {DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}. " +
            "Transductive node classification on the fixed Planetoid split. One teacher per dataset (GAT, 2 hidden layers of 8 heads x 32, " +
            "residual, trained with seed 0, frozen, read in inference mode); the student is the same design with 2 heads x 8 (about 19x " +
            "fewer parameters). Every student is trained with the GAT preset (Adam 0.005, weight decay 5e-4, up to 1000 epochs, early " +
            "stopping with patience 100) and selected on validation accuracy; mean and sample standard deviation of test accuracy over " +
            "10 seeds. KD: T = 4, alpha = 0.5, soft targets on every node. FitNet, AT and LSP pair the teacher's last hidden layer with " +
            "the student's, weight lambda = 1 on every epoch (the LSP code's --loss-weight; not tuned); LSP compares each node's " +
            "neighbours (the data's edges, no self-loops). MNIST point clouds: the DGCNN teacher of the teachers table's design trained " +
            "on a stratified 3000-cloud subset for 10 epochs, a thin DGCNN student (about 4x fewer parameters, k = 10 against the " +
            "teacher's 20, so the two kNN graphs differ), 3 seeds, LSP on every EdgeConv pair over the union of the two kNN graphs with " +
            "the rbf-auto score (batch-normed point features are far apart, so a fixed sigma of 1 gives near one-hot distributions), " +
            "lambda = 1, selection on the lowest validation loss, all 10,000 test clouds. rbf-auto sets sigma^2 per model to the mean " +
            "squared distance over the graph's edges. \"vs student alone\" is the difference of means, marked when it exceeds the " +
            "larger of the two standard deviations. PPI is the paper's own setting (its teacher and student, the released pairing, " +
            "kernel exp(-L1/100) and first-30-epochs schedule, one seed); its rows run when the PPI files are in the data root " +
            "and otherwise show the paper's number only (LSP student 96.1 micro-F1, Table 2).";
        var dir = new RunDirectory(o.Out);
        string stem = o.Quick ? "lsp-quick" : "lsp";
        dir.WriteText(stem + ".md", DistillTable.markdown(title, preamble, list));
        dir.WriteText(stem + ".json", DistillTable.json(title, list));
        return rows;
    }
}
