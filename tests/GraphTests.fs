module GcnKd.Tests.GraphTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---------------------------------------------------------------- random graphs

/// A random square graph with self-loops (some repeated), duplicate edges and isolated nodes; values positive
/// (weights) or all 1.
type G = { N: int; Dst: int[]; Src: int[]; Vals: float32[] }

let graphGen =
    gen {
        let! n = Props.dim 1 14
        let! m = Gen.choose (0, 30)
        let! dst = Gen.arrayOfLength m (Gen.choose (0, n - 1))
        let! src = Gen.arrayOfLength m (Gen.choose (0, n - 1))
        let! loops = Gen.arrayOfLength (min n 3) (Gen.choose (0, n - 1))
        let! dups = Gen.choose (0, min 4 m)
        let! unit = Gen.elements [ true; false ]
        let! seed = Props.seed
        let dst = Array.concat [ dst; loops; Array.truncate dups dst; Array.truncate 1 loops ]
        let src = Array.concat [ src; loops; Array.truncate dups src; Array.truncate 1 loops ]
        let r = Rng.create seed
        let vals = Array.init dst.Length (fun e -> if unit then 1.0f else 0.1f + 2.0f * Rng.uniformAt r (int64 e))
        return { N = n; Dst = dst; Src = src; Vals = vals }
    }

/// The matrix with entries in input order (Csr.ofCoo keeps duplicates in input order within a (row, col)).
let csrOf (g: G) = Csr.ofCoo g.N g.N g.Dst g.Src (Some g.Vals)

/// Stored entries (row, column, value) in CSR order.
let entries (a: Csr) = [| for i in 0 .. a.Rows - 1 do for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> i, a.ColIdx.[e], a.Values.[e] |]
let pattern (a: Csr) = entries a |> Array.map (fun (i, j, _) -> i, j)

let sortedByRowCol (a: Csr) = let p = pattern a in p = Array.sort p

/// Dense float64 matrix with duplicates summed.
let dense64 (a: Csr) =
    let d = Array2D.zeroCreate<float> a.Rows a.Cols
    for (i, j, v) in entries a do d.[i, j] <- d.[i, j] + float v
    d

// ---------------------------------------------------------------- structure

[<Fact>]
let ``symmetrize gives a symmetric, duplicate-free, sorted matrix of ones containing exactly A and A^T`` () =
    Props.forAll graphGen (fun g ->
        let a = csrOf g
        let s = Graph.symmetrize a
        Csr.validate s
        let p = pattern s
        let set = Set.ofArray p
        Assert.Equal(p.Length, set.Count)
        Assert.True(sortedByRowCol s, "sorted by (row, column)")
        Assert.True(s.Values |> Array.forall ((=) 1.0f))
        for (i, j) in p do Assert.True(set.Contains(j, i), sprintf "(%d, %d) without its mirror" i j)
        let expected = Set.ofArray (Array.append (pattern a) (pattern a |> Array.map (fun (i, j) -> j, i)))
        Assert.Equal<Set<int * int>>(expected, set)
        true)

[<Fact>]
let ``dedup keeps the first of each (row, column) with its value`` () =
    Props.forAll graphGen (fun g ->
        let g = { g with Vals = Array.init g.Dst.Length (fun e -> float32 e) }   // value = input position
        let d = Graph.dedup (csrOf g)
        Csr.validate d
        Assert.True(sortedByRowCol d)
        let firsts =
            Array.zip3 g.Dst g.Src g.Vals |> Array.distinctBy (fun (i, j, _) -> i, j) |> Array.sortBy (fun (i, j, _) -> i, j)
        Assert.Equal<(int * int * float32)[]>(firsts, entries d)
        true)

