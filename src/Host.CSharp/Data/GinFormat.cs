using Microsoft.FSharp.Core;

namespace GcnKd.Host.Data;

/// <summary>Node features of a GIN-format dataset.</summary>
public enum GinFeatures
{
    /// <summary>Tags when the dataset has more than one distinct tag, else degrees (IMDB-BINARY: every tag is 0).</summary>
    Auto,
    /// <summary>One-hot of the node tags.</summary>
    Tags,
    /// <summary>One-hot of the node degrees (GIN's <c>--degree_as_tag</c>).</summary>
    Degree,
}

/// <summary>
/// The GIN / DGCNN text format (Xu et al. 2019, <c>powerful-gnns/util.py::load_data</c>; Zhang et al. 2018):
/// <c>root/DATASET/gin_format/FILE.txt</c> with the number of graphs N on the first line, then per graph a line
/// <c>n label</c> and n node lines <c>tag m nbr_1 .. nbr_m [attributes..]</c> (0-based neighbours within the graph;
/// extra columns after the m neighbours are node attributes, which GIN reads and never uses: ignored here too).
/// The standard 10 folds come from <c>gin_format/10fold_idx/test_idx-K.txt</c>, K = 1..10 (0-based graph indices).
/// <list type="bullet">
/// <item>Edges: symmetrised and de-duplicated (GIN builds an undirected networkx graph); self-loops dropped.</item>
/// <item>Graph labels: 0..C-1 in sorted order of the raw values (GIN numbers them in order of first appearance;
/// only the class ids differ, e.g. MUTAG 0/2 -> 0/1 here, 2/0 -> 0/1 in GIN).</item>
/// <item>Tags: one-hot, numbered in order of first appearance over the file, as GIN's <c>feat_dict</c>.</item>
/// <item>Degrees: one-hot over the sorted distinct degree values of the dataset, as GIN's <c>degree_as_tag</c>
/// (IMDB-BINARY: 65 values, GIN's input width), not over 0..max degree as the TU loader does.</item>
/// </list>
/// </summary>
public static class GinFormat
{
    public const int NumFolds = 10;

    /// <summary>Candidate file names in gin_format for a dataset (PTC_MR -> PTC, IMDB-BINARY -> IMDBBINARY).</summary>
    public static string[] FileCandidates(string dataset) =>
        new[] { dataset, dataset.Replace("-", ""), dataset.Split('_')[0] }.Distinct().Select(n => n + ".txt").ToArray();

    /// <summary>Load <c>root/DATASET/gin_format</c> (its graph file and, when present, its 10 folds).</summary>
    public static GraphDataset Load(DataRoot root, string dataset, GinFeatures features = GinFeatures.Auto)
    {
        var folder = Path.Combine(dataset, "gin_format");
        var candidates = FileCandidates(dataset);
        var dir = Path.Combine(root.Path, folder);
        var file = candidates.FirstOrDefault(c => File.Exists(Path.Combine(dir, c))) ?? candidates[0];
        root.Require(dataset, folder, [file]);
        return LoadFile(Path.Combine(dir, file), dataset, features);
    }

