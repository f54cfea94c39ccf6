using System.Globalization;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Runtime;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd train`: a model on a dataset under the dataset's standard protocol. Node datasets: the fixed
/// Planetoid split, repeated over seeds. Graph datasets: k-fold cross-validation on the standard folds (or a
/// shuffled hold-out split), a stratified 10 % validation part carved out of each training part for model selection;
/// the test part is read once per fold, by the selected model. Point clouds (MNIST-points, ModelNet40): the standard train/test
/// split with a stratified 10 % validation part of the (optionally subsampled) training clouds, repeated over seeds.
/// PPI: its train/valid/test graphs, micro-F1, repeated over seeds.</summary>
public static class TrainCommand
{
    /// <summary>Mean and standard deviation of the test accuracy over runs, and the runs themselves.</summary>
    public sealed record Summary(string Dataset, string Model, string Protocol, double Mean, double Std, int N, int Params, IReadOnlyList<RunOutcome> Runs);

    public static int Run(GcnKd.Cli.TrainOptions o)
    {
        var summary = ProgressBar.OnConsole(w => Execute(o, w), Path.Combine(o.Out, "log.txt"));
        string metric = summary.Runs[0].Metric.Replace('_', '-');
        Console.WriteLine($"{summary.Dataset} {summary.Model} ({summary.Protocol}): test {metric} {100 * summary.Mean:F2} ± {100 * summary.Std:F2} over {summary.N} run(s); {summary.Params} parameters; results in {Path.GetFullPath(o.Out)}");
        return 0;
    }

    /// <summary>Train as the options say; `maxRuns` keeps only the first runs (seeds or folds), for smoke runs.</summary>
    public static Summary Execute(GcnKd.Cli.TrainOptions o, TextWriter progress, int maxRuns = int.MaxValue)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        string dataset = DatasetCatalog.Canonical(o.Dataset);
        int? epochs = OptionModule.IsSome(o.Epochs) ? o.Epochs.Value : null;
        var epochsOpt = epochs is int e ? FSharpOption<int>.Some(e) : FSharpOption<int>.None;
        var dir = new RunDirectory(o.Out);
        var runs = new List<RunOutcome>();
        string protocol;
        var options = Options(o, dataset);
        // config.json with the options before the first run (once the data and model are known to be right), so that
        // an interrupted run can be resumed and checked
        void Begin() => RunResume.Begin(dir, o.Resume, [("dataset", dataset), ("model", o.Model), ("data_root", root.Path)], options);
        // one seed or fold: kept when --resume finds it finished, else trained and written (metrics.json last)
        RunOutcome RunOrKeep(string label, int seed, string protocol, Func<RunOutcome> train) => RunOrKeepFrom(label, seed, protocol, _ => train());

        // graph and point-cloud runs also keep a mid-run checkpoint (TrainSnapshots) and continue from it on --resume
        RunOutcome RunOrKeepFrom(string label, int seed, string protocol, Func<Snapshots, RunOutcome> train)
        {
            Interrupt.ThrowIfRequested();
            var sub = dir.Sub(label.Replace(' ', '-'));
            if (o.Resume && RunResume.Finished(sub, o.Model, seed) is { } kept)
            {
                progress.WriteLine($"  {label}: kept from {sub.Path} (test {100 * kept.TestAccuracy:F2})");
                return kept;
            }
            var r = train(TrainSnapshots.For(sub, o.Resume, progress, label));
            string m = r.Metric == "micro_f1" ? "micro-F1 " : "";
            progress.WriteLine($"  {label}: best epoch {r.BestEpoch}, val {m}{100 * r.ValAccuracy:F2}, test {m}{100 * r.TestAccuracy:F2}");
            sub.WriteRun(r, Meta(dataset, protocol));
            TrainSnapshots.Done(sub);
            return r;
        }

        bool isPoints = DatasetCatalog.IsPointDataset(dataset);
        if (!isPoints && OptionModule.IsSome(o.Points))
            throw new GcnKdUserError($"--points applies to point-cloud datasets ({string.Join(", ", DatasetCatalog.PointDatasets)}), not {dataset}");
        if (!isPoints && OptionModule.IsSome(o.TrainSize))
            throw new GcnKdUserError($"--train-size applies to point-cloud datasets ({string.Join(", ", DatasetCatalog.PointDatasets)}), not {dataset}");
        if (OptionModule.IsSome(o.Dropout) && (isPoints || DatasetCatalog.IsInductiveDataset(dataset) || DatasetCatalog.IsNodeDataset(dataset)))
            throw new GcnKdUserError($"--dropout applies to graph classification, not {dataset}, whose model presets fix their dropout");
        if (OptionModule.IsSome(o.ValFraction) && (isPoints || DatasetCatalog.IsInductiveDataset(dataset) || DatasetCatalog.IsNodeDataset(dataset)))
            throw new GcnKdUserError($"--val-fraction applies to graph classification (its datasets ship no validation split), not {dataset}, whose validation part is fixed");

        if (isPoints)
        {
            RequireModel(o.Model, Registry.pointModels, "point-cloud classification");
            int points = OptionModule.IsSome(o.Points) ? o.Points.Value : DatasetCatalog.DefaultPoints(dataset);
            var data = DatasetCatalog.LoadPoints(root, dataset, points);
            var (train, val) = PointParts(data, OptionModule.IsSome(o.TrainSize) ? o.TrainSize.Value : null);
            protocol = $"{DatasetCatalog.PointProtocol(dataset, points)}, {train.Length} training clouds, {val.Length} validation clouds carved from the training set, {data.Test.Length} test clouds";
            Begin();
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
            {
                string label = $"seed {s}";
                runs.Add(RunOrKeepFrom(label, s, protocol, snapshots => Registry.trainPointsFrom(o.Model, data, s, epochsOpt, train, val, snapshots, Progress(progress, label, 1, Registry.pointTrainConfig(o.Model, s, epochsOpt).Epochs))));
            }
        }
        else if (DatasetCatalog.IsInductiveDataset(dataset))
        {
            RequireModel(o.Model, Registry.inductiveModels, "inductive multi-label classification");
            var data = DatasetCatalog.LoadInductive(root, dataset);
            protocol = $"inductive: {data.Train.Length} train / {data.Val.Length} validation / {data.Test.Length} test graphs, {data.NumLabels} labels, micro-F1";
            Begin();
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
            {
                string label = $"seed {s}";
                runs.Add(RunOrKeep(label, s, protocol, () => Registry.trainInductive(o.Model, data, s, epochsOpt, Progress(progress, label, 25, epochs ?? Registry.inductivePreset(o.Model).Epochs))));
            }
        }
        else if (DatasetCatalog.IsNodeDataset(dataset))
        {
            if (!ListModule.Contains(o.Model, Registry.nodeModels))
                throw new GcnKdUserError($"model '{o.Model}' does not do node classification (node models: {string.Join(", ", Registry.nodeModels)})");
            var data = DatasetCatalog.LoadNode(root, dataset);
            protocol = $"Planetoid split {data.Train.Length}/{data.Val.Length}/{data.Test.Length}";
            Begin();
            for (int s = o.Seed; s < o.Seed + Math.Min(o.Seeds, maxRuns); s++)
            {
                string label = $"seed {s}";
                runs.Add(RunOrKeep(label, s, protocol, () => Registry.trainNode(o.Model, data, s, epochsOpt, Progress(progress, label, 25, epochs ?? Registry.nodePreset(o.Model).Epochs))));
            }
        }
        else
        {
            if (!ListModule.Contains(o.Model, Registry.graphModels))
                throw new GcnKdUserError($"model '{o.Model}' does not do graph classification (graph models: {string.Join(", ", Registry.graphModels)})");
            var data = DatasetCatalog.LoadGraph(root, dataset);
            var labels = data.Graphs.Select(g => g.Label).ToArray();
            double valFraction = OptionModule.IsSome(o.ValFraction) ? o.ValFraction.Value : DefaultValFraction;
            var dropout = OptionModule.IsSome(o.Dropout) ? FSharpOption<float>.Some((float)o.Dropout.Value) : FSharpOption<float>.None;
            protocol = "";
            Begin();
            for (int s = o.Seed; s < o.Seed + o.Seeds && runs.Count < maxRuns; s++)
            {
                var parts = Partitions(o.Protocol, data, labels, s, valFraction, out protocol);
                foreach (var (part, train, val, test) in parts.Take(maxRuns - runs.Count))
                {
                    string name = o.Seeds > 1 ? $"seed {s} {part}" : part;
                    runs.Add(RunOrKeepFrom(name, s, protocol, snapshots => Registry.trainGraphFrom(o.Model, data, s, epochsOpt, dropout, train, val, test, snapshots, Progress(progress, name, 25, epochs ?? Registry.graphPreset(o.Model).Epochs))));
                }
            }
            if (o.Seeds > 1) protocol = $"{protocol}; seeds {o.Seed}..{o.Seed + o.Seeds - 1}";
        }

        var acc = runs.Select(r => r.TestAccuracy).ToArray();
        var (mean, std) = Train.Summary.meanStd(acc).ToValueTuple();
        var summary = new Summary(dataset, o.Model, protocol, mean, std, runs.Count, runs[0].ParamCount, runs);
        dir.WriteConfig([("dataset", dataset), ("model", o.Model), ("protocol", protocol), ("data_root", root.Path)], runs[0].Config, options);
        dir.WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("dataset", dataset);
            w.WriteString("model", o.Model);
            w.WriteString("protocol", protocol);
            w.WriteString("metric", runs[0].Metric);
            w.WriteNumber("mean", mean);
            w.WriteNumber("std", std);
            w.WriteNumber("n", runs.Count);
            w.WriteNumber("params", summary.Params);
            w.WriteStartArray($"test_{runs[0].Metric}");
            foreach (var a in acc) w.WriteNumberValue(a);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        dir.WriteReport();
        return summary;
    }

    /// <summary>Validation fraction of each training part unless --val-fraction says otherwise.</summary>
    public const double DefaultValFraction = 0.1;

    /// <summary>The (name, train, validation, test) parts of a graph dataset under a protocol: the standard folds when
    /// the dataset ships them (else stratified folds drawn with <paramref name="seed"/>), and a stratified validation
    /// part of <paramref name="valFraction"/> carved from each training part with a fixed key, so that every seed
    /// selects on the same graphs.</summary>
    public static List<(string Name, int[] Train, int[] Val, int[] Test)> Partitions(GcnKd.Cli.Protocol p, GraphDataset data, int[] labels, int seed, double valFraction, out string protocol)
    {
        string valPct = $"{100 * valFraction:0.#}%";
        var parts = new List<(string, int[], int[], int[])>();
        int n = labels.Length;
        var valKey = RngModule.create(1000003);   // the validation parts are data, fixed across seeds
        if (p is GcnKd.Cli.Protocol.KFold kf)
        {
            int[][] folds;
            if (kf.folds == 10 && OptionModule.IsSome(data.Folds))
            {
                folds = data.Folds.Value;
                protocol = $"10-fold CV (standard folds), {valPct} validation per training fold";
            }
            else
            {
                folds = Splits.stratifiedKFold(RngModule.create(seed), kf.folds, labels);
                protocol = $"{kf.folds}-fold stratified CV (seed {seed}), {valPct} validation per training fold";
            }
            for (int k = 0; k < folds.Length; k++)
            {
                var rest = Splits.complement(n, folds[k]);
                var (train, val) = Splits.carveValidation(RngModule.splitN(folds.Length, valKey)[k], valFraction, labels, rest).ToValueTuple();
                parts.Add(($"fold {k + 1}", train, val, folds[k]));
            }
        }
        else if (p is GcnKd.Cli.Protocol.HoldOut h)
        {
            var (trainAll, test) = Splits.randomSplit(RngModule.create(h.seed), h.trainFraction, n).ToValueTuple();
            var (train, val) = Splits.carveValidation(valKey, valFraction, labels, trainAll).ToValueTuple();
            protocol = $"hold-out {100 * h.trainFraction:F0}/{100 - 100 * h.trainFraction:F0} (seed {h.seed}), {valPct} validation of the training part";
            parts.Add(("split", train, val, test));
        }
        else throw new GcnKdUserError("unknown protocol");
        return parts;
    }

    static void RequireModel(string model, FSharpList<string> known, string task)
    {
        if (!ListModule.Contains(model, known))
            throw new GcnKdUserError($"model '{model}' does not do {task} (models: {string.Join(", ", known)})");
    }

    /// <summary>Training and validation indices into the training clouds: an optional stratified subset of
    /// <paramref name="trainSize"/> clouds, then a stratified 10 % validation part carved from it. Both draws use
    /// fixed keys, so every seed trains and selects on the same clouds; the test clouds are never involved.</summary>
    public static (int[] Train, int[] Val) PointParts(PointCloudDataset data, int? trainSize)
    {
        var labels = data.Train.Select(c => c.Label).ToArray();
        var pool = Enumerable.Range(0, labels.Length).ToArray();
        if (trainSize is int m && m < labels.Length)
            pool = Splits.stratifiedSplit(RngModule.create(2000003), (double)m / labels.Length, labels).Item1;
        else if (trainSize is int big && big > labels.Length)
            throw new GcnKdUserError($"--train-size {big} exceeds the {labels.Length} training clouds of {data.Name}");
        var (train, val) = Splits.carveValidation(RngModule.create(1000003), 0.1, labels, pool).ToValueTuple();
        return (train, val);
    }

    /// <summary>The options that decide every run's numbers, as config.json records them for --resume (not --seed and
    /// --seeds: a resumed run may add seeds; not --data: the same dataset may move).</summary>
    static List<(string, string)> Options(GcnKd.Cli.TrainOptions o, string dataset)
    {
        var list = new List<(string, string)> { ("command", "train"), ("dataset", dataset), ("model", o.Model) };
        if (o.Protocol is GcnKd.Cli.Protocol.KFold kf) list.Add(("folds", Inv(kf.folds)));
        else if (o.Protocol is GcnKd.Cli.Protocol.HoldOut h) { list.Add(("split", Inv(h.trainFraction))); list.Add(("split-seed", Inv(h.seed))); }
        if (OptionModule.IsSome(o.Epochs)) list.Add(("epochs", Inv(o.Epochs.Value)));
        if (OptionModule.IsSome(o.Points)) list.Add(("points", Inv(o.Points.Value)));
        if (OptionModule.IsSome(o.TrainSize)) list.Add(("train-size", Inv(o.TrainSize.Value)));
        if (OptionModule.IsSome(o.ValFraction)) list.Add(("val-fraction", Inv(o.ValFraction.Value)));
        if (OptionModule.IsSome(o.Dropout)) list.Add(("dropout", Inv(o.Dropout.Value)));
        return list;
    }

    internal static string Inv(IFormattable v) => v.ToString(null, CultureInfo.InvariantCulture);

    static Dictionary<string, string> Meta(string dataset, string protocol) => new() { ["dataset"] = dataset, ["protocol"] = protocol };

    /// <summary>Epoch progress, and the point where a Ctrl-C stops a run (<see cref="Interrupt"/>): a bar over <paramref name="total"/> epochs (0: unknown) on a terminal
    /// (<see cref="ProgressBar"/>); elsewhere a line every <paramref name="every"/> epochs (and the first), plain text
    /// so logs stay readable, with the wall-clock seconds per epoch since the previous line.</summary>
    internal static FSharpFunc<EpochLog, Unit> Progress(TextWriter w, string label, int every, int total)
    {
        var bar = new ProgressBar(w, "  " + label, total, "epoch");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int last = -1;
        return FuncConvert.FromAction<EpochLog>(e =>
        {
            // runs without a validation part (GFKD's students) have no validation numbers to show
            string val = double.IsNaN(e.ValLoss) ? "" : string.Create(CultureInfo.InvariantCulture, $", val loss {e.ValLoss:F4} metric {100 * e.ValMetric:F2}");
            if (bar.Live)
                bar.Update(e.Epoch + 1, string.Create(CultureInfo.InvariantCulture, $"loss {e.TrainLoss:F4} metric {100 * e.TrainMetric:F2}{val}"));
            else if (e.Epoch % every == 0)
            {
                double perEpoch = clock.Elapsed.TotalSeconds / (e.Epoch - last);
                clock.Restart();
                last = e.Epoch;
                w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {label} epoch {e.Epoch,4}: train loss {e.TrainLoss:F4} metric {100 * e.TrainMetric:F2}{val} ({perEpoch:F1} s/epoch)"));
            }
            Interrupt.ThrowIfRequested();   // Ctrl-C: stop after this epoch, every file written so far complete
        });
    }
}
