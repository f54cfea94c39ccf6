using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>One shape of ModelNet40: its file, its name relative to the dataset folder ('/'-separated, the key of
/// its sampling) and its label.</summary>
public sealed record ModelNetShape(string Path, string Name, int Label);

/// <summary>The shapes of a ModelNet40 folder, listed without being read: its layout (<see cref="ModelNet.Meshes"/>
/// or <see cref="ModelNet.Resampled"/>, DatasetSources' version keys), the sorted class names (labels are their
/// indices) and the train and test shapes.</summary>
public sealed record ModelNetIndex(string Dir, string Layout, string[] Classes, ModelNetShape[] Train, ModelNetShape[] Test)
{
    /// <summary>Shapes, classes, the class histogram and the (train, test) split, for <c>gcnkd data check</c>.</summary>
    public StatsCheck.Measured ToMeasured()
    {
        var counts = new int[Classes.Length];
        foreach (var s in Train.Concat(Test)) counts[s.Label]++;
        return new StatsCheck.Measured(Train.Length + Test.Length, 0, 0, Classes.Length, 0, counts, [Train.Length, Test.Length]);
    }
}

/// <summary>
/// ModelNet40 (Wu et al. 2015) as point clouds for DGCNN, from either published text layout, detected from the
/// folder: the Princeton meshes of ModelNet40.zip (<c>CLASS/{train,test}/CLASS_NNNN.off</c>, read as PyTorch
/// Geometric's ModelNet reads them), each sampled to N points uniformly on its surface (Core's MeshSampling, keyed by
/// (seed, the file's name)); or PointNet++'s <c>modelnet40_normal_resampled</c> (<c>modelnet40_shape_names.txt</c>,
/// <c>modelnet40_{train,test}.txt</c> and <c>CLASS/SHAPE.txt</c> of x,y,z,nx,ny,nz rows), of which the first N rows'
/// x, y, z are taken as PointNet++ does. Either way the cloud is centred and scaled into the unit ball (PointNet's
/// pc_normalize). Classes are the sorted class names, labels their indices, so both layouts label alike.
/// </summary>
public static class ModelNet
{
    public const string MeshFolder = "ModelNet40";
    public const string ResampledFolder = "modelnet40_normal_resampled";
    public const string ShapeNamesFile = "modelnet40_shape_names.txt";
    public static readonly string[] ResampledLists = [ShapeNamesFile, "modelnet40_train.txt", "modelnet40_test.txt"];

    /// <summary>The layouts, named as DatasetSources' versions.</summary>
    public const string Meshes = "OFF", Resampled = "Resampled";

    const string Expected =
        "expected ModelNet40's class folders (CLASS/train/*.off and CLASS/test/*.off, as in ModelNet40.zip) or PointNet++'s " +
        "modelnet40_normal_resampled (modelnet40_shape_names.txt, modelnet40_train.txt, modelnet40_test.txt, CLASS/SHAPE.txt)";

    /// <summary><c>root/ModelNet40</c> when it exists, else <c>root/modelnet40_normal_resampled</c>.</summary>
    public static string FolderIn(DataRoot root)
    {
        var meshes = Path.Combine(root.Path, MeshFolder);
        var resampled = Path.Combine(root.Path, ResampledFolder);
        if (Directory.Exists(meshes)) return meshes;
        if (Directory.Exists(resampled)) return resampled;
        throw new GcnKdUserError(
            $"dataset ModelNet40 not found: neither {meshes} nor {resampled} exists (data root {root.Path}, from {root.Source}; " +
            $"set it with --data DIR or {DataRoot.EnvVar}); {Expected}. gcnkd data fetch ModelNet40 downloads the meshes");
    }

    /// <summary>ModelNet40 under the data root with <paramref name="numPoints"/> points per shape.</summary>
    public static PointCloudDataset Load(DataRoot root, int numPoints, int seed) => Load(Scan(FolderIn(root)), numPoints, seed);

    /// <summary>The shapes of a ModelNet40 folder of either layout (a resampled one has modelnet40_shape_names.txt).</summary>
    public static ModelNetIndex Scan(string dir)
    {
        if (!Directory.Exists(dir)) throw new GcnKdUserError($"{dir} does not exist; {Expected}");
        return File.Exists(Path.Combine(dir, ShapeNamesFile)) ? ScanResampled(dir) : ScanMeshes(dir);
    }

    static ModelNetIndex ScanMeshes(string dir)
    {
        var classes = Directory.GetDirectories(dir).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.') && n != "__MACOSX").Order(StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new GcnKdUserError($"{dir}: no class folders; {Expected}");
        var parts = new[] { "train", "test" }.Select(part => classes.SelectMany((c, label) =>
        {
            var sub = Path.Combine(dir, c, part);
            if (!Directory.Exists(sub))
                throw new GcnKdUserError($"{Path.Combine(dir, c)}: no {part}/ folder; expected train/ and test/ folders of {c}_NNNN.off meshes");
            return Directory.GetFiles(sub, "*.off").Order(StringComparer.Ordinal)
                .Select(f => new ModelNetShape(f, $"{c}/{part}/{Path.GetFileName(f)}", label));
        }).ToArray()).ToArray();
        for (var label = 0; label < classes.Length; label++)
            if (!parts.Any(p => p.Any(s => s.Label == label)))
                throw new GcnKdUserError($"{Path.Combine(dir, classes[label])}: no .off mesh in train/ or test/; expected {classes[label]}_NNNN.off files");
        return new ModelNetIndex(dir, Meshes, classes, parts[0], parts[1]);
    }

    static ModelNetIndex ScanResampled(string dir)
    {
        var names = TextLines.Read(Path.Combine(dir, ShapeNamesFile));
        var classes = Enumerable.Range(0, names.Count).Select(i => names[i].Trim()).ToArray();
        for (var i = 0; i < classes.Length; i++)
            if (classes[i].Length == 0 || Array.IndexOf(classes, classes[i]) < i)
                throw names.Error(i, "one class name per line, each once");
        if (classes.Length == 0) throw names.FileError("no class names; expected one class name per line");
        Array.Sort(classes, StringComparer.Ordinal);
        ModelNetShape[] List(string file)
        {
            var lines = TextLines.Read(Path.Combine(dir, file));
            return Enumerable.Range(0, lines.Count).Select(i =>
            {
                var id = lines[i].Trim();
                var cut = id.LastIndexOf('_');
                var label = cut > 0 ? Array.BinarySearch(classes, id[..cut], StringComparer.Ordinal) : -1;
                if (label < 0) throw lines.Error(i, $"a shape id CLASS_NNNN whose CLASS is listed in {ShapeNamesFile}");
                var path = Path.Combine(dir, classes[label], id + ".txt");
                if (!File.Exists(path)) throw lines.FileError($"line {i + 1}: the points of shape '{id}', {path}, not found");
                return new ModelNetShape(path, $"{classes[label]}/{id}.txt", label);
            }).ToArray();
        }
        return new ModelNetIndex(dir, Resampled, classes, List(ResampledLists[1]), List(ResampledLists[2]));
    }

    /// <summary>Every shape of <paramref name="index"/> as a [numPoints, 3] cloud in the unit ball, read in parallel;
    /// a bad file is the user error of the first bad shape in train-then-test order.</summary>
    public static PointCloudDataset Load(ModelNetIndex index, int numPoints, int seed)
    {
        var shapes = index.Train.Concat(index.Test).ToArray();
        var clouds = new PointCloud[shapes.Length];
        var errors = new GcnKdUserError?[shapes.Length];
        Threads.For(shapes.Length, 1_000_000, (lo, hi) =>
        {
            for (var i = lo; i < hi; i++)
            {
                try { clouds[i] = new PointCloud(Cloud(index.Layout, shapes[i], numPoints, seed), shapes[i].Label); }
                catch (GcnKdUserError e) { errors[i] = e; }
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;
        return new PointCloudDataset($"ModelNet40-{numPoints}", clouds[..index.Train.Length], clouds[index.Train.Length..], index.Classes.Length);
    }

    static Tensor Cloud(string layout, ModelNetShape shape, int numPoints, int seed)
    {
        if (layout == Resampled)
            return TensorModule.ofArray([numPoints, 3], GcnKd.PointClouds.normalise(ReadResampled(shape.Path, numPoints)));
        var mesh = ReadOff(shape.Path);
        if (!(MeshSampling.surfaceArea(mesh) > 0))
            throw new GcnKdUserError($"{shape.Path}: the mesh's {mesh.Triangles.Length / 3} triangle(s) have zero total area; expected a surface to sample points on");
        return MeshSampling.pointCloud(MeshSampling.keyOf(seed, shape.Name), numPoints, mesh);
    }

    /// <summary>An OFF mesh: the header <c>OFF</c> (also glued to the counts, <c>OFF490 518 0</c>, as in many
    /// ModelNet files), the counts <c>vertices faces edges</c>, a line <c>x y z</c> per vertex, a line
    /// <c>n i1 .. in</c> per face (0-based indices; polygons split into a fan of triangles). Comment lines (#) and
    /// blank lines are skipped.</summary>
    public static Mesh ReadOff(string path)
    {
        var t = TextLines.Read(path);
        int Next(int i)
        {
            while (i < t.Count && (string.IsNullOrWhiteSpace(t[i]) || t[i].TrimStart().StartsWith('#'))) i++;
            return i;
        }
        var head = Next(0);
        var header = head < t.Count ? t[head].Trim() : "";
        var glued = header.Length > 3 && header.StartsWith("OFF", StringComparison.Ordinal) && char.IsAsciiDigit(header[3]);
        if (header != "OFF" && !glued)
            throw t.Error(head, "the header 'OFF' of an OFF mesh (or 'OFF' glued to the counts, as in 'OFF490 518 0')");
        var line = glued ? head : Next(head + 1);
        var counts = t.Fields(line, "the counts 'vertices faces edges'").Select(f => t.Field(line, f).ToString()).ToArray();
        if (glued) counts[0] = counts[0][3..];
        if (counts.Length is < 2 or > 3 || !int.TryParse(counts[0], out var nv) || !int.TryParse(counts[1], out var nf) || nv < 0 || nf < 0)
            throw t.Error(line, "the counts 'vertices faces edges' (non-negative integers)");

        var vertices = new double[3 * nv];
        for (var v = 0; v < nv; v++)
        {
            line = Next(line + 1);
            var fields = t.Fields(line, $"vertex {v + 1} of {nv}");
            for (var d = 0; d < 3; d++)
                if (fields.Count < 3 || !t.TryDouble(line, fields[d], out vertices[3 * v + d]) || !double.IsFinite(vertices[3 * v + d]))
                    throw t.Error(line, $"vertex {v + 1} of {nv}: its coordinates 'x y z'");
        }
        var triangles = new List<int>(3 * nf);
        for (var f = 0; f < nf; f++)
        {
            line = Next(line + 1);
            var fields = t.Fields(line, $"face {f + 1} of {nf}");
            if (fields.Count == 0 || !t.TryInt(line, fields[0], out var n) || n < 3 || fields.Count < n + 1)
                throw t.Error(line, $"face {f + 1} of {nf}: 'n i1 .. in' with n >= 3 vertex indices");
            var polygon = new int[n];
            for (var k = 0; k < n; k++)
                if (!t.TryInt(line, fields[k + 1], out polygon[k]) || polygon[k] < 0 || polygon[k] >= nv)
                    throw t.Error(line, $"face {f + 1} of {nf}: vertex index {k + 1} must be an integer in 0..{nv - 1}");
            triangles.AddRange(MeshSampling.fan(polygon));
        }
        return new Mesh(vertices, triangles.ToArray());
    }

    /// <summary>x, y, z of the first <paramref name="numPoints"/> rows of a resampled shape (x,y,z,nx,ny,nz each).</summary>
    public static float[] ReadResampled(string path, int numPoints)
    {
        var t = TextLines.ReadFirst(path, numPoints + 1);   // one more, so that a blank row N is not a trailing line
        if (t.Count < numPoints)
            throw t.FileError($"{t.Count} point rows; expected at least {numPoints} (the points asked for) rows x,y,z,nx,ny,nz");
        var xyz = new float[3 * numPoints];
        for (var i = 0; i < numPoints; i++)
        {
            var row = t.Doubles(i, "a point x,y,z,nx,ny,nz", 6);
            for (var d = 0; d < 3; d++) xyz[3 * i + d] = (float)row[d];
        }
        return xyz;
    }
}
