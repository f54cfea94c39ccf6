/// Exact k-nearest-neighbour graphs in feature space, per graph of a batch: the dynamic graphs of DGCNN / EdgeConv
/// (Wang et al. 2019, eq. 7: the graph is recomputed from each layer's features).
///
/// Row i (destination) of the result holds the k nodes of i's graph nearest to i in squared Euclidean distance,
/// ties broken by the lower node index; its columns are stored in INCREASING INDEX order (canonical CSR order, as
/// Csr.ofCoo produces), all values 1. With `includeSelf` node i is one of its own candidates (distance 0, so it is
/// chosen unless k or more duplicates of it have lower indices); without it, i is never its own neighbour. A graph
/// with no more candidates than k contributes all of them.
///
/// How (fast and still exact): per graph, features are centred (distances are translation invariant and centring
/// shrinks the cancellation error) and the Gram block X X^T comes from the GEMM, giving approximate distances
/// ||x_j||^2 - 2 x_i.x_j (+ the row constant ||x_i||^2, dropped) with a rigorous error bound E_i (standard
/// floating-point bounds: gamma_d for the dot products and norms, plus the centring and the final roundings). A
/// partial selection brackets the k-th smallest approximate value tau in (a, b] by counting (one SIMD compare and
/// popcount per 16 candidates and probe; no sorting, no data-dependent branches per element); candidates at or
/// below a - 2E are surely among the k nearest, those above b + 2E surely not, and only the few in between get
/// their exact distance, computed in float64 from the float32 inputs, so the result is what a float64 brute force
/// gives. Rows run in parallel; every step depends only on the data, so the graph is identical for any thread
/// count. No gradient: the graph is discrete.
namespace GcnKd

#nowarn "9"

open System
open System.Buffers
open System.Numerics
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd.Kernels

