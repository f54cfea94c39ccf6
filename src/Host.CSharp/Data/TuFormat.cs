using GcnKd.Host.Errors;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Data;

/// <summary>
/// The TU Dortmund graph-classification format (Morris et al. 2020), read as PyG's <c>read_tu_data</c> does:
/// <c>NAME_A.txt</c> (one edge "row, col" per line, 1-based node ids over the whole dataset),
/// <c>NAME_graph_indicator.txt</c> (the 1-based graph of every node), <c>NAME_graph_labels.txt</c> (one label per
/// graph), optional <c>NAME_node_labels.txt</c> and <c>NAME_node_attributes.txt</c> (one line per node).
/// <list type="bullet">
/// <item>Edges: de-duplicated (IMDB-BINARY lists every edge twice), symmetrised, self-loops removed.</item>
/// <item>Graph labels: remapped to 0..C-1 in sorted order of the raw values (MUTAG -1/1 -> 0/1).</item>
/// <item>Node features: one-hot node labels, each label column shifted by its minimum and one-hot over
/// max - min + 1 values (PyG). Node attributes are appended after the one-hot labels only when
/// <c>useNodeAttributes</c> is set: the default is labels only, like PyG's <c>TUDataset(use_node_attr=False)</c>
/// (PyG puts attributes first; column order does not matter to the models). A dataset without node labels
/// (IMDB-BINARY) gets one-hot degrees over 0..max degree of the whole dataset (PyG <c>OneHotDegree</c>).</item>
/// </list>
/// </summary>
public static class TuFormat
{
    public static string[] RequiredFiles(string name) =>
        [$"{name}_A.txt", $"{name}_graph_indicator.txt", $"{name}_graph_labels.txt"];

    /// <summary>Load dataset <paramref name="name"/> from the folder <c>root/NAME</c>.</summary>
    public static GraphDataset Load(DataRoot root, string name, bool useNodeAttributes = false) =>
        LoadFolder(root.Require(name, name, RequiredFiles(name)), name, useNodeAttributes);

    /// <summary>Load the TU files of <paramref name="name"/> from <paramref name="dir"/>.</summary>
    public static GraphDataset LoadFolder(string dir, string name, bool useNodeAttributes = false)
    {
        string P(string suffix) => Path.Combine(dir, $"{name}_{suffix}.txt");

        var labelsFile = TextLines.Read(P("graph_labels"));
        var (_, labels) = GraphBuild.Unique(labelsFile.IntColumn("one integer graph label"));
        var numGraphs = labels.Length;
        if (numGraphs == 0) throw labelsFile.FileError("no graphs; expected one label per graph");
        var classes = labels.Max() + 1;

        var indicator = TextLines.Read(P("graph_indicator"));
        var graphOf = indicator.IntColumn("the graph id of the node");
        var numNodes = graphOf.Length;
        var sizes = new int[numGraphs];
        var local = new int[numNodes];
        for (var i = 0; i < numNodes; i++)
        {
            var g = graphOf[i] - 1;
            if ((uint)g >= (uint)numGraphs)
                throw indicator.Error(i, $"a graph id in 1..{numGraphs} ({numGraphs} graphs in {Path.GetFileName(labelsFile.Path)})");
            graphOf[i] = g;
            local[i] = sizes[g]++;
        }
        for (var g = 0; g < numGraphs; g++)
            if (sizes[g] == 0)
                throw indicator.FileError($"graph {g + 1} has no nodes; expected every graph id 1..{numGraphs} to appear");

        var (src, dst, edgeOffsets) = ReadEdges(TextLines.Read(P("A")), graphOf, local, numGraphs, numNodes);
        var adj = new Csr[numGraphs];
        for (var g = 0; g < numGraphs; g++)
        {
            var (a, b) = (edgeOffsets[g], edgeOffsets[g + 1]);
            adj[g] = GraphBuild.SymmetricAdjacency(sizes[g], src.AsSpan(a, b - a), dst.AsSpan(a, b - a));
        }

        // node feature columns: (per node) one-hot positions, then raw attribute values
        var (hot, hotWidth) = File.Exists(P("node_labels"))
            ? NodeLabelColumns(TextLines.Read(P("node_labels")), numNodes)
            : DegreeColumns(adj, graphOf, local);
        double[][]? attrs = null;
        if (useNodeAttributes && File.Exists(P("node_attributes")))
            attrs = AttributeRows(TextLines.Read(P("node_attributes")), numNodes);
        var width = hotWidth + (attrs?[0].Length ?? 0);

        var feats = new float[numGraphs][];
        for (var g = 0; g < numGraphs; g++) feats[g] = new float[sizes[g] * width];
        for (var i = 0; i < numNodes; i++)
        {
            var row = feats[graphOf[i]].AsSpan(local[i] * width, width);
            foreach (var h in hot[i]) row[h] = 1f;
            if (attrs is not null)
                for (var k = 0; k < attrs[i].Length; k++) row[hotWidth + k] = (float)attrs[i][k];
        }

        var graphs = new GraphSample[numGraphs];
        for (var g = 0; g < numGraphs; g++)
            graphs[g] = new GraphSample(adj[g], TensorModule.ofArray([sizes[g], width], feats[g]), labels[g]);
        return new GraphDataset(name, graphs, classes, width, FSharpOption<int[][]>.None);
    }

