using System.Text.Json;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>
/// PPI (Zitnik &amp; Leskovec 2017, the GraphSAGE/GAT inductive benchmark) in DGL's layout, per split
/// (train, valid, test): <c>{split}_graph.json</c> (networkx node-link JSON: "nodes" [{"id": i, ..}], "links"
/// [{"source": s, "target": t}], ids 0..N-1 of the split), <c>{split}_feats.npy</c> [N, F],
/// <c>{split}_labels.npy</c> [N, L] (0/1 per label) and <c>{split}_graph_id.npy</c> [N] (the graph of every node).
/// Nodes are split into graphs by graph id (graphs in increasing id order, nodes in increasing node id order
/// within a graph; row k of the .npy files is node id k); edges must join nodes of one graph and are
/// symmetrised and de-duplicated, self-loops dropped (models add their own).
/// </summary>
public static class Ppi
{
    public static readonly string[] SplitNames = ["train", "valid", "test"];

    public static string[] RequiredFiles() =>
        SplitNames.SelectMany(s => new[] { $"{s}_graph.json", $"{s}_feats.npy", $"{s}_labels.npy", $"{s}_graph_id.npy" }).ToArray();

    public static InductiveDataset Load(DataRoot root, string name = "PPI") =>
        LoadFolder(root.Require(name, name, RequiredFiles()), name);

    public static InductiveDataset LoadFolder(string dir, string name)
    {
        var splits = SplitNames.Select(s => LoadSplit(dir, s)).ToArray();
        var (features, labels) = (splits[0].Features, splits[0].Labels);
        for (var i = 1; i < splits.Length; i++)
        {
            if (splits[i].Features != features)
                throw new GcnKdUserError($"{Path.Combine(dir, SplitNames[i] + "_feats.npy")}: {splits[i].Features} feature columns, but the train split has {features}");
            if (splits[i].Labels != labels)
                throw new GcnKdUserError($"{Path.Combine(dir, SplitNames[i] + "_labels.npy")}: {splits[i].Labels} label columns, but the train split has {labels}");
        }
        return new InductiveDataset(name, splits[0].Graphs, splits[1].Graphs, splits[2].Graphs, features, labels);
    }

    private static (LabelledGraph[] Graphs, int Features, int Labels) LoadSplit(string dir, string split)
    {
        string P(string suffix) => Path.Combine(dir, $"{split}_{suffix}");
        var feats = Npy.Read(P("feats.npy"));
        var labels = Npy.Read(P("labels.npy"));
        var graphIdArray = Npy.Read(P("graph_id.npy"));
        if (feats.Shape.Length != 2) throw new GcnKdUserError($"{P("feats.npy")}: shape ({string.Join(", ", feats.Shape)}); expected [nodes, features]");
        if (labels.Shape.Length != 2) throw new GcnKdUserError($"{P("labels.npy")}: shape ({string.Join(", ", labels.Shape)}); expected [nodes, labels]");
        if (graphIdArray.Shape.Length != 1) throw new GcnKdUserError($"{P("graph_id.npy")}: shape ({string.Join(", ", graphIdArray.Shape)}); expected [nodes]");
        var n = feats.Shape[0];
        if (labels.Shape[0] != n) throw new GcnKdUserError($"{P("labels.npy")}: {labels.Shape[0]} rows, but {split}_feats.npy has {n}; expected one row per node");
        if (graphIdArray.Shape[0] != n) throw new GcnKdUserError($"{P("graph_id.npy")}: {graphIdArray.Shape[0]} entries, but {split}_feats.npy has {n} rows; expected one per node");
        long[] graphId;
        try
        {
            graphId = graphIdArray.ToInt64s();
        }
        catch (InvalidDataException e)
        {
            throw new GcnKdUserError($"{P("graph_id.npy")}: {e.Message}");
        }
        var (src, dst) = ReadNodeLink(P("graph.json"), n, graphId);

        var ids = graphId.Distinct().Order().ToArray();
        var graphOf = graphId.Select(g => Array.BinarySearch(ids, g)).ToArray();
        var sizes = new int[ids.Length];
        var local = new int[n];
        for (var i = 0; i < n; i++) local[i] = sizes[graphOf[i]]++;
        var edgesOf = Enumerable.Range(0, ids.Length).Select(_ => (Src: new List<int>(), Dst: new List<int>())).ToArray();
        for (var e = 0; e < src.Length; e++)
        {
            var g = graphOf[src[e]];
            edgesOf[g].Src.Add(local[src[e]]);
            edgesOf[g].Dst.Add(local[dst[e]]);
        }
        var (f, l) = (feats.Shape[1], labels.Shape[1]);
        var fv = feats.ToSingles();
        var lv = labels.ToSingles();
        var graphs = new LabelledGraph[ids.Length];
        for (var g = 0; g < ids.Length; g++)
        {
            var x = new float[sizes[g] * f];
            var t = new float[sizes[g] * l];
            for (var i = 0; i < n; i++)
            {
                if (graphOf[i] != g) continue;
                Array.Copy(fv, (long)i * f, x, (long)local[i] * f, f);
                Array.Copy(lv, (long)i * l, t, (long)local[i] * l, l);
            }
            graphs[g] = new LabelledGraph(
                GraphBuild.SymmetricAdjacency(sizes[g], edgesOf[g].Src.ToArray(), edgesOf[g].Dst.ToArray()),
                TensorModule.ofArray([sizes[g], f], x), TensorModule.ofArray([sizes[g], l], t));
        }
        return (graphs, f, l);
    }

