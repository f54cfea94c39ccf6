namespace GcnKd.Host.Data;

/// <summary>
/// The summary numbers a dataset's SOURCE.md records (and papers' dataset tables quote): graphs, nodes, undirected
/// edges (an adjacency's stored entries / 2, since loaders return symmetric adjacencies without self-loops),
/// averages per graph, classes, feature width, and the class histogram.
/// </summary>
public sealed record DatasetStats(
    int Graphs, long Nodes, long UndirectedEdges, int Classes, int Features, int[] ClassCounts)
{
    public double AvgNodes => Graphs == 0 ? 0 : (double)Nodes / Graphs;
    public double AvgEdges => Graphs == 0 ? 0 : (double)UndirectedEdges / Graphs;

    public static DatasetStats Of(GraphDataset d)
    {
        var counts = new int[d.NumClasses];
        foreach (var g in d.Graphs) counts[g.Label]++;
        return new DatasetStats(d.Graphs.Length, d.Graphs.Sum(g => (long)g.Adj.Rows),
            d.Graphs.Sum(g => (long)CsrModule.nnz(g.Adj)) / 2, d.NumClasses, d.NumFeatures, counts);
    }

    public static DatasetStats Of(NodeDataset d)
    {
        var counts = new int[d.NumClasses];
        foreach (var l in d.Labels) counts[l]++;
        return new DatasetStats(1, d.Adj.Rows, CsrModule.nnz(d.Adj) / 2, d.NumClasses, d.Features.Shape[1], counts);
    }

    /// <summary>Statistics of all graphs of an inductive dataset (classes = labels; no histogram: multi-label).</summary>
    public static DatasetStats Of(InductiveDataset d)
    {
        var all = d.Train.Concat(d.Val).Concat(d.Test).ToArray();
        return new DatasetStats(all.Length, all.Sum(g => (long)g.Adj.Rows), all.Sum(g => (long)CsrModule.nnz(g.Adj)) / 2,
            d.NumLabels, d.NumFeatures, []);
    }

    /// <summary>MNIST: both splits' images (an "item" is an image; features = pixels per image).</summary>
    public static DatasetStats Of(MnistSplit train, MnistSplit test)
    {
        var counts = new int[Mnist.NumClasses];
        foreach (var l in train.Labels.Concat(test.Labels)) counts[l]++;
        return new DatasetStats(train.Count + test.Count, 0, 0, Mnist.NumClasses, train.Rows * train.Cols, counts);
    }

    /// <summary>These numbers as Core's <c>StatsCheck.Measured</c>, with the sizes of the fixed split (may be empty).</summary>
    public StatsCheck.Measured ToMeasured(params int[] split) =>
        new(Graphs, Nodes, UndirectedEdges, Classes, Features, ClassCounts, split);

    public override string ToString() =>
        $"graphs={Graphs} nodes={Nodes} avg_nodes={AvgNodes:F2} undirected_edges={UndirectedEdges} " +
        $"avg_edges={AvgEdges:F2} classes={Classes} features={Features} class_counts=[{string.Join(", ", ClassCounts)}]";
}