[<RequireQualifiedAccess>]
module Knn =
    /// Gram-matrix floats computed per pass (16 MiB); a graph bigger than that is done in row blocks.
    [<Literal>]
    let private GramBudget = 4194304

    /// Counting probes per row before the bracket is taken as it is (a safeguard; a few usually suffice).
    [<Literal>]
    let private MaxProbes = 40

    let inline private at (p: nativeptr<float32>) (i: int) = NativePtr.add p i

    /// s[j] = nrm[j] - 2 g[j] in place over [0, n), returning (min, max) of the results.
    let private rowScores (g: nativeptr<float32>) (nrm: nativeptr<float32>) (n: int) =
        let mutable j = 0
        let mutable lo = Single.PositiveInfinity
        let mutable hi = Single.NegativeInfinity
        if Vector512.IsHardwareAccelerated && n >= 16 then
            let two = Vector512.Create 2.0f
            let mutable vlo = Vector512.Create Single.PositiveInfinity
            let mutable vhi = Vector512.Create Single.NegativeInfinity
            while j + 16 <= n do
                let s = Vector512.Load(at nrm j) - two * Vector512.Load(at g j)
                Vector512.Store(s, at g j)
                vlo <- Vector512.Min(vlo, s)
                vhi <- Vector512.Max(vhi, s)
                j <- j + 16
            for t in 0 .. 15 do
                lo <- min lo (vlo.GetElement t)
                hi <- max hi (vhi.GetElement t)
        elif Vector256.IsHardwareAccelerated && n >= 8 then
            let two = Vector256.Create 2.0f
            let mutable vlo = Vector256.Create Single.PositiveInfinity
            let mutable vhi = Vector256.Create Single.NegativeInfinity
            while j + 8 <= n do
                let s = Vector256.Load(at nrm j) - two * Vector256.Load(at g j)
                Vector256.Store(s, at g j)
                vlo <- Vector256.Min(vlo, s)
                vhi <- Vector256.Max(vhi, s)
                j <- j + 8
            for t in 0 .. 7 do
                lo <- min lo (vlo.GetElement t)
                hi <- max hi (vhi.GetElement t)
        while j < n do
            let s = NativePtr.get nrm j - 2.0f * NativePtr.get g j
            NativePtr.set g j s
            lo <- min lo s
            hi <- max hi s
            j <- j + 1
        struct (lo, hi)

    /// How many of s[0..n) are <= t.
    let private countLe (s: nativeptr<float32>) (n: int) (t: float32) =
        let mutable j = 0
        let mutable c = 0
        if Vector512.IsHardwareAccelerated then
            let vt = Vector512.Create t
            while j + 16 <= n do
                c <- c + BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.Load(at s j), vt).ExtractMostSignificantBits())
                j <- j + 16
        elif Vector256.IsHardwareAccelerated then
            let vt = Vector256.Create t
            while j + 8 <= n do
                c <- c + BitOperations.PopCount(Vector256.LessThanOrEqual(Vector256.Load(at s j), vt).ExtractMostSignificantBits())
                j <- j + 8
        while j < n do
            if NativePtr.get s j <= t then c <- c + 1
            j <- j + 1
        c

    /// Calls f j for every j in [0, n) with s[j] <= t, in increasing j (SIMD masks skip the many far candidates).
    let inline private forEachLe (s: nativeptr<float32>) (n: int) (t: float32) ([<InlineIfLambda>] f: int -> unit) =
        let mutable j = 0
        if Vector512.IsHardwareAccelerated then
            let vt = Vector512.Create t
            while j + 16 <= n do
                let mutable m = Vector512.LessThanOrEqual(Vector512.Load(at s j), vt).ExtractMostSignificantBits()
                while m <> 0UL do
                    f (j + BitOperations.TrailingZeroCount m)
                    m <- m &&& (m - 1UL)
                j <- j + 16
        elif Vector256.IsHardwareAccelerated then
            let vt = Vector256.Create t
            while j + 8 <= n do
                let mutable m = Vector256.LessThanOrEqual(Vector256.Load(at s j), vt).ExtractMostSignificantBits()
                while m <> 0u do
                    f (j + BitOperations.TrailingZeroCount m)
                    m <- m &&& (m - 1u)
                j <- j + 8
        while j < n do
            if NativePtr.get s j <= t then f j
            j <- j + 1

    /// Largest float32 <= v and smallest float32 >= v (directed rounding of a float64 threshold).
    let private down (v: float) = let f = float32 v in if float f > v then MathF.BitDecrement f else f
    let private up (v: float) = let f = float32 v in if float f < v then MathF.BitIncrement f else f

    /// Hoare's FIND (quickselect, as in Numerical Recipes' `select`) over the pairs (keys.[p], ids.[p]), p in
    /// [0, n), ordered lexicographically (the ids are distinct, so the order is total). Afterwards position t
    /// holds the t-th smallest pair and positions before it the smaller ones, in no particular order.
    /// Median-of-three pivots; expected O(n); deterministic. Only the few uncertain candidates of a row come here.
    let private select (keys: float[]) (ids: int[]) (n: int) (t: int) =
        let inline less (ka: float) (ia: int) (kb: float) (ib: int) = ka < kb || (ka = kb && ia < ib)
        let inline lessAt a b = less keys.[a] ids.[a] keys.[b] ids.[b]
        let inline swap a b =
            let k = keys.[a]
            keys.[a] <- keys.[b]
            keys.[b] <- k
            let i = ids.[a]
            ids.[a] <- ids.[b]
            ids.[b] <- i
        let mutable l = 0
        let mutable r = n - 1
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

    /// Per-chunk scratch: the uncertain candidates of a row (exact distance, local index) and two counters.
    type private Scratch(n: int) =
        member val Keys = Array.zeroCreate<float> n
        member val Ids = Array.zeroCreate<int> n
        member val Sure = 0 with get, set
        member val Maybe = 0 with get, set

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
        // graph g's nodes, ascending: members.[ptr.[g] .. ptr.[g+1] - 1] ("positions"; local index = position - ptr.[g])
        let ptr, members = SparseKernels.countingSort numGraphs nodeGraph (Array.init n id)
        let size g = ptr.[g + 1] - ptr.[g]
        let avail g = size g - (if includeSelf then 0 else 1)
        let rowPtr = Array.zeroCreate<int> (n + 1)
        for i in 0 .. n - 1 do rowPtr.[i + 1] <- rowPtr.[i] + max 0 (min k (avail nodeGraph.[i]))
        let cols = Array.zeroCreate<int> rowPtr.[n]
        let isBig g = avail g > k
        // graphs with at most k candidates: all of them, already in index order
        Threads.For(numGraphs, 1, Action<int, int>(fun lo hi ->
            for g in lo .. hi - 1 do
                if not (isBig g) then
                    for a in ptr.[g] .. ptr.[g + 1] - 1 do
                        let mutable o = rowPtr.[members.[a]]
                        for b in ptr.[g] .. ptr.[g + 1] - 1 do
                            if includeSelf || b <> a then
                                cols.[o] <- members.[b]
                                o <- o + 1))
        let big = [| for g in 0 .. numGraphs - 1 do if isBig g then yield g |]
        if big.Length > 0 then
            // centred features by position, their squared norms, and the largest norm per graph
            let xc = Array.zeroCreate<float32> (n * d)
            let nrm = Array.zeroCreate<float32> n
            let nmax = Array.zeroCreate<float32> numGraphs
            Threads.For(big.Length, int (min 1000000000L (4L * int64 n * int64 (d + 1) / int64 big.Length)), Action<int, int>(fun lo hi ->
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
            let unitLen (struct (g, _, rb)) = rb * size g
            let total = units |> Seq.sumBy (fun t -> int64 (unitLen t))
            let gramLen = max (units |> Seq.map unitLen |> Seq.max) (int (min (int64 GramBudget) total))
            // scratch for the Gram blocks, rented (DGCNN calls this at every layer of every step)
            let gram = ArrayPool<float32>.Shared.Rent gramLen
            let largest = big |> Array.map size |> Array.max
            // 2E_i = twoE * (||x_i||^2 + max_j ||x_j||^2): gamma_d (<= 1.01 d u) for the dot products and norms,
            // 4u for the centring, a few u for the final roundings (u = 2^-24), with a margin; the absolute term
            // covers products that underflow to subnormals
            let twoE = 2.0 * (2.0 * float d + 16.0) * Math.Pow(2.0, -24.0) * 1.01
            let tiny = float d * 1e-43
            // the k nearest candidates of node members.[ptr.[g] + li], from its Gram row s (overwritten by scores)
            let selectRow (sc: Scratch) (s: nativeptr<float32>) (pn: nativeptr<float32>) (g: int) (li: int) =
                let b0, ng = ptr.[g], size g
                let i = members.[b0 + li]
                let o0 = rowPtr.[i]
                let keys, ids = sc.Keys, sc.Ids
                // scores S_j = ||x_j||^2 - 2 x_i.x_j: the approximate distance minus the row constant ||x_i||^2
                let struct (smin, smax) = rowScores s (at pn b0) ng
                if not includeSelf then NativePtr.set s li Single.PositiveInfinity
                let e = twoE * (float nrm.[b0 + li] + float nmax.[g]) + tiny
                sc.Sure <- -1
                if nmax.[g] < 1e36f then
                    // bracket the k-th smallest score in (a, b]: count(S <= a) < k <= count(S <= b)
                    let mutable a, ca = MathF.BitDecrement smin, 0
                    let mutable b, cb = smax, avail g
                    let mutable probes = 0
                    let mutable bisect = false
                    while cb - ca > 3 && float b - float a > e && probes < MaxProbes do
                        let frac = if bisect then 0.5 else float (k - ca) / float (cb - ca) |> max 0.0625 |> min 0.9375
                        let t = float32 (float a + (float b - float a) * frac)
                        if t <= a || t >= b then probes <- MaxProbes // adjacent floats: nothing left to split
                        else
                            let span = cb - ca
                            let c = countLe s ng t
                            if c < k then
                                a <- t
                                ca <- c
                            else
                                b <- t
                                cb <- c
                            // interpolation, unless the last one failed to halve the bracket
                            bisect <- not bisect && 2 * (cb - ca) > span
                            probes <- probes + 1
                    // sure: S <= a - 2E < tau - 2E; uncertain: up to b + 2E
                    let loT, hiT = down (float a - e), up (float b + e)
                    sc.Sure <- 0
                    sc.Maybe <- 0
                    forEachLe s ng hiT (fun j ->
                        if NativePtr.get s j <= loT then
                            if sc.Sure < k then cols.[o0 + sc.Sure] <- j
                            sc.Sure <- sc.Sure + 1
                        else
                            keys.[sc.Maybe] <- exactSqDist xd d i members.[b0 + j]
                            ids.[sc.Maybe] <- j
                            sc.Maybe <- sc.Maybe + 1)
                // the bound makes the bracket exact; the exhaustive pass is for norms near float32 overflow
                if sc.Sure < 0 || sc.Sure > k || sc.Sure + sc.Maybe < k then
                    sc.Sure <- 0
                    sc.Maybe <- 0
                    for j in 0 .. ng - 1 do
                        if includeSelf || j <> li then
                            keys.[sc.Maybe] <- exactSqDist xd d i members.[b0 + j]
                            ids.[sc.Maybe] <- j
                            sc.Maybe <- sc.Maybe + 1
                // the best `need` uncertain ones by (exact distance, index), merged into the sorted sure ones
                let sure, need = sc.Sure, k - sc.Sure
                if need > 0 && need < sc.Maybe then select keys ids sc.Maybe (need - 1)
                Array.Sort(ids, 0, need)
                let mutable p = sure - 1
                let mutable q = need - 1
                for w in k - 1 .. -1 .. 0 do
                    if q >= 0 && (p < 0 || cols.[o0 + p] < ids.[q]) then
                        cols.[o0 + w] <- ids.[q]
                        q <- q - 1
                    else
                        cols.[o0 + w] <- cols.[o0 + p]
                        p <- p - 1
                for t in o0 .. o0 + k - 1 do cols.[t] <- members.[b0 + cols.[t]]
            try
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
                    Threads.For(rowG.Length, 2 * largest, Action<int, int>(fun lo hi ->
                        let sc = Scratch(largest)
                        use pg = fixed gram
                        use pn = fixed nrm
                        for q in lo .. hi - 1 do selectRow sc (at pg rowOff.[q]) pn rowG.[q] rowLocal.[q]))
            finally
                ArrayPool<float32>.Shared.Return gram
        { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = cols; Values = Array.create cols.Length 1.0f }
