/// Exact k-nearest-neighbour graphs in feature space, per graph of a batch: the dynamic graphs of DGCNN / EdgeConv
/// (Wang et al. 2019, eq. 7: the graph is recomputed from each layer's features).
///
/// Row i (destination) of the result holds the k nodes of i's graph nearest to i in squared Euclidean distance,
/// ties broken by the lower node index; its columns are stored in INCREASING INDEX order (canonical CSR order, as
/// Csr.ofCoo produces), all values 1. With `includeSelf` node i is one of its own candidates (distance 0, so it is
/// chosen unless more than k duplicates of it have lower indices); without it, i is never its own neighbour. A graph
/// with no more candidates than k contributes all of them.
///
/// How (fast and still exact): per graph, features are centred (distances are translation invariant and centring
/// shrinks the cancellation error) and the Gram block X X^T comes from the GEMM, giving approximate distances
/// ||x_j||^2 - 2 x_i.x_j (+ the row constant ||x_i||^2, dropped) with a rigorous error bound E_i (standard
/// floating-point bounds: gamma_d for the dot products and norms, plus the centring and the final roundings). A
/// quickselect finds the k-th smallest approximate value tau; candidates below tau - 2E are surely among the k
/// nearest, those above tau + 2E surely not, and only the few in between get their exact distance, computed in
/// float64 from the float32 inputs (the result is what a float64 brute force gives). Rows run in parallel; every
/// step depends only on the data, so the graph is identical for any thread count. No gradient: the graph is discrete.
namespace GcnKd

open System
open GcnKd.Kernels

