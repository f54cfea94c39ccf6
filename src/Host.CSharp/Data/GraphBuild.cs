using Microsoft.FSharp.Core;

namespace GcnKd.Host.Data;

/// <summary>
/// Shared steps of the graph loaders: the adjacency every loader promises (symmetric, de-duplicated, no
/// self-loops, unit weights, built with <c>Csr.ofCoo</c>) and one-hot node features.
/// </summary>
public static class GraphBuild
{
    /// <summary>
    /// The n x n adjacency of the undirected graph with edges {src[k], dst[k]}: both directions of every edge,
    /// each (row, column) once, self-loops dropped. Endpoints must lie in [0, n) (callers check and report).
    /// </summary>
    public static Csr SymmetricAdjacency(int n, ReadOnlySpan<int> src, ReadOnlySpan<int> dst)
    {
        var keys = new long[2 * src.Length];
        var m = 0;
        for (var k = 0; k < src.Length; k++)
        {
            int u = src[k], v = dst[k];
            if (u == v) continue;
            keys[m++] = (long)u * n + v;
            keys[m++] = (long)v * n + u;
        }
        Array.Sort(keys, 0, m);
        var rows = new List<int>(m);
        var cols = new List<int>(m);
        for (var k = 0; k < m; k++)
        {
            if (k > 0 && keys[k] == keys[k - 1]) continue;
            rows.Add((int)(keys[k] / n));
            cols.Add((int)(keys[k] % n));
        }
        return CsrModule.ofCoo(n, n, rows.ToArray(), cols.ToArray(), FSharpOption<float[]>.None);
    }

    /// <summary>Degree of every node (stored entries per row; = degree for a symmetric adjacency).</summary>
    public static int[] Degrees(Csr a)
    {
        var d = new int[a.Rows];
        for (var i = 0; i < a.Rows; i++) d[i] = a.RowPtr[i + 1] - a.RowPtr[i];
        return d;
    }

    /// <summary>A [n, width] tensor of one-hot rows: row i has a 1 in column index[i].</summary>
    public static Tensor OneHot(ReadOnlySpan<int> index, int width)
    {
        var data = new float[index.Length * width];
        for (var i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)width)
                throw new ArgumentOutOfRangeException(nameof(index), $"OneHot: index {index[i]} at row {i} is outside [0, {width})");
            data[(long)i * width + index[i]] = 1f;
        }
        return TensorModule.ofArray([index.Length, width], data);
    }

    /// <summary>Sorted distinct values and, for each input, its position among them (as <c>unique(sorted=True,
    /// return_inverse=True)</c>).</summary>
    public static (int[] Values, int[] Inverse) Unique(int[] values)
    {
        var distinct = values.Distinct().Order().ToArray();
        var pos = new Dictionary<int, int>(distinct.Length);
        for (var i = 0; i < distinct.Length; i++) pos[distinct[i]] = i;
        return (distinct, values.Select(v => pos[v]).ToArray());
    }
}