[<Fact>]
let ``addSelfLoops adds a unit loop exactly where none exists; removeSelfLoops drops all loops`` () =
    Props.forAll graphGen (fun g ->
        let a = csrOf g
        let h = Graph.addSelfLoops a
        Csr.validate h
        Assert.True(sortedByRowCol h, "sorted input stays sorted")
        let offDiag (c: Csr) = entries c |> Array.filter (fun (i, j, _) -> i <> j)
        let loops (c: Csr) i = entries c |> Array.filter (fun (r, j, _) -> r = i && j = i) |> Array.map (fun (_, _, v) -> v)
        Assert.Equal<(int * int * float32)[]>(offDiag a, offDiag h)
        for i in 0 .. g.N - 1 do
            let before = loops a i
            Assert.Equal<float32[]>((if before.Length = 0 then [| 1.0f |] else before), loops h i)
        let r = Graph.removeSelfLoops h
        Csr.validate r
        Assert.Equal<(int * int * float32)[]>(offDiag a, entries r)
        true)

[<Fact>]
let ``inDegrees counts entries per row and oneHotDegree is one-hot at min(degree, max)`` () =
    Props.forAll (Gen.zip graphGen (Props.dim 0 6)) (fun (g, maxDeg) ->
        let a = csrOf g
        let deg = Graph.inDegrees a
        Assert.Equal<int[]>(Array.init g.N (fun i -> g.Dst |> Array.filter ((=) i) |> Array.length), deg)
        let f = Graph.oneHotDegree maxDeg a
        Assert.Equal<int[]>([| g.N; maxDeg + 1 |], f.Shape)
        for i in 0 .. g.N - 1 do
            for c in 0 .. maxDeg do
                Assert.Equal((if c = min deg.[i] maxDeg then 1.0f else 0.0f), f.Data.[i * (maxDeg + 1) + c])
        true)

[<Fact>]
let ``ofEdgeList puts edge src -> dst at (dst, src)`` () =
    let a = Graph.ofEdgeList 4 [| 0; 1; 1; 3 |] [| 1; 2; 2; 0 |]
    Assert.Equal<(int * int)[]>([| 0, 3; 1, 0; 2, 1; 2, 1 |], pattern a)
    Assert.Equal(4, a.Rows)
    Assert.Equal(4, a.Cols)

// ---------------------------------------------------------------- normalisations against dense float64

[<Fact>]
let ``gcnNorm equals the dense float64 D^-1/2 (A + I) D^-1/2 with remaining self-loops`` () =
    Props.forAll graphGen (fun g ->
        let a = csrOf g
        let n = g.N
        let ahat = dense64 a
        let hasLoop = Array.init n (fun i -> g.Dst |> Array.exists2 (fun s d -> d = i && s = i) g.Src)
        for i in 0 .. n - 1 do if not hasLoop.[i] then ahat.[i, i] <- 1.0
        let deg = Array.init n (fun i -> Seq.sum (seq { for j in 0 .. n - 1 -> ahat.[i, j] }))
        let got = dense64 (Graph.gcnNorm a)
        for i in 0 .. n - 1 do
            for j in 0 .. n - 1 do
                let e = ahat.[i, j] / sqrt (deg.[i] * deg.[j])
                if abs (got.[i, j] - e) > 1e-6 * (1.0 + abs e) then failwithf "(%d, %d): %g, reference %g" i j got.[i, j] e
        true)

[<Fact>]
let ``symNorm equals the dense float64 D^-1/2 A D^-1/2 and adds no loops`` () =
    Props.forAll graphGen (fun g ->
        let a = csrOf g
        let n = g.N
        let dense = dense64 a
        let deg = Array.init n (fun i -> Seq.sum (seq { for j in 0 .. n - 1 -> dense.[i, j] }))
        let got = Graph.symNorm a
        let gd = dense64 got
        for i in 0 .. n - 1 do
            for j in 0 .. n - 1 do
                let e = if deg.[i] > 0.0 && deg.[j] > 0.0 then dense.[i, j] / sqrt (deg.[i] * deg.[j]) else 0.0
                if abs (gd.[i, j] - e) > 1e-6 * (1.0 + abs e) then failwithf "(%d, %d): %g, reference %g" i j gd.[i, j] e
        pattern got = pattern a)