[<RequireQualifiedAccess>]
module Knn =
    /// Gram-matrix floats computed per pass (16 MiB); a graph bigger than that is done in row blocks.
    [<Literal>]
    let private GramBudget = 4194304

    /// Hoare's FIND (quickselect, as in Numerical Recipes' `select`) over the pairs (keys.[p], ids.[p]), p in
    /// [lo, hi), ordered lexicographically (the ids are distinct, so the order is total). Afterwards position t
    /// holds the t-th smallest pair and positions lo .. t-1 the smaller ones, in no particular order. Median-of-three
    /// pivots; expected O(hi - lo); deterministic.
    let private select (keys: float[]) (ids: int[]) (lo: int) (hi: int) (t: int) =
        let inline less (ka: float) (ia: int) (kb: float) (ib: int) = ka < kb || (ka = kb && ia < ib)
        let inline lessAt a b = less keys.[a] ids.[a] keys.[b] ids.[b]
        let inline swap a b =
            let k = keys.[a]
            keys.[a] <- keys.[b]
            keys.[b] <- k
            let i = ids.[a]
            ids.[a] <- ids.[b]
            ids.[b] <- i
        let mutable l = lo
        let mutable r = hi - 1
        let mutable fin = false
        while not fin do
            if r <= l + 1 then
                if r = l + 1 && lessAt r l then swap l r
                fin <- true
            else
                swap ((l + r) >>> 1) (l + 1)
                if lessAt r l then swap l r
                if lessAt r (l + 1) then swap (l + 1) r
                if lessAt (l + 1) l then swap l (l + 1)
                // a[l] <= pivot = a[l+1] <= a[r]: sentinels for the two scans
                let pk, pi = keys.[l + 1], ids.[l + 1]
                let mutable i = l + 1
                let mutable j = r
                let mutable go = true
                while go do
                    i <- i + 1
                    while less keys.[i] ids.[i] pk pi do i <- i + 1
                    j <- j - 1
                    while less pk pi keys.[j] ids.[j] do j <- j - 1
                    if j < i then go <- false else swap i j
                keys.[l + 1] <- keys.[j]
                ids.[l + 1] <- ids.[j]
                keys.[j] <- pk
                ids.[j] <- pi
                if j >= t then r <- j - 1
                if j <= t then l <- i

    /// Exact squared distance of rows a and b of x (width d), in float64, summed in column order.
    let private exactSqDist (x: float32[]) (d: int) (a: int) (b: int) =
        let mutable s = 0.0
        let oa, ob = a * d, b * d
        for c in 0 .. d - 1 do
            let t = float x.[oa + c] - float x.[ob + c]
            s <- s + t * t
        s

    /// Per-row scratch, allocated once per parallel chunk.
    type private Scratch(n: int) =
        member val S = Array.zeroCreate<float32> n
        member val Keys = Array.zeroCreate<float> n
        member val Ids = Array.zeroCreate<int> n
        member val MaybeKeys = Array.zeroCreate<float> n
        member val MaybeIds = Array.zeroCreate<int> n

    /// The k-NN graph (see the module comment): x is [N; d] (values only; the graph carries no gradient),
    /// nodeGraph.[i] in [0, numGraphs) is node i's graph (nodes of a graph need not be contiguous).
    let graph (k: int) (includeSelf: bool) (nodeGraph: int[]) (numGraphs: int) (x: Tensor) : Csr =
        if k < 1 then invalidArg "k" (sprintf "Knn.graph: k must be at least 1, got %d" k)
        if isNull nodeGraph then invalidArg "nodeGraph" "Knn.graph: nodeGraph is null"
        if numGraphs < 0 then invalidArg "numGraphs" (sprintf "Knn.graph: numGraphs must be >= 0, got %d" numGraphs)
        if x.Rank <> 2 then invalidArg "x" (sprintf "Knn.graph: x must be [N; d] (rank 2), got shape %s" (Shape.describe x.Shape))
        let n, d = x.Shape.[0], x.Shape.[1]
        if nodeGraph.Length <> n then
            invalidArg "nodeGraph" (sprintf "Knn.graph: nodeGraph has length %d but x has %d rows (one graph id per node)" nodeGraph.Length n)
        nodeGraph |> Array.iteri (fun i g ->
            if g < 0 || g >= numGraphs then
                invalidArg "nodeGraph" (sprintf "Knn.graph: nodeGraph.[%d] = %d is not a graph id in [0, %d)" i g numGraphs))
        let xd = x.Data
        for p in 0 .. xd.Length - 1 do
            if not (Single.IsFinite xd.[p]) then
                invalidArg "x" (sprintf "Knn.graph: x.[%d, %d] is %g; features must be finite" (p / d) (p % d) xd.[p])
        // members of graph g (ascending node ids): pos.[ptr.[g] ..< ptr.[g+1]]
        let ptr, members = SparseKernels.countingSort numGraphs nodeGraph (Array.init n id)
        let size g = ptr.[g + 1] - ptr.[g]
        let avail g = size g - (if includeSelf then 0 else 1)
        let rowPtr = Array.zeroCreate<int> (n + 1)
        let degree = Array.init n (fun i -> max 0 (min k (avail nodeGraph.[i])))
        for i in 0 .. n - 1 do rowPtr.[i + 1] <- rowPtr.[i] + degree.[i]
        let cols = Array.zeroCreate<int> rowPtr.[n]
        let isBig g = avail g > k
        // small graphs: every candidate, already in index order
        Threads.For(numGraphs, 1, Action<int, int>(fun lo hi ->
            for g in lo .. hi - 1 do
                if not (isBig g) then
                    for a in ptr.[g] .. ptr.[g + 1] - 1 do
                        let i = members.[a]
                        let mutable o = rowPtr.[i]
                        for b in ptr.[g] .. ptr.[g + 1] - 1 do
                            if includeSelf || b <> a then
                                cols.[o] <- members.[b]
                                o <- o + 1))
        let big = [| for g in 0 .. numGraphs - 1 do if isBig g then yield g |]
        if big.Length > 0 then
            // centred features in member order, their squared norms, and the largest norm per graph
            let xc = Array.zeroCreate<float32> (n * d)
            let nrm = Array.zeroCreate<float32> n
            let nmax = Array.zeroCreate<float32> numGraphs
            Threads.For(big.Length, 1024, Action<int, int>(fun lo hi ->
                let mean = Array.zeroCreate<float> d
                for bg in lo .. hi - 1 do
                    let g = big.[bg]
                    Array.Clear mean
                    for a in ptr.[g] .. ptr.[g + 1] - 1 do
                        let o = members.[a] * d
                        for c in 0 .. d - 1 do mean.[c] <- mean.[c] + float xd.[o + c]
                    for c in 0 .. d - 1 do mean.[c] <- mean.[c] / float (size g)
                    let mutable m = 0.0f
                    for a in ptr.[g] .. ptr.[g + 1] - 1 do
                        let o = members.[a] * d
                        let mutable s = 0.0f
                        for c in 0 .. d - 1 do
                            let v = float32 (float xd.[o + c] - mean.[c])
                            xc.[a * d + c] <- v
                            s <- s + v * v
                        nrm.[a] <- s
                        m <- max m s
                    nmax.[g] <- m))
            // work units (graph, first local row, rows), packed into passes of at most GramBudget Gram floats
            let units = ResizeArray<struct (int * int * int)>()
            for g in big do
                let ng = size g
                let rb = max 1 (min ng (GramBudget / ng))
                let mutable r0 = 0
                while r0 < ng do
                    units.Add(struct (g, r0, min rb (ng - r0)))
                    r0 <- r0 + rb
            let largest = big |> Array.map size |> Array.max
            let unitLen (struct (g, _, rb)) = rb * size g
            let total = units |> Seq.sumBy (fun t -> int64 (unitLen t))
            let gramLen = max (units |> Seq.map unitLen |> Seq.max) (int (min (int64 GramBudget) total))
            let gram = GC.AllocateUninitializedArray<float32> gramLen
            // rigorous error bound factor of the approximate distances, in units of (||x_i||^2 + max_j ||x_j||^2)
            let bound = (2.0 * float d + 16.0) * (Math.Pow(2.0, -24.0)) * 1.01
            let twoE = 2.0 * bound
            // the k nearest candidates of node members.[b0 + li] of graph g (b0 = ptr.[g]), from its Gram row at `off`
            let selectRow (sc: Scratch) (g: int) (li: int) (off: int) =
                let b0, ng = ptr.[g], size g
                let i = members.[b0 + li]
                let s, keys, ids, mk, mi = sc.S, sc.Keys, sc.Ids, sc.MaybeKeys, sc.MaybeIds
                // approximate distance minus the row constant ||x_i||^2: S_j = ||x_j||^2 - 2 x_i.x_j
                for j in 0 .. ng - 1 do s.[j] <- nrm.[b0 + j] - 2.0f * gram.[off + j]
                let mutable m = 0
                for j in 0 .. ng - 1 do
                    if includeSelf || j <> li then
                        keys.[m] <- float s.[j]
                        ids.[m] <- j
                        m <- m + 1
                select keys ids 0 m (k - 1)
                let tau = keys.[k - 1]
                // 2E; the absolute term covers products that underflow to subnormals
                let e = twoE * (float nrm.[b0 + li] + float nmax.[g]) + float d * 1e-43
                let o0 = rowPtr.[i]
                // sure (written straight into the row) and maybe (exact distance kept) candidates
                let classify (allMaybe: bool) =
                    let lo, hi = tau - e, tau + e
                    let mutable sure = 0
                    let mutable mc = 0
                    for j in 0 .. ng - 1 do
                        if includeSelf || j <> li then
                            let v = float s.[j]
                            if not allMaybe && v < lo then
                                if sure < k then cols.[o0 + sure] <- j
                                sure <- sure + 1
                            elif allMaybe || v <= hi then
                                mk.[mc] <- exactSqDist xd d i members.[b0 + j]
                                mi.[mc] <- j
                                mc <- mc + 1
                    struct (sure, mc)
                // the bound makes the first pass exact; the exhaustive pass is for norms near float32 overflow
                let struct (sure0, mc0) = if nmax.[g] < 1e36f then classify false else struct (-1, 0)
                let struct (sure, mc) = if sure0 >= 0 && sure0 <= k && sure0 + mc0 >= k then struct (sure0, mc0) else classify true
                let need = k - sure
                if need > 0 && need < mc then select mk mi 0 mc (need - 1)
                for t in 0 .. need - 1 do cols.[o0 + sure + t] <- mi.[t]
                Array.Sort(cols, o0, k)
                for t in o0 .. o0 + k - 1 do cols.[t] <- members.[b0 + cols.[t]]
            let mutable u = 0
            while u < units.Count do
                // one pass: consecutive units whose Gram blocks fit in the buffer together
                let rowG, rowLocal, rowOff = ResizeArray<int>(), ResizeArray<int>(), ResizeArray<int>()
                let mutable used = 0
                while u < units.Count && used + unitLen units.[u] <= gramLen do
                    let struct (g, r0, rb) = units.[u]
                    let ng = size g
                    Gemm.gemm false true rb ng d xc ((ptr.[g] + r0) * d) xc (ptr.[g] * d) 0.0f gram used
                    for r in 0 .. rb - 1 do
                        rowG.Add g
                        rowLocal.Add(r0 + r)
                        rowOff.Add(used + r * ng)
                    used <- used + rb * ng
                    u <- u + 1
                let rowG, rowLocal, rowOff = rowG.ToArray(), rowLocal.ToArray(), rowOff.ToArray()
                Threads.For(rowG.Length, 8 * largest, Action<int, int>(fun lo hi ->
                    let sc = Scratch(largest)
                    for q in lo .. hi - 1 do selectRow sc rowG.[q] rowLocal.[q] rowOff.[q]))
        { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = cols; Values = Array.create cols.Length 1.0f }
