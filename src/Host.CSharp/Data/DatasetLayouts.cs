namespace GcnKd.Host.Data;

/// <summary>
/// One on-disk version of a dataset (its <see cref="Version"/> is the key of Core's DatasetSources and
/// PublishedStats): the folder under the data root, the files a loader needs (each entry lists the names accepted
/// for it, the usual one last; a name ending in '/' is a folder) and how to load and measure it (null: GcnKd has no
/// loader for it).
/// </summary>
public sealed record DatasetLayout(
    string Dataset, string Version, string Folder, IReadOnlyList<string[]> Files, Func<DataRoot, StatsCheck.Measured>? Measure)
{
    public string Dir(DataRoot root) => Path.Combine(root.Path, Folder);

    /// <summary>The usual names of the needed files that <paramref name="dir"/> lacks.</summary>
    public string[] MissingIn(string dir) =>
        Files.Where(names => !names.Any(n => Exists(Path.Combine(dir, n)))).Select(names => names[^1]).ToArray();

    static bool Exists(string path) => path.EndsWith('/') ? Directory.Exists(path) : File.Exists(path);

    public string[] Missing(DataRoot root) => MissingIn(Dir(root));

    /// <summary>Complete, partial (some needed files, not all) or missing.</summary>
    public DataPresence Presence(DataRoot root)
    {
        var missing = Missing(root).Length;
        return missing == 0 ? DataPresence.Present : missing < Files.Count ? DataPresence.Partial : DataPresence.Missing;
    }
}

public enum DataPresence { Present, Partial, Missing }

/// <summary>The layouts of every dataset GcnKd knows, built from the loaders' own file lists.</summary>
public static class DatasetLayouts
{
    static string[][] Each(IEnumerable<string> files) => files.Select(f => new[] { f }).ToArray();

    static DatasetLayout[] Graph(string name) =>
    [
        new(name, "TU", name, Each(TuFormat.RequiredFiles(name)), root => DatasetStats.Of(TuFormat.Load(root, name)).ToMeasured()),
        new(name, "GIN", Path.Combine(name, "gin_format"), [GinFormat.FileCandidates(name)],
            root => DatasetStats.Of(GinFormat.Load(root, name)).ToMeasured()),
    ];

    static DatasetLayout Planetoid(string name) =>
        new(name, "Planetoid", name, Each(Data.Planetoid.RequiredFiles(name)), root =>
        {
            var d = Data.Planetoid.Load(root, name, normalizeFeatures: false);
            return DatasetStats.Of(d).ToMeasured(d.Train.Length, d.Val.Length, d.Test.Length);
        });

    static readonly DatasetLayout PpiLayout =
        new("PPI", "DGL", "PPI", Each(Ppi.RequiredFiles()), root =>
        {
            var d = Ppi.Load(root);
            return DatasetStats.Of(d).ToMeasured(d.Train.Length, d.Val.Length, d.Test.Length);
        });

    static readonly DatasetLayout MnistLayout =
        new("MNIST", "IDX", "MNIST",
            new[] { Mnist.ImagesFile("train"), Mnist.LabelsFile("train"), Mnist.ImagesFile("t10k"), Mnist.LabelsFile("t10k") }
                .Select(gz => new[] { gz[..^3], gz }).ToArray(),
            root =>
            {
                var (train, test) = (Mnist.Load(root, "train"), Mnist.Load(root, "t10k"));
                return DatasetStats.Of(train, test).ToMeasured(train.Count, test.Count);
            });

    /// <summary>ModelNet40's two text layouts: the Princeton meshes (one folder per class) and PointNet++'s resampled
    /// points (three list files); measured by listing their shapes, without reading them.</summary>
    static readonly DatasetLayout[] ModelNetLayouts =
    [
        new("ModelNet40", "OFF", ModelNet.MeshFolder, Each(DatasetSources.modelNet40Classes.Select(c => c + "/")),
            root => ModelNet.Scan(Path.Combine(root.Path, ModelNet.MeshFolder)).ToMeasured()),
        new("ModelNet40", "Resampled", ModelNet.ResampledFolder, Each(ModelNet.ResampledLists),
            root => ModelNet.Scan(Path.Combine(root.Path, ModelNet.ResampledFolder)).ToMeasured()),
    ];

    /// <summary>The layouts of a canonical dataset name (DatasetSources' names), in DatasetSources' version order.</summary>
    public static IReadOnlyList<DatasetLayout> Of(string dataset) => dataset switch
    {
        "MUTAG" or "PTC_MR" or "PROTEINS" or "IMDB-BINARY" or "COLLAB" => Graph(dataset),
        "Cora" or "CiteSeer" or "PubMed" => [Planetoid(dataset)],
        "PPI" => [PpiLayout],
        "MNIST" => [MnistLayout],
        "ModelNet40" => ModelNetLayouts,
        _ => throw new ArgumentException($"DatasetLayouts.Of: no layout for '{dataset}'", nameof(dataset)),
    };
}
