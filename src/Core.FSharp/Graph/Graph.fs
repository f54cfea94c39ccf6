/// Pure graph utilities on CSR adjacencies (row = destination, column = source): self-loops, de-duplication,
/// symmetrisation, degrees and degree features, the GCN and mean normalisations, block-diagonal batching and
/// global pooling per graph of a batch. Structural functions return new matrices (inputs are never written);
/// results are sorted by (row, column) unless a function says it keeps the input order.
namespace GcnKd

open System

[<RequireQualifiedAccess>]
module Graph =
    let private square (op: string) (a: Csr) =
        Csr.ensureValid a
        if a.Rows <> a.Cols then
            invalidArg "a" (sprintf "Graph.%s: the adjacency must be square (one row and one column per node), got %d x %d" op a.Rows a.Cols)

    /// A CSR built row by row from kept entries: `keep e` decides each stored entry, in stored order.
    let private filterEntries (a: Csr) (keep: int -> int -> bool) =
        let rowPtr = Array.zeroCreate<int> (a.Rows + 1)
        let cols = ResizeArray<int>(a.ColIdx.Length)
        let vals = ResizeArray<float32>(a.ColIdx.Length)
        for i in 0 .. a.Rows - 1 do
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                if keep i e then
                    cols.Add a.ColIdx.[e]
                    vals.Add a.Values.[e]
            rowPtr.[i + 1] <- cols.Count
        { Rows = a.Rows; Cols = a.Cols; RowPtr = rowPtr; ColIdx = cols.ToArray(); Values = vals.ToArray() }

    /// Drop repeated (row, column) entries, keeping the first one in stored order (its value). The result is sorted
    /// by (row, column): the stable sort of Csr.ofCoo keeps duplicates in stored order, so "first" survives it.
    let dedup (a: Csr) : Csr =
        Csr.ensureValid a
        let s = Csr.ofCoo a.Rows a.Cols (Csr.edgeRows a) a.ColIdx (Some a.Values)
        filterEntries s (fun i e -> e = s.RowPtr.[i] || s.ColIdx.[e] <> s.ColIdx.[e - 1])

    /// Add a self-loop of value 1 to every node that has none; existing loops (and their values) are kept, as PyG's
    /// add_remaining_self_loops does, so a weighted loop is never doubled. The new loop goes before the row's first
    /// entry with a larger column, so sorted rows stay sorted; other entries keep their order.
    let addSelfLoops (a: Csr) : Csr =
        square "addSelfLoops" a
        let n = a.Rows
        let hasLoop = Array.zeroCreate<bool> n
        for i in 0 .. n - 1 do
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                if a.ColIdx.[e] = i then hasLoop.[i] <- true
        let rowPtr = Array.zeroCreate<int> (n + 1)
        for i in 0 .. n - 1 do
            rowPtr.[i + 1] <- rowPtr.[i] + (a.RowPtr.[i + 1] - a.RowPtr.[i]) + (if hasLoop.[i] then 0 else 1)
        let cols = Array.zeroCreate<int> rowPtr.[n]
        let vals = Array.zeroCreate<float32> rowPtr.[n]
        for i in 0 .. n - 1 do
            let mutable o = rowPtr.[i]
            let mutable pending = not hasLoop.[i]
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                if pending && a.ColIdx.[e] > i then
                    cols.[o] <- i
                    vals.[o] <- 1.0f
                    o <- o + 1
                    pending <- false
                cols.[o] <- a.ColIdx.[e]
                vals.[o] <- a.Values.[e]
                o <- o + 1
            if pending then
                cols.[o] <- i
                vals.[o] <- 1.0f
        { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = cols; Values = vals }

    /// Drop every diagonal entry; the others keep their order and values.
    let removeSelfLoops (a: Csr) : Csr =
        square "removeSelfLoops" a
        filterEntries a (fun i e -> a.ColIdx.[e] <> i)

    /// The undirected version of a graph: the pattern of A union A^T, de-duplicated, all values 1, sorted by
    /// (row, column). Existing self-loops stay (once).
    let symmetrize (a: Csr) : Csr =
        square "symmetrize" a
        let rows = Csr.edgeRows a
        let s = Csr.ofCoo a.Rows a.Cols (Array.append rows a.ColIdx) (Array.append a.ColIdx rows) None
        filterEntries s (fun i e -> e = s.RowPtr.[i] || s.ColIdx.[e] <> s.ColIdx.[e - 1])

    /// Stored entries per row: the number of in-neighbours of each node (duplicate entries count, values do not).
    /// For the symmetric adjacencies of the datasets this is the degree.
    let inDegrees (a: Csr) : int[] =
        Csr.ensureValid a
        Array.init a.Rows (fun i -> a.RowPtr.[i + 1] - a.RowPtr.[i])

    /// Degree features (PyG's OneHotDegree with clipping): row i is one-hot at min(inDegree i, maxDegree), so the
    /// result is [N; maxDegree + 1]. Used for TU datasets without node labels.
    let oneHotDegree (maxDegree: int) (a: Csr) : Tensor =
        if maxDegree < 0 then invalidArg "maxDegree" (sprintf "Graph.oneHotDegree: maxDegree must be >= 0, got %d" maxDegree)
        let deg = inDegrees a
        let w = maxDegree + 1
        let d = Array.zeroCreate<float32> (a.Rows * w)
        for i in 0 .. a.Rows - 1 do d.[i * w + min deg.[i] maxDegree] <- 1.0f
        Tensor.Wrap([| a.Rows; w |], d)

    /// Weighted in-degree (row sums of the values), accumulated in float64 in stored order.
    let private rowSums (a: Csr) =
        Array.init a.Rows (fun i ->
            let mutable s = 0.0
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do s <- s + float a.Values.[e]
            s)

    /// The GCN propagation matrix D^-1/2 (A + I) D^-1/2 of Kipf & Welling (2017, eq. 2), with "remaining" self-loops
    /// (nodes that already have a loop keep its value instead of getting 1 more, as PyG's gcn_norm) and D the
    /// weighted in-degree of A + I (row sums). A node of degree <= 0 (only possible with non-positive weights) gets
    /// the factor 0 instead of infinity, like PyG's masked inverse square root. Entry order as addSelfLoops.
    let gcnNorm (a: Csr) : Csr =
        square "gcnNorm" a
        let h = addSelfLoops a
        let dinv = rowSums h |> Array.map (fun d -> if d > 0.0 then 1.0 / sqrt d else 0.0)
        let vals = Array.zeroCreate<float32> h.Values.Length
        for i in 0 .. h.Rows - 1 do
            for e in h.RowPtr.[i] .. h.RowPtr.[i + 1] - 1 do
                vals.[e] <- float32 (dinv.[i] * float h.Values.[e] * dinv.[h.ColIdx.[e]])
        { h with Values = vals }

    /// D^-1/2 A D^-1/2 with D the row sums of the values (weighted in-degrees), adding no self-loops (DGL
    /// GraphConv's normalisation on a graph that already has its loops): entries a_ij / sqrt(d_i d_j); nodes of
    /// degree <= 0 keep 0.
    let symNorm (a: Csr) : Csr =
        Csr.ensureValid a
        if a.Rows <> a.Cols then invalidArg "a" (sprintf "symNorm: the adjacency must be square, got %d x %d" a.Rows a.Cols)
        let inv =
            Array.init a.Rows (fun i ->
                let mutable d = 0.0
                for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do d <- d + float a.Values.[e]
                if d > 0.0 then 1.0 / sqrt d else 0.0)
        let rows = Csr.edgeRows a
        { a with Values = Array.init (Csr.nnz a) (fun e -> float32 (float a.Values.[e] * inv.[rows.[e]] * inv.[a.ColIdx.[e]])) }

    /// Row normalisation D^-1 A with D the row sums of the values (1 / in-degree for unit weights), so A @ X is the
    /// mean of the in-neighbours' features (GraphSAGE-mean, Hamilton et al. 2017). Rows with no entries stay empty
    /// (their aggregate is 0); a row whose values sum to 0 gets zeros.
    let meanNorm (a: Csr) : Csr =
        Csr.ensureValid a
        let s = rowSums a
        let vals = Array.zeroCreate<float32> a.Values.Length
        for i in 0 .. a.Rows - 1 do
            let inv = if s.[i] = 0.0 then 0.0 else 1.0 / s.[i]
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do vals.[e] <- float32 (float a.Values.[e] * inv)
        { a with Values = vals }

    /// The n x n adjacency of the directed edges src.[k] -> dst.[k]: entry (dst, src) = 1, so row i lists i's
    /// in-neighbours. Duplicates stay (see dedup); pass both directions, or symmetrize, for an undirected graph.
    let ofEdgeList (n: int) (src: int[]) (dst: int[]) : Csr =
        if n < 0 then invalidArg "n" (sprintf "Graph.ofEdgeList: the node count must be >= 0, got %d" n)
        if src.Length <> dst.Length then
            invalidArg "dst" (sprintf "Graph.ofEdgeList: src has %d edges but dst has %d" src.Length dst.Length)
        let check (name: string) (ids: int[]) =
            ids |> Array.iteri (fun k v ->
                if v < 0 || v >= n then invalidArg name (sprintf "Graph.ofEdgeList: %s.[%d] = %d is not a node id in [0, %d)" name k v n))
        check "src" src
        check "dst" dst
        Csr.ofEdges n src dst

    /// Many graphs as one block-diagonal graph (PyG's Batch): graph g's node u becomes node NodeOffsets.[g] + u.
    /// O(total nnz + total nodes); entry order within rows is kept.
    let batch (adjs: Csr[]) : GraphBatch =
        if isNull adjs then invalidArg "adjs" "Graph.batch: adjs is null"
        adjs |> Array.iteri (fun g a ->
            Csr.ensureValid a
            if a.Rows <> a.Cols then
                invalidArg "adjs" (sprintf "Graph.batch: graph %d has a %d x %d adjacency; it must be square" g a.Rows a.Cols))
        let offsets = Array.zeroCreate<int> (adjs.Length + 1)
        let entryOffsets = Array.zeroCreate<int> (adjs.Length + 1)
        for g in 0 .. adjs.Length - 1 do
            offsets.[g + 1] <- offsets.[g] + adjs.[g].Rows
            entryOffsets.[g + 1] <- entryOffsets.[g] + adjs.[g].ColIdx.Length
        let n, nnz = offsets.[adjs.Length], entryOffsets.[adjs.Length]
        let rowPtr = Array.zeroCreate<int> (n + 1)
        let cols = Array.zeroCreate<int> nnz
        let vals = Array.zeroCreate<float32> nnz
        let nodeGraph = Array.zeroCreate<int> n
        Threads.For(adjs.Length, 64, Action<int, int>(fun lo hi ->
            for g in lo .. hi - 1 do
                let a, o, eo = adjs.[g], offsets.[g], entryOffsets.[g]
                for i in 0 .. a.Rows - 1 do
                    rowPtr.[o + i + 1] <- eo + a.RowPtr.[i + 1]
                    nodeGraph.[o + i] <- g
                for e in 0 .. a.ColIdx.Length - 1 do cols.[eo + e] <- o + a.ColIdx.[e]
                Array.blit a.Values 0 vals eo a.Values.Length))
        { Adj = { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = cols; Values = vals }
          NodeGraph = nodeGraph
          NodeOffsets = offsets
          NumGraphs = adjs.Length }

    /// Nodes per graph of a batch (to split node-level outputs back into graphs).
    let unbatchCounts (b: GraphBatch) : int[] = Array.init b.NumGraphs (fun g -> b.NodeOffsets.[g + 1] - b.NodeOffsets.[g])

    /// The node features of a batch: the graphs' feature matrices stacked along rows, in batch order
    /// (differentiable, via Reshape.concat).
    let batchFeatures (xs: Tensor[]) : Tensor =
        if isNull xs || xs.Length = 0 then invalidArg "xs" "Graph.batchFeatures: needs at least one feature matrix"
        xs |> Array.iteri (fun g x ->
            if x.Rank < 1 then invalidArg "xs" (sprintf "Graph.batchFeatures: graph %d has a scalar (rank 0) feature tensor" g))
        Reshape.concat 0 xs

    let private checkPool (op: string) (b: GraphBatch) (x: Tensor) =
        if b.NodeGraph.Length <> b.NumNodes then
            invalidArg "b" (sprintf "Graph.%s: the batch has %d nodes but NodeGraph has length %d" op b.NumNodes b.NodeGraph.Length)
        if x.Rank < 1 || x.Shape.[0] <> b.NumNodes then
            invalidArg "x" (sprintf "Graph.%s: x must have one row per node of the batch (%d rows), got shape %s" op b.NumNodes (Shape.describe x.Shape))

    /// Sum of each graph's node rows: [N; d] -> [NumGraphs; d] (the readout of GIN, Xu et al. 2019, eq. 4.2).
    let sumPool (b: GraphBatch) (x: Tensor) =
        checkPool "sumPool" b x
        Sparse.segmentSum b.NodeGraph b.NumGraphs x

    /// Mean of each graph's node rows (0 for a graph without nodes).
    let meanPool (b: GraphBatch) (x: Tensor) =
        checkPool "meanPool" b x
        Sparse.segmentMean b.NodeGraph b.NumGraphs x

    /// Column-wise max of each graph's node rows (0 for a graph without nodes; the gradient goes to the lowest
    /// node attaining the max).
    let maxPool (b: GraphBatch) (x: Tensor) =
        checkPool "maxPool" b x
        Sparse.segmentMax b.NodeGraph b.NumGraphs x
