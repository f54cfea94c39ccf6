using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>
/// The Planetoid citation datasets (Yang et al. 2016: Cora, CiteSeer, PubMed) from <c>root/NAME/ind.name.*</c>,
/// processed exactly as Kipf's <c>gcn/utils.py::load_data</c> and PyG's <c>read_planetoid_data</c>:
/// <list type="bullet">
/// <item>features = vstack(allx, tx) with the test rows moved to the ids in <c>test.index</c> (row i of tx is node
/// test.index[i]); labels = argmax of vstack(ally, ty), moved the same way (an all-zero row gets label 0, as
/// torch's max / numpy's argmax give);</item>
/// <item>CiteSeer's padding: test.index spans min..max but some ids in that range have no tx row (isolated
/// nodes); they get zero features and label 0 and are NOT test nodes (generic rule: whenever the range is wider
/// than tx);</item>
/// <item>the standard split: train = 0..len(y)-1 (20 per class), val = len(y)..len(y)+499, test = sorted test.index;</item>
/// <item>the graph dict symmetrised, de-duplicated, self-loops removed (CiteSeer has 124 self-loop nodes).</item>
/// </list>
/// Features are returned raw, or row-normalised (each row divided by its sum; all-zero rows stay zero: Kipf's
/// <c>preprocess_features</c>, the input of the published GCN/GAT results) when asked. PyG's
/// <c>NormalizeFeatures</c> divides by max(row sum, 1) instead: the same for Cora and CiteSeer (binary features,
/// every non-empty row sums to >= 1), but it would leave PubMed's TF-IDF rows (sums below 1) unscaled.
/// </summary>
public static class Planetoid
{
    public static readonly string[] Parts = ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"];

    public static string[] RequiredFiles(string name) => Parts.Select(p => $"ind.{name.ToLowerInvariant()}.{p}").ToArray();

    /// <summary>Load <c>root/NAME</c> (NAME = Cora, CiteSeer, PubMed; the file prefix is its lower case).</summary>
    public static NodeDataset Load(DataRoot root, string name, bool normalizeFeatures)
    {
        var dir = root.Require(name, name, RequiredFiles(name));
        return LoadFolder(dir, name, normalizeFeatures);
    }

    public static NodeDataset LoadFolder(string dir, string name, bool normalizeFeatures)
    {
        string P(string part) => Path.Combine(dir, $"ind.{name.ToLowerInvariant()}.{part}");
        var x = Matrix(P("x"));
        var y = Matrix(P("y"));
        var tx = Matrix(P("tx"));
        var ty = Matrix(P("ty"));
        var allx = Matrix(P("allx"));
        var ally = Matrix(P("ally"));
        var numFeatures = allx.Cols;
        var numClasses = ally.Cols;
        foreach (var (m, part) in new[] { (x, "x"), (tx, "tx") })
            if (m.Cols != numFeatures) throw new GcnKdUserError($"{P(part)}: {m.Cols} feature columns, but allx has {numFeatures}");
        foreach (var (m, part) in new[] { (y, "y"), (ty, "ty") })
            if (m.Cols != numClasses) throw new GcnKdUserError($"{P(part)}: {m.Cols} label columns, but ally has {numClasses}");
        if (x.Rows != y.Rows) throw new GcnKdUserError($"{P("y")}: {y.Rows} rows, but x has {x.Rows}; expected one label row per training node");
        if (tx.Rows != ty.Rows) throw new GcnKdUserError($"{P("ty")}: {ty.Rows} rows, but tx has {tx.Rows}; expected one label row per test node");
        if (allx.Rows != ally.Rows) throw new GcnKdUserError($"{P("ally")}: {ally.Rows} rows, but allx has {allx.Rows}; expected one label row per node of allx");

        // test.index: row i of tx is node testIndex[i]; ids fill allx.Rows .. max (CiteSeer leaves gaps)
        var indexFile = TextLines.Read(P("test.index"));
        var testIndex = indexFile.IntColumn("one test node id");
        if (testIndex.Length != tx.Rows)
            throw indexFile.FileError($"{testIndex.Length} test ids, but tx has {tx.Rows} rows; expected one id per row of tx");
        var numNodes = allx.Rows + (testIndex.Length == 0 ? 0 : testIndex.Max() - allx.Rows + 1);
        var seen = new bool[numNodes];
        for (var i = 0; i < testIndex.Length; i++)
        {
            var id = testIndex[i];
            if (id < allx.Rows) throw indexFile.Error(i, $"a test node id >= {allx.Rows} (the rows of allx come first)");
            if (seen[id]) throw indexFile.Error(i, $"a test node id not listed before, but {id} repeats");
            seen[id] = true;
        }

        var features = new float[(long)numNodes * numFeatures];
        var labels = new int[numNodes];
        allx.CopyRowsTo(features, r => r);
        ally.ArgmaxRowsTo(labels, r => r);
        tx.CopyRowsTo(features, r => testIndex[r]);
        ty.ArgmaxRowsTo(labels, r => testIndex[r]);
        if (normalizeFeatures) RowNormalize(features, numFeatures);

        var adj = Graph(P("graph"), numNodes);
        var train = Enumerable.Range(0, y.Rows).ToArray();
        var val = Enumerable.Range(y.Rows, Math.Min(500, Math.Max(0, allx.Rows - y.Rows))).ToArray();
        var test = testIndex.Order().ToArray();
        return new NodeDataset(name, adj, TensorModule.ofArray([numNodes, numFeatures], features), labels, numClasses, train, val, test);
    }

