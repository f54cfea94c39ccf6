using System.Globalization;
using GcnKd.Evolution;
using GcnKd.Report;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd reproduce evolution`: LeNet-5 on MNIST, GIN5_64 on PROTEINS and the GAT on Cora through `gcnkd
/// evolve` with its defaults over 3 seeds (the full network, the GA's thin network, and the L1-norm and random masks
/// at the GA's size), written as
/// experiments/results/evolution.md and evolution.json, with the GA's best and mean fitness per generation of seed 0
/// as evolution-RUN-ga.svg.</summary>
public static class ReproduceEvolution
{
    public const int Seeds = 3;

    /// <summary>The table's networks: model, dataset, run directory, and the smoke settings of --quick.</summary>
    static readonly (string Model, string? Dataset, string Dir, string Command)[] Runs =
    [
        ("lenet", null, "lenet-mnist", $"gcnkd evolve --seeds {Seeds} --out runs/evolution/lenet-mnist"),
        ("gin", "PROTEINS", "gin-proteins", $"gcnkd evolve --model gin --dataset PROTEINS --seeds {Seeds} --out runs/evolution/gin-proteins"),
        ("gat", "Cora", "gat-cora", $"gcnkd evolve --model gat --dataset Cora --seeds {Seeds} --out runs/evolution/gat-cora"),
    ];