    /// <summary>The links of a node-link JSON file as node-id pairs, checked against n nodes and their graphs.</summary>
    private static (int[] Src, int[] Dst) ReadNodeLink(string path, int n, long[] graphId)
    {
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(path);
            doc = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new GcnKdUserError($"{path}, line {(e.LineNumber ?? 0) + 1}: not valid JSON: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"{path} could not be read: {e.Message}", e);
        }
        using (doc)
        {
            GcnKdUserError Bad(string what) => new($"{path}: {what}");
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("nodes", out var nodes) || nodes.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("links", out var links) || links.ValueKind != JsonValueKind.Array)
                throw Bad("expected a node-link object with \"nodes\" and \"links\" arrays");
            if (nodes.GetArrayLength() != n)
                throw Bad($"{nodes.GetArrayLength()} nodes, but the .npy files have {n} rows; expected one node per row");
            var seen = new bool[n];
            var k = 0;
            foreach (var node in nodes.EnumerateArray())
            {
                if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty("id", out var idEl)
                    || !idEl.TryGetInt32(out var id) || id < 0 || id >= n)
                    throw Bad($"node {k}: expected {{\"id\": i}} with an integer id in 0..{n - 1}");
                if (seen[id]) throw Bad($"node {k}: id {id} appears twice");
                seen[id] = true;
                k++;
            }
            var src = new int[links.GetArrayLength()];
            var dst = new int[src.Length];
            k = 0;
            foreach (var link in links.EnumerateArray())
            {
                if (link.ValueKind != JsonValueKind.Object
                    || !link.TryGetProperty("source", out var s) || !s.TryGetInt32(out src[k]) || src[k] < 0 || src[k] >= n
                    || !link.TryGetProperty("target", out var t) || !t.TryGetInt32(out dst[k]) || dst[k] < 0 || dst[k] >= n)
                    throw Bad($"link {k}: expected {{\"source\": s, \"target\": t}} with node ids in 0..{n - 1}");
                if (graphId[src[k]] != graphId[dst[k]])
                    throw Bad($"link {k} joins node {src[k]} of graph {graphId[src[k]]} and node {dst[k]} of graph {graphId[dst[k]]}; expected links within one graph");
                k++;
            }
            return (src, dst);
        }
    }
}