    /// <summary>Divide each row of a row-major [rows, cols] matrix by its sum (rows summing to 0 are left as they
    /// are): Kipf's <c>preprocess_features</c>.</summary>
    public static void RowNormalize(float[] data, int cols)
    {
        for (long start = 0; start < data.LongLength; start += cols)
        {
            var row = data.AsSpan((int)start, cols);
            double sum = 0;
            foreach (var v in row) sum += v;
            if (sum == 0) continue;
            var inv = 1.0 / sum;
            for (var k = 0; k < row.Length; k++) row[k] = (float)(row[k] * inv);
        }
    }

    /// <summary>A row-normalised copy of a [n, F] feature tensor.</summary>
    public static Tensor RowNormalized(Tensor features)
    {
        var data = (float[])features.Data.Clone();
        RowNormalize(data, features.Shape[1]);
        return TensorModule.ofArray(features.Shape, data);
    }

    /// <summary>A pickled matrix: a scipy csr_matrix (features) or a 2-D numpy array (one-hot labels).</summary>
    private sealed class Mat(string path, int rows, int cols, int[] rowPtr, int[] colIdx, double[] values)
    {
        public int Rows => rows;
        public int Cols => cols;

        public void CopyRowsTo(float[] dst, Func<int, int> target)
        {
            for (var r = 0; r < rows; r++)
                for (var e = rowPtr[r]; e < rowPtr[r + 1]; e++)
                    dst[(long)target(r) * cols + colIdx[e]] += (float)values[e];
        }

        /// <summary>First column of the row maximum (numpy argmax); 0 for an all-zero row.</summary>
        public void ArgmaxRowsTo(int[] dst, Func<int, int> target)
        {
            for (var r = 0; r < rows; r++)
            {
                var (best, bestValue) = (0, 0.0);
                for (var e = rowPtr[r]; e < rowPtr[r + 1]; e++)
                {
                    if (values[e] < 0) throw new GcnKdUserError($"{path}: row {r} has a negative entry; expected one-hot label rows");
                    if (values[e] > bestValue || (values[e] == bestValue && colIdx[e] < best))
                        (best, bestValue) = (colIdx[e], values[e]);
                }
                dst[target(r)] = best;
            }
        }
    }