    /// <summary>Load one GIN text file; folds from the <c>10fold_idx</c> folder next to it, when it exists. With
    /// <paramref name="tagVocabulary"/>, tag <c>t</c> is one-hot at its position in the vocabulary (a file of fake
    /// graphs read with the real data's feature columns; a tag outside it is an error), else tags are numbered in
    /// order of first appearance.</summary>
    public static GraphDataset LoadFile(string path, string name, GinFeatures features = GinFeatures.Auto, int[]? tagVocabulary = null)
    {
        if (tagVocabulary is not null && tagVocabulary.Distinct().Count() != tagVocabulary.Length)
            throw new ArgumentException($"GinFormat.LoadFile({path}): the tag vocabulary must list distinct tags; {string.Join(", ", tagVocabulary.GroupBy(t => t).Where(g => g.Count() > 1).Select(g => g.Key))} repeat", nameof(tagVocabulary));
        var fixedTags = tagVocabulary?.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var f = TextLines.Read(path);
        var numGraphs = f.Ints(0, "the number of graphs", 1)[0];
        if (numGraphs < 1) throw f.Error(0, "a positive number of graphs");
        var line = 1;
        var rawLabels = new int[numGraphs];
        var adj = new Csr[numGraphs];
        var tags = new int[numGraphs][];
        var tagIndex = new Dictionary<int, int>();
        for (var g = 0; g < numGraphs; g++)
        {
            var head = f.Ints(line, $"'n label' (node count and label) of graph {g + 1} of {numGraphs}", 2);
            var n = head[0];
            if (n < 1) throw f.Error(line, $"a positive node count for graph {g + 1}");
            rawLabels[g] = head[1];
            line++;
            var src = new List<int>();
            var dst = new List<int>();
            tags[g] = new int[n];
            for (var j = 0; j < n; j++, line++)
            {
                var what = $"node line 'tag m nbr_1 .. nbr_m' ({j + 1} of {n}) of graph {g + 1}";
                var fields = f.Fields(line, what);
                if (fields.Count < 2 || !f.TryInt(line, fields[0], out var tag) || !f.TryInt(line, fields[1], out var m) || m < 0)
                    throw f.Error(line, what);
                if (fields.Count < 2 + m)
                    throw f.Error(line, $"{what}: {m} neighbours announced, {fields.Count - 2} fields follow");
                for (var k = 0; k < m; k++)
                {
                    if (!f.TryInt(line, fields[2 + k], out var nb) || nb < 0 || nb >= n)
                        throw f.Error(line, $"{what}: neighbour {k + 1} must be a node id in 0..{n - 1}");
                    src.Add(j);
                    dst.Add(nb);
                }
                for (var k = 2 + m; k < fields.Count; k++)
                    if (!f.TryDouble(line, fields[k], out _))
                        throw f.Error(line, $"{what}: attribute column {k - 1 - m} is not a number");
                int t;
                if (fixedTags is not null)
                {
                    if (!fixedTags.TryGetValue(tag, out t))
                        throw f.Error(line, $"{what}: tag {tag} is not one of the {fixedTags.Count} tags of the feature vocabulary");
                    tagIndex[tag] = t;
                }
                else if (!tagIndex.TryGetValue(tag, out t)) tagIndex[tag] = t = tagIndex.Count;
                tags[g][j] = t;
            }
            adj[g] = GraphBuild.SymmetricAdjacency(n, src.ToArray(), dst.ToArray());
        }
        if (line < f.Count)
            throw f.Error(line, $"the end of the file after the {numGraphs} graphs announced on line 1");

        var useDegree = features == GinFeatures.Degree || (features == GinFeatures.Auto && fixedTags is null && tagIndex.Count <= 1);
        int[][] hot;
        int width;
        if (useDegree)
        {
            var degrees = adj.Select(GraphBuild.Degrees).ToArray();
            var (values, _) = GraphBuild.Unique(degrees.SelectMany(d => d).ToArray());
            var pos = values.Select((v, i) => (v, i)).ToDictionary(p => p.v, p => p.i);
            hot = degrees.Select(d => d.Select(v => pos[v]).ToArray()).ToArray();
            width = values.Length;
        }
        else
        {
            hot = tags;
            width = fixedTags?.Count ?? tagIndex.Count;
        }
        var (_, labels) = GraphBuild.Unique(rawLabels);
        var graphs = new GraphSample[numGraphs];
        for (var g = 0; g < numGraphs; g++)
            graphs[g] = new GraphSample(adj[g], GraphBuild.OneHot(hot[g], width), labels[g]);
        var folds = ReadFolds(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "10fold_idx"), numGraphs);
        return new GraphDataset(name, graphs, labels.Max() + 1, width,
            folds is null ? FSharpOption<int[][]>.None : FSharpOption<int[][]>.Some(folds));
    }

    /// <summary>
    /// The test indices of the 10 standard folds, or null when <paramref name="dir"/> does not exist. Test folds
    /// must be disjoint; a <c>train_idx-K.txt</c> next to a test file must be its complement. They need not cover
    /// every graph: the DGCNN/GIN folds hold floor(N/10) test graphs each, so N mod 10 graphs (MUTAG 8, PTC 4,
    /// PROTEINS 3) are in no test fold and always train; 10-fold means are over 10 * floor(N/10) test graphs.
    /// </summary>
    public static int[][]? ReadFolds(string dir, int numGraphs)
    {
        if (!Directory.Exists(dir)) return null;
        var expected = Enumerable.Range(1, NumFolds).Select(k => $"test_idx-{k}.txt").ToArray();
        var missing = expected.Where(e => !File.Exists(Path.Combine(dir, e))).ToArray();
        if (missing.Length > 0)
            throw new Errors.GcnKdUserError($"fold folder {dir} is incomplete: {string.Join(", ", missing)} not found; expected {expected[0]} .. {expected[^1]}");
        var foldOf = new int[numGraphs];
        Array.Fill(foldOf, -1);
        var folds = new int[NumFolds][];
        for (var k = 0; k < NumFolds; k++)
        {
            var f = TextLines.Read(Path.Combine(dir, expected[k]));
            folds[k] = ReadIndices(f, numGraphs);
            for (var i = 0; i < folds[k].Length; i++)
            {
                var g = folds[k][i];
                if (foldOf[g] >= 0)
                    throw f.Error(i, $"a graph index not used by another fold, but {g} is also in test_idx-{foldOf[g] + 1}.txt");
                foldOf[g] = k;
            }
            var trainPath = Path.Combine(dir, $"train_idx-{k + 1}.txt");
            if (File.Exists(trainPath))
            {
                var t = TextLines.Read(trainPath);
                var train = ReadIndices(t, numGraphs).Order();
                if (!train.SequenceEqual(GcnKd.Splits.complement(numGraphs, folds[k])))
                    throw t.FileError($"expected the complement of test_idx-{k + 1}.txt in 0..{numGraphs - 1} (every other graph, once)");
            }
        }
        return folds;
    }

    private static int[] ReadIndices(TextLines f, int numGraphs)
    {
        var r = new int[f.Count];
        for (var i = 0; i < f.Count; i++)
        {
            r[i] = f.Ints(i, "one graph index", 1)[0];
            if ((uint)r[i] >= (uint)numGraphs) throw f.Error(i, $"a graph index in 0..{numGraphs - 1}");
        }
        return r;
    }
}
