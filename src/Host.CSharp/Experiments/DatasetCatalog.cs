using GcnKd.Host.Data;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Experiments;

/// <summary>Dataset names the CLI accepts, and which loader and task each one means.</summary>
public static class DatasetCatalog
{
    public static readonly string[] NodeDatasets = ["Cora", "CiteSeer", "PubMed"];
    public static readonly string[] GraphDatasets = ["MUTAG", "PTC_MR", "PROTEINS", "IMDB-BINARY", "COLLAB"];

    static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase) { ["PTC"] = "PTC_MR", ["IMDB-B"] = "IMDB-BINARY" };

    /// <summary>The canonical spelling of a dataset name (case-insensitive, with aliases), or a user error listing the known names.</summary>
    public static string Canonical(string name)
    {
        if (Aliases.TryGetValue(name, out var alias)) return alias;
        foreach (var known in NodeDatasets.Concat(GraphDatasets))
            if (string.Equals(known, name, StringComparison.OrdinalIgnoreCase)) return known;
        throw new GcnKdUserError(
            $"unknown dataset '{name}' (known: {string.Join(", ", NodeDatasets.Concat(GraphDatasets))})");
    }

    public static bool IsNodeDataset(string canonical) => NodeDatasets.Contains(canonical);

    /// <summary>Planetoid files with row-normalised features (Kipf &amp; Welling, PyG's NormalizeFeatures).</summary>
    public static NodeDataset LoadNode(DataRoot root, string canonical) => Planetoid.Load(root, canonical, normalizeFeatures: true);

    /// <summary>The GIN text version with its standard 10 folds (Xu et al.; the folds of pytorch_DGCNN).</summary>
    public static GraphDataset LoadGraph(DataRoot root, string canonical) => GinFormat.Load(root, canonical);
}