[<Fact>]
let ``meanNorm equals the dense float64 D^-1 A, empty rows stay empty`` () =
    Props.forAll graphGen (fun g ->
        let a = csrOf g
        let m = Graph.meanNorm a
        Assert.Equal<int[]>(a.RowPtr, m.RowPtr)
        let d, got = dense64 a, dense64 m
        for i in 0 .. g.N - 1 do
            let s = Seq.sum (seq { for j in 0 .. g.N - 1 -> d.[i, j] })
            for j in 0 .. g.N - 1 do
                let e = if s = 0.0 then 0.0 else d.[i, j] / s
                if abs (got.[i, j] - e) > 1e-6 * (1.0 + abs e) then failwithf "(%d, %d): %g, reference %g" i j got.[i, j] e
        true)

[<Fact>]
let ``gcnNorm of a path 0 - 1 - 2 has the textbook values`` () =
    let a = Graph.symmetrize (Graph.ofEdgeList 3 [| 0; 1 |] [| 1; 2 |])
    let d = dense64 (Graph.gcnNorm a)
    // degrees with self-loops: 2, 3, 2
    Assert.Equal(0.5, d.[0, 0], 6)
    Assert.Equal(1.0 / sqrt 6.0, d.[0, 1], 6)
    Assert.Equal(1.0 / 3.0, d.[1, 1], 6)
    Assert.Equal(0.0, d.[0, 2], 6)

// ---------------------------------------------------------------- batching

let batchGen = gen {
    let! count = Props.dim 1 5
    let! graphs = Gen.arrayOfLength count graphGen
    let! empty = Gen.elements [ false; false; true ]
    // a graph without nodes somewhere in the batch
    let graphs = if empty then Array.insertAt (count / 2) { N = 0; Dst = [||]; Src = [||]; Vals = [||] } graphs else graphs
    return graphs }

[<Fact>]
let ``batch shifts every graph's edges by its offset and NodeGraph / NodeOffsets agree`` () =
    Props.forAll batchGen (fun gs ->
        let adjs = gs |> Array.map (fun g -> if g.N = 0 then Csr.ofCoo 0 0 [||] [||] None else csrOf g)
        let b = Graph.batch adjs
        Csr.validate b.Adj
        Assert.Equal(gs.Length, b.NumGraphs)
        Assert.Equal(Array.sumBy (fun g -> g.N) gs, b.NumNodes)
        Assert.Equal<int[]>(Array.scan (+) 0 (gs |> Array.map (fun g -> g.N)), b.NodeOffsets)
        Assert.Equal<int[]>(Array.concat (gs |> Array.mapi (fun k g -> Array.create g.N k)), b.NodeGraph)
        Assert.Equal<int[]>(gs |> Array.map (fun g -> g.N), Graph.unbatchCounts b)
        let expected =
            adjs |> Array.mapi (fun k a -> entries a |> Array.map (fun (i, j, v) -> i + b.NodeOffsets.[k], j + b.NodeOffsets.[k], v))
        Assert.Equal<(int * int * float32)[]>(Array.concat expected, entries b.Adj)
        true)

[<Fact>]
let ``batchFeatures stacks rows and passes gradients back to each graph`` () =
    Props.forAll (Gen.zip3 (Gen.arrayOfLength 3 (Props.dim 0 5)) (Props.dim 1 4) Props.seed) (fun (rows, w, seed) ->
        let r = Rng.splitN 3 (Rng.create seed)
        let xs = rows |> Array.mapi (fun k n -> Tensor.randn r.[k] [| n; w |])
        let concatRef (rs: R[]) = { Shape = [| Array.sum rows; w |]; Data = rs |> Array.collect (fun x -> x.Data) }
        GradCheck.check "batchFeatures" Graph.batchFeatures concatRef [| true; true; true |] xs)

