using GcnKd.Host.Data;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Experiments;

/// <summary>Dataset names the training commands accept, and which loader and task each one means (the names of
/// graph, node and inductive datasets come from Core's DatasetSources; MNIST is trained on as MNIST-points, ModelNet40 as point clouds).</summary>
public static class DatasetCatalog
{
    static string[] OfKind(DatasetSources.DatasetKind kind) =>
        DatasetSources.all.Where(d => d.Kind.Equals(kind)).Select(d => d.Name).ToArray();

    /// <summary>Names from Core's DatasetSources, the catalog <c>gcnkd data</c> lists.</summary>
    public static readonly string[] NodeDatasets = OfKind(DatasetSources.DatasetKind.NodeClassification);
    public static readonly string[] GraphDatasets = OfKind(DatasetSources.DatasetKind.GraphClassification);
    /// <summary>Point-cloud classification (DGCNN): MNIST digits sampled as point clouds (our ModelNet40 stand-in,
    /// since ModelNet40 is not available here) and ModelNet40 itself, in either of its text layouts.</summary>
    public static readonly string[] PointDatasets = ["MNIST-points", "ModelNet40"];
    /// <summary>Inductive multi-label node classification.</summary>
    public static readonly string[] InductiveDatasets = OfKind(DatasetSources.DatasetKind.InductiveNodes);

    static IEnumerable<string> All => NodeDatasets.Concat(GraphDatasets).Concat(PointDatasets).Concat(InductiveDatasets);

    /// <summary>Points per cloud unless --points says otherwise: 128 per MNIST digit, 1024 per ModelNet40 shape (the
    /// PointNet / DGCNN setting).</summary>
    public static int DefaultPoints(string canonical) => canonical == "ModelNet40" ? 1024 : 128;

    /// <summary>What a point dataset's clouds are, for run protocols: "MNIST train/test, 128 points per digit".</summary>
    public static string PointProtocol(string canonical, int points) =>
        canonical == "ModelNet40" ? $"ModelNet40 train/test, {points} points per shape" : $"MNIST train/test, {points} points per digit";

    /// <summary>The seed of the point sampling (MNIST pixels, ModelNet40 mesh surfaces): fixed, so every run and seed
    /// sees the same clouds (the run seed drives initialisation, batching and dropout only).</summary>
    public const int PointSamplingSeed = 0;

    static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase) { ["PTC"] = "PTC_MR", ["IMDB-B"] = "IMDB-BINARY", ["MNIST"] = "MNIST-points" };

    /// <summary>The canonical spelling of a dataset name (case-insensitive, with aliases), or a user error listing the known names.</summary>
    public static string Canonical(string name)
    {
        if (Aliases.TryGetValue(name, out var alias)) return alias;
        foreach (var known in All)
            if (string.Equals(known, name, StringComparison.OrdinalIgnoreCase)) return known;
        throw new GcnKdUserError(
            $"unknown dataset '{name}' (known: {string.Join(", ", All)})");
    }

    public static bool IsNodeDataset(string canonical) => NodeDatasets.Contains(canonical);
    public static bool IsPointDataset(string canonical) => PointDatasets.Contains(canonical);
    public static bool IsInductiveDataset(string canonical) => InductiveDatasets.Contains(canonical);

    /// <summary>MNIST point clouds (train 60000, test 10000) with this many points per digit, or ModelNet40 (train
    /// 9843, test 2468) with this many points per shape.</summary>
    public static PointCloudDataset LoadPoints(DataRoot root, string canonical, int numPoints) =>
        canonical == "ModelNet40" ? ModelNet.Load(root, numPoints, PointSamplingSeed) : Mnist.PointClouds(root, numPoints, PointSamplingSeed);

    /// <summary>PPI in DGL's layout under <c>root/PPI</c>.</summary>
    public static InductiveDataset LoadInductive(DataRoot root, string canonical) => Ppi.Load(root, canonical);

    /// <summary>Planetoid files with row-normalised features (Kipf &amp; Welling, PyG's NormalizeFeatures).</summary>
    public static NodeDataset LoadNode(DataRoot root, string canonical) => Planetoid.Load(root, canonical, normalizeFeatures: true);

    /// <summary>The GIN text version with its standard 10 folds (Xu et al.; the folds of pytorch_DGCNN).</summary>
    public static GraphDataset LoadGraph(DataRoot root, string canonical) => GinFormat.Load(root, canonical);
}
