using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>`gcnkd eval`: a checkpoint's model (its name and dataset from the checkpoint's metadata unless given)
/// rebuilt through <see cref="Evaluation"/> and scored on the dataset's parts; read-only. Node datasets: the
/// Planetoid train / validation / test nodes. Graph datasets: every graph, or the parts of a `train` fold or split,
/// or GFKD's 70 / 30.</summary>
public static class EvalCommand
{
    public static int Run(GcnKd.Cli.EvalOptions o)
    {
        var (model, dataset, scores) = Execute(o);
        Console.WriteLine($"{model} on {dataset} ({Path.GetFullPath(o.Checkpoint)}):");
        foreach (var s in scores)
            Console.WriteLine($"  {s.Part,-12} {s.Items,6} items  loss {s.Loss:F4}  accuracy {100 * s.Accuracy:F2} %");
        return 0;
    }

    public static (string Model, string Dataset, List<PartScore> Scores) Execute(GcnKd.Cli.EvalOptions o)
    {
        var checkpoint = CheckpointFile.Load(o.Checkpoint);
        string From(FSharpOption<string> given, string key, string flag) =>
            OptionModule.IsSome(given) ? given.Value
            : checkpoint.Metadata.TryGetValue(key, out var v) ? v
            : throw new GcnKdUserError($"checkpoint {o.Checkpoint} does not record its {key}; give it with {flag}");
        string model = From(o.Model, "model", "--model");
        string dataset = DatasetCatalog.Canonical(From(o.Dataset, "dataset", "--dataset"));
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        var named = checkpoint.Tensors.Select(t => Tuple.Create(t.Name, t.Tensor)).ToArray();
        try
        {
            if (DatasetCatalog.IsNodeDataset(dataset))
            {
                if (!o.Parts.IsAllGraphs)
                    throw new GcnKdUserError($"--fold, --split and --gfkd-split apply to graph classification; {dataset} has its fixed Planetoid split");
                return (model, dataset, Evaluation.node(model, DatasetCatalog.LoadNode(root, dataset), named).ToList());
            }
            if (!DatasetCatalog.GraphDatasets.Contains(dataset))
                throw new GcnKdUserError($"eval scores node classification ({string.Join(", ", DatasetCatalog.NodeDatasets)}) and graph classification ({string.Join(", ", DatasetCatalog.GraphDatasets)}); not {dataset}");
            var data = DatasetCatalog.LoadGraph(root, dataset);
            var parts = Parts(o, data);
            return (model, dataset, Evaluation.graph(model, data, named, ListModule.OfSeq(parts)).ToList());
        }
        catch (ArgumentException e)
        {
            throw new GcnKdUserError($"checkpoint {o.Checkpoint} does not fit a {model} on {dataset}: {e.Message}", e);
        }
    }

    static List<Tuple<string, int[]>> Parts(GcnKd.Cli.EvalOptions o, GraphDataset data)
    {
        var labels = data.Graphs.Select(g => g.Label).ToArray();
        double valFraction = OptionModule.IsSome(o.ValFraction) ? o.ValFraction.Value : TrainCommand.DefaultValFraction;
        List<Tuple<string, int[]>> Of((string Name, int[] Train, int[] Val, int[] Test) p) =>
            [Tuple.Create("train", p.Train), Tuple.Create("validation", p.Val), Tuple.Create("test", p.Test)];
        switch (o.Parts)
        {
            case GcnKd.Cli.EvalParts.StandardFold f:
                if (OptionModule.IsNone(data.Folds))
                    throw new GcnKdUserError($"--fold {f.k}: {data.Name} ships no standard 10-fold split in the data root");
                return Of(TrainCommand.Partitions(GcnKd.Cli.Protocol.NewKFold(10), data, labels, 0, valFraction, out _)[f.k - 1]);
            case GcnKd.Cli.EvalParts.HoldOutParts h:
                return Of(TrainCommand.Partitions(GcnKd.Cli.Protocol.NewHoldOut(h.trainFraction, h.seed), data, labels, 0, valFraction, out _)[0]);
            default:
                if (o.Parts.IsGfkdParts)
                {
                    var (train, test) = GfkdRegistry.split(data, 0).ToValueTuple();
                    return [Tuple.Create("train (70 %)", train), Tuple.Create("test (30 %)", test)];
                }
                return [Tuple.Create("all", Enumerable.Range(0, data.Graphs.Length).ToArray())];
        }
    }
}