// ---------------------------------------------------------------- pooling

/// Naive per-graph reduction of the rows of x, in float64 (graphs without nodes give 0).
let poolRef (kind: string) (b: GraphBatch) (x: R) =
    let w = x.Shape.[1]
    { Shape = [| b.NumGraphs; w |]
      Data =
        Array.init (b.NumGraphs * w) (fun o ->
            let g, c = o / w, o % w
            let vs = [| for i in b.NodeOffsets.[g] .. b.NodeOffsets.[g + 1] - 1 -> x.Data.[i * w + c] |]
            if vs.Length = 0 then 0.0
            else match kind with "sum" -> Array.sum vs | "mean" -> Array.average vs | _ -> Array.max vs) }

[<Fact>]
let ``sumPool, meanPool and maxPool match naive per-graph reductions and pass the gradient check`` () =
    Props.forAll (Gen.zip3 batchGen (Props.dim 1 6) Props.seed) (fun (gs, w, seed) ->
        let adjs = gs |> Array.map (fun g -> if g.N = 0 then Csr.ofCoo 0 0 [||] [||] None else csrOf g)
        let b = Graph.batch adjs
        let x = Tensor.randn (Rng.create seed) [| b.NumNodes; w |]
        GradCheck.check "sumPool" (fun t -> Graph.sumPool b t.[0]) (fun r -> poolRef "sum" b r.[0]) [| true |] [| x |]
        && GradCheck.check "meanPool" (fun t -> Graph.meanPool b t.[0]) (fun r -> poolRef "mean" b r.[0]) [| true |] [| x |]
        && GradCheck.check "maxPool" (fun t -> Graph.maxPool b t.[0]) (fun r -> poolRef "max" b r.[0]) [| true |] [| x |])

// ---------------------------------------------------------------- errors

let private throws (expected: string) (f: unit -> obj) =
    let ex = Assert.Throws<ArgumentException>(fun () -> f () |> ignore)
    Assert.Contains(expected, ex.Message)

[<Fact>]
let ``bad arguments give clear messages`` () =
    let rect = Csr.ofCoo 2 3 [| 0 |] [| 2 |] None
    throws "Graph.gcnNorm: the adjacency must be square (one row and one column per node), got 2 x 3" (fun () -> box (Graph.gcnNorm rect))
    throws "Graph.addSelfLoops: the adjacency must be square" (fun () -> box (Graph.addSelfLoops rect))
    throws "Graph.symmetrize: the adjacency must be square" (fun () -> box (Graph.symmetrize rect))
    throws "Graph.ofEdgeList: src has 2 edges but dst has 1" (fun () -> box (Graph.ofEdgeList 3 [| 0; 1 |] [| 2 |]))
    throws "Graph.ofEdgeList: dst.[0] = 3 is not a node id in [0, 3)" (fun () -> box (Graph.ofEdgeList 3 [| 0 |] [| 3 |]))
    throws "Graph.oneHotDegree: maxDegree must be >= 0, got -1" (fun () -> box (Graph.oneHotDegree -1 (Csr.ofCoo 2 2 [||] [||] None)))
    throws "Graph.batch: graph 1 has a 2 x 3 adjacency; it must be square" (fun () -> box (Graph.batch [| Csr.ofCoo 1 1 [||] [||] None; rect |]))
    let b = Graph.batch [| Csr.ofCoo 3 3 [||] [||] None |]
    throws "Graph.sumPool: x must have one row per node of the batch (3 rows), got shape [4; 2]" (fun () -> box (Graph.sumPool b (Tensor.zeros [| 4; 2 |])))
    throws "Graph.maxPool: x must have one row per node of the batch (3 rows), got shape []" (fun () -> box (Graph.maxPool b (Tensor.scalar 1.0f)))
    throws "Graph.batchFeatures: needs at least one feature matrix" (fun () -> box (Graph.batchFeatures [||]))