    private static Mat Matrix(string path)
    {
        var o = Pickle.Load(path);
        GcnKdUserError Bad(string what) => new($"{path}: {what}");
        if (o is NumpyArray a)
        {
            if (a.Shape.Length != 2) throw Bad($"a numpy array of shape ({string.Join(", ", a.Shape)}); expected a 2-D array");
            var (rows, cols) = (a.Shape[0], a.Shape[1]);
            var v = a.ToDoubles();
            var rowPtr = new int[rows + 1];
            var colIdx = new List<int>();
            var vals = new List<double>();
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < cols; c++)
                    if (v[(long)r * cols + c] != 0) { colIdx.Add(c); vals.Add(v[(long)r * cols + c]); }
                rowPtr[r + 1] = colIdx.Count;
            }
            return new Mat(path, rows, cols, rowPtr, colIdx.ToArray(), vals.ToArray());
        }
        if (o is PickledObject { ClassName: var cn } m && cn.EndsWith(".csr_matrix"))
        {
            if (m.State.TryGetValue("format", out var fmt) && fmt is string f && f != "csr")
                throw Bad($"a sparse matrix in format '{f}'; expected csr");
            if (!m.State.TryGetValue("_shape", out var sh) || sh is not object?[] { Length: 2 } shape || shape[0] is not long rows || shape[1] is not long cols)
                throw Bad("a csr_matrix without a 2-D _shape");
            NumpyArray Field(string key) =>
                m.State.TryGetValue(key, out var v) && v is NumpyArray { Shape.Length: 1 } arr ? arr : throw Bad($"a csr_matrix without a 1-D '{key}' array");
            long[] indptr, indices;
            try
            {
                indptr = Field("indptr").ToInt64s();
                indices = Field("indices").ToInt64s();
            }
            catch (InvalidDataException e)
            {
                throw Bad("csr_matrix index arrays: " + e.Message);
            }
            var values = Field("data").ToDoubles();
            if (indptr.Length != rows + 1 || indptr[0] != 0 || indptr[^1] != indices.Length || values.Length != indices.Length)
                throw Bad($"an inconsistent csr_matrix: indptr has {indptr.Length} entries for {rows} rows, ending at {indptr[^1]}, with {indices.Length} indices and {values.Length} values");
            for (var r = 0; r < rows; r++)
                if (indptr[r + 1] < indptr[r]) throw Bad($"csr_matrix indptr decreases at row {r}");
            foreach (var c in indices)
                if (c < 0 || c >= cols) throw Bad($"csr_matrix column index {c} outside [0, {cols})");
            return new Mat(path, (int)rows, (int)cols, indptr.Select(i => (int)i).ToArray(), indices.Select(i => (int)i).ToArray(), values);
        }
        var found = o switch
        {
            PickledObject po => po.ClassName,
            Dictionary<object, object?> => "dict",
            List<object?> => "list",
            object?[] => "tuple",
            null => "None",
            _ => o.GetType().Name,
        };
        throw Bad($"a pickled {found}; expected a scipy csr_matrix or a 2-D numpy array");
    }

    /// <summary>The graph dict (node -> list of neighbours) as a symmetric adjacency without self-loops.</summary>
    private static Csr Graph(string path, int numNodes)
    {
        if (Pickle.Load(path) is not Dictionary<object, object?> dict)
            throw new GcnKdUserError($"{path}: expected a pickled dict (defaultdict) of adjacency lists");
        var src = new List<int>();
        var dst = new List<int>();
        foreach (var (key, value) in dict)
        {
            if (key is not long u || u < 0 || u >= numNodes)
                throw new GcnKdUserError($"{path}: key {key} is not a node id in 0..{numNodes - 1}");
            if (value is not List<object?> nbrs)
                throw new GcnKdUserError($"{path}: the entry of node {u} is not a list of neighbours");
            foreach (var nb in nbrs)
            {
                if (nb is not long v || v < 0 || v >= numNodes)
                    throw new GcnKdUserError($"{path}: node {u} lists neighbour {nb ?? "None"}, expected a node id in 0..{numNodes - 1}");
                src.Add((int)u);
                dst.Add((int)v);
            }
        }
        return GraphBuild.SymmetricAdjacency(numNodes, src.ToArray(), dst.ToArray());
    }
}