    /// <summary>The edges of A.txt, grouped by graph, as local (0-based, within-graph) node ids.</summary>
    private static (int[] Src, int[] Dst, int[] Offsets) ReadEdges(TextLines a, int[] graphOf, int[] local, int numGraphs, int numNodes)
    {
        var u = new int[a.Count];
        var v = new int[a.Count];
        var counts = new int[numGraphs + 1];
        for (var i = 0; i < a.Count; i++)
        {
            var e = a.Ints(i, "an edge 'row, col' of two node ids", 2);
            if (e[0] < 1 || e[0] > numNodes || e[1] < 1 || e[1] > numNodes)
                throw a.Error(i, $"node ids in 1..{numNodes} (the number of lines of the graph indicator file)");
            (u[i], v[i]) = (e[0] - 1, e[1] - 1);
            if (graphOf[u[i]] != graphOf[v[i]])
                throw a.Error(i, $"an edge within one graph, but node {e[0]} is in graph {graphOf[u[i]] + 1} and node {e[1]} in graph {graphOf[v[i]] + 1}");
            counts[graphOf[u[i]] + 1]++;
        }
        for (var g = 0; g < numGraphs; g++) counts[g + 1] += counts[g];
        var next = counts[..numGraphs];
        var src = new int[a.Count];
        var dst = new int[a.Count];
        for (var i = 0; i < a.Count; i++)
        {
            var k = next[graphOf[u[i]]]++;
            (src[k], dst[k]) = (local[u[i]], local[v[i]]);
        }
        return (src, dst, counts);
    }

    /// <summary>One-hot positions per node for node_labels (one or more label columns, each one-hot over its own
    /// min..max range, columns concatenated).</summary>
    private static (int[][] Hot, int Width) NodeLabelColumns(TextLines f, int numNodes)
    {
        if (f.Count != numNodes)
            throw f.FileError($"{f.Count} lines, but the graph indicator lists {numNodes} nodes; expected one line per node");
        var cols = f.Fields(0).Count;
        var rows = new int[numNodes][];
        for (var i = 0; i < numNodes; i++) rows[i] = f.Ints(i, "the node label(s)", cols);
        var offset = 0;
        for (var c = 0; c < cols; c++)
        {
            var (min, max) = (rows.Min(r => r[c]), rows.Max(r => r[c]));
            foreach (var r in rows) r[c] = offset + r[c] - min;
            offset += max - min + 1;
        }
        return (rows, offset);
    }

    /// <summary>One-hot degree over 0..(max degree of the whole dataset).</summary>
    private static (int[][] Hot, int Width) DegreeColumns(Csr[] adj, int[] graphOf, int[] local)
    {
        var degrees = adj.Select(GraphBuild.Degrees).ToArray();
        var maxDegree = degrees.Max(d => d.Length == 0 ? 0 : d.Max());
        var hot = new int[graphOf.Length][];
        for (var i = 0; i < hot.Length; i++) hot[i] = [degrees[graphOf[i]][local[i]]];
        return (hot, maxDegree + 1);
    }

    private static double[][] AttributeRows(TextLines f, int numNodes)
    {
        if (f.Count != numNodes)
            throw f.FileError($"{f.Count} lines, but the graph indicator lists {numNodes} nodes; expected one line per node");
        var cols = f.Fields(0).Count;
        var rows = new double[numNodes][];
        for (var i = 0; i < numNodes; i++) rows[i] = f.Doubles(i, "the node attribute(s)", cols);
        return rows;
    }
}