    public static List<EvolutionRow> Execute(GcnKd.Cli.ReproduceOptions o, TextWriter progress)
    {
        string runs = Path.Combine(Path.GetFullPath(o.Out), o.Quick ? "runs-quick" : "runs");
        var some = FSharpOption<int>.Some;
        var none = FSharpOption<int>.None;
        var rows = new List<EvolutionRow>();
        foreach (var (model, dataset, runDir, command) in Runs)
        {
            string outDir = Path.Combine(runs, "evolution", runDir);
            var opts = new GcnKd.Cli.EvolveCliOptions(model, dataset is null ? FSharpOption<string>.None : FSharpOption<string>.Some(dataset), none, 0, o.Quick ? 1 : Seeds,
                o.Quick ? some(3) : none, o.Quick ? some(6) : none, o.Quick && model != "gat" ? some(model == "lenet" ? 200 : 40) : none, FSharpOption<FitnessForm>.None,
                o.Quick ? some(model == "gat" ? 3 : 1) : none, o.Quick ? some(1) : none, FSharpOption<float>.None, false, FSharpOption<string>.None,
                o.Quick && model != "gat" ? some(model == "lenet" ? 600 : 100) : none, o.Resume, o.Data, outDir);
            progress.WriteLine($"== {model} / {dataset ?? "MNIST"}");
            var s = EvolveCommand.Execute(opts, progress);
            string Kept(int[] counts) => string.Join(", ", s.Groups.Select((g, i) => $"{g.Name} {counts[i]}/{g.Units}"));
            rows.Add(new EvolutionRow(s.Model, s.Dataset, "full", Kept(s.Groups.Select(g => g.Units).ToArray()), s.FullParams, s.FullMults, 1.0, 1.0,
                double.NaN, 100 * s.FullTest, 0.0, 1, s.FullMsBatch1, s.FullMsBatch256, command));
            foreach (var m in s.Methods)
            {
                bool ga = m.Method == "ga";
                rows.Add(new EvolutionRow(s.Model, s.Dataset, m.Method, Kept(m.Counts), m.Params, m.Mults,
                    (double)s.FullParams / m.MaxParams, (double)s.FullMults / m.MaxMults,
                    100 * m.TestBefore, 100 * m.TestAfter, 100 * m.TestAfterStd, m.N,
                    ga ? s.ThinMsBatch1 : double.NaN, ga ? s.ThinMsBatch256 : double.NaN, command));
            }
        }
        var list = ListModule.OfSeq(rows);
        string title = o.Quick
            ? "Evolutionary compression (smoke run: a few training images or graphs, 1-3 epochs, 3 generations of 6; numbers are NOT results)"
            : "Evolutionary compression";
        string preamble =
            $"Produced by `gcnkd reproduce evolution{(o.Quick ? " --quick" : "")}` on {DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}. " +
            "LeNet-5 as in Caffe's MNIST example (conv 20 and 50 filters of 5x5, fc 500, fc 10), trained once (seed 0; Adam 1e-3 halved every " +
            "5 epochs, 15 epochs, batch 64, the epoch chosen on a fixed 5,000-image validation carve of the 60,000 training images). " +
            "Per seed (3): the genetic search (population 32, 50 generations, roulette copy 0.2 / two-point crossover 0.7 / segment-flip " +
            "mutation 0.1, one elite, uniform random start) over one bit per conv1 filter, conv2 filter and fc1 unit; fitness on a " +
            "fixed random subset of 2,000 training images without fine-tuning: subset accuracy - 0.2 x FLOPs ratio - 0.2 x parameter " +
            "ratio. The fittest mask is rebuilt as a physically smaller LeNet from the trained weights and fine-tuned (Adam 5e-4 halved " +
            "every 4 epochs, 10 epochs, labels only, the epoch chosen on validation); the L1-norm (largest producing-weight norms) and " +
            "random masks keep the GA's counts per layer and get the same fine-tuning. Test accuracy on the 10,000 test images, once " +
            "per selected network: before fine-tuning (the rebuilt weights as they are) and after it, mean and sample std over the " +
            "seeds. kept, params and mults are seed 0's network; rc = params(full) / params(thin) and rs = mults(full) / mults(thin) " +
            "are the worst over the seeds. Multiplications are counted per image (conv: out x in x k^2 per output position; fc: in x " +
            "out). Inference time: median wall time of one forward pass on this machine (2 cores, all threads), measured when the " +
            "table is built, from the saved full network and the GA's saved thin network of each seed, median over the seeds; the " +
            "baselines have the GA's shapes. \"GA's margin\" is the GA's " +
            "mean minus the baseline's, in bold when larger than the larger std. Goals (issue 6): rc >= 5, rs >= 3, at most 0.3 " +
            "points below the full network after fine-tuning, >= 2x measured speed-up at batch 256, the GA ahead of both baselines. " +
            "GIN5_64 on PROTEINS (Xu et al.'s GIN-0, 4 GIN layers of 64 with 2-layer MLPs, sum readout over every layer): the standard " +
            "fold 1 is the test part, a stratified 10 % validation part is carved from the rest; the full GIN is trained with the " +
            "teachers table's preset (350 epochs, selection on validation loss); the GA (same schedule and fitness form) removes " +
            "hidden MLP units and output channels of every layer on 300 training graphs (batch-norm running statistics are thinned " +
            "with their channels); fine-tuning: 100 epochs, Adam 1e-3 halved every 50, KD from the full network (T = 4, alpha 0.5). " +
            "Multiplications per mean training graph. GAT on Cora (the paper's 8 heads x 8, one averaged output head): the fixed " +
            "Planetoid split; the GA removes heads and channels of the hidden layer scored on the 140 training nodes; fine-tuning " +
            "with KD (T = 4, alpha 0.5) up to 300 epochs (patience 100), selection on validation accuracy; inference is one pass over " +
            "the whole graph (both timing columns). The full networks' rows are one trained network each.";
        var dir = new RunDirectory(o.Out);
        string stem = o.Quick ? "evolution-quick" : "evolution";
        dir.WriteText(stem + ".md", EvolutionTable.markdown(title, preamble, list));
        dir.WriteText(stem + ".json", EvolutionTable.json(title, list));
        foreach (var (_, _, runDir, _) in Runs)
            dir.WriteText($"{stem}-{runDir}-ga.svg", File.ReadAllText(Path.Combine(runs, "evolution", runDir, "seed-0", "ga.svg")));
        return rows;
    }
}
