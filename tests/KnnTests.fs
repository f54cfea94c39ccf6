module GcnKd.Tests.KnnTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests

// ---------------------------------------------------------------- random point sets

/// Points of several graphs: sizes from 0 to above k (graphs smaller than k are frequent), node ids either in
/// contiguous blocks (a batch) or interleaved, duplicated points, and coordinate styles that stress the exactness:
/// Gaussian, small integers (many exactly tied distances), and a large common offset (cancellation in ||x||^2 +
/// ||y||^2 - 2 x.y).
type Case = { K: int; Self: bool; NodeGraph: int[]; NumGraphs: int; D: int; Data: float32[] }

let caseGen =
    gen {
        let! k = Gen.frequency [ 4, Props.dim 1 6; 2, Props.dim 7 25 ]
        let! self = Gen.elements [ true; false ]
        let! numGraphs = Props.dim 1 5
        let! sizes = Gen.arrayOfLength numGraphs (Gen.frequency [ 1, Props.dim 0 2; 2, Props.dim 3 12; 3, Props.dim 13 60 ])
        let! interleave = Gen.elements [ false; false; true ]
        let! d = Gen.frequency [ 4, Props.dim 1 5; 2, Props.dim 6 20; 1, Gen.elements [ 33; 64 ] ]
        let! style = Gen.elements [ "gauss"; "int"; "offset" ]
        let! seed = Props.seed
        let! dupFraction = Gen.elements [ 0.0; 0.1; 0.4 ]
        let n = Array.sum sizes
        let r = Rng.splitN 4 (Rng.create seed)
        let blocks = [| for g in 0 .. numGraphs - 1 do for _ in 1 .. sizes.[g] -> g |]
        let nodeGraph = if interleave then Rng.permutation n r.[0] |> Array.map (fun p -> blocks.[p]) else blocks
        let data =
            Array.init (n * d) (fun p ->
                match style with
                | "gauss" -> Rng.normalAt r.[1] (int64 p)
                | "int" -> float32 (Rng.intAt r.[1] (int64 p) 5 - 2)
                | _ -> 1000.0f + 0.01f * Rng.normalAt r.[1] (int64 p))
        // duplicates: some nodes copy an earlier node's point (possibly of another graph)
        for i in 1 .. n - 1 do
            if float (Rng.uniformAt r.[2] (int64 i)) < dupFraction then
                let j = Rng.intAt r.[3] (int64 i) i
                Array.blit data (j * d) data (i * d) d
        return { K = k; Self = self; NodeGraph = nodeGraph; NumGraphs = numGraphs; D = d; Data = data }
    }

/// Brute force: float64 distances from the float32 values (summed in column order), candidates sorted by
/// (distance, index), the first k kept, reported in increasing index order.
let bruteForce (c: Case) (rows: int seq) =
    let n = c.NodeGraph.Length
    let dist i j =
        let mutable s = 0.0
        for t in 0 .. c.D - 1 do
            let v = float c.Data.[i * c.D + t] - float c.Data.[j * c.D + t]
            s <- s + v * v
        s
    [| for i in rows ->
        [| for j in 0 .. n - 1 do if c.NodeGraph.[j] = c.NodeGraph.[i] && (c.Self || j <> i) then yield j |]
        |> Array.sortBy (fun j -> dist i j, j)
        |> Array.truncate c.K
        |> Array.sort |]

let rowOf (a: Csr) (i: int) = a.ColIdx.[a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1]

let knnOf (c: Case) = Knn.graph c.K c.Self c.NodeGraph c.NumGraphs (Tensor.ofArray [| c.NodeGraph.Length; c.D |] c.Data)

let sameAsBruteForce (c: Case) (a: Csr) (rows: int[]) =
    Csr.validate a
    Assert.Equal(c.NodeGraph.Length, a.Rows)
    Assert.Equal(c.NodeGraph.Length, a.Cols)
    Assert.True(a.Values |> Array.forall (fun v -> v = 1.0f), "all values are 1")
    let expected = bruteForce c rows
    rows |> Array.iteri (fun r i ->
        let got = rowOf a i
        if got <> expected.[r] then failwithf "row %d: got %A, brute force %A (k = %d, self = %b)" i got expected.[r] c.K c.Self)
    true

// ---------------------------------------------------------------- properties

[<Fact>]
let ``kNN equals brute force with ties, duplicates, offsets and graphs smaller than k`` () =
    Props.forAll caseGen (fun c -> sameAsBruteForce c (knnOf c) [| 0 .. c.NodeGraph.Length - 1 |])

[<Fact>]
let ``kNN never crosses graphs and rows have min(k, candidates) entries`` () =
    Props.forAll caseGen (fun c ->
        let a = knnOf c
        let size g = c.NodeGraph |> Array.filter ((=) g) |> Array.length
        for i in 0 .. a.Rows - 1 do
            let row = rowOf a i
            let candidates = size c.NodeGraph.[i] - (if c.Self then 0 else 1)
            Assert.Equal(min c.K candidates, row.Length)
            Assert.True(row |> Array.forall (fun j -> c.NodeGraph.[j] = c.NodeGraph.[i]), sprintf "row %d crosses graphs: %A" i row)
            Assert.True(c.Self || not (Array.contains i row), sprintf "row %d contains itself without includeSelf" i)
            Assert.True((row = Array.distinct (Array.sort row)), sprintf "row %d is not strictly increasing: %A" i row)
        true)

[<Fact>]
let ``all points equal: every row takes the k lowest indices`` () =
    let n, d, k = 40, 5, 7
    let c = { K = k; Self = false; NodeGraph = Array.zeroCreate n; NumGraphs = 1; D = d; Data = Array.create (n * d) 0.25f }
    let a = knnOf c
    for i in 0 .. n - 1 do
        Assert.Equal<int[]>([| 0 .. k |] |> Array.filter ((<>) i) |> Array.truncate k, rowOf a i)

[<Fact>]
let ``a self-loop is taken unless k lower-indexed duplicates tie with it`` () =
    // nodes 0, 1, 2 coincide; 3 is far away
    let data = [| 0.0f; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f; 5.0f; 5.0f |]
    let a = Knn.graph 2 true (Array.zeroCreate 4) 1 (Tensor.ofArray [| 4; 2 |] data)
    Assert.Equal<int[]>([| 0; 1 |], rowOf a 0)
    Assert.Equal<int[]>([| 0; 1 |], rowOf a 2)
    Assert.Equal<int[]>([| 0; 3 |], rowOf a 3)

[<Fact>]
let ``huge coordinates (squared norms overflow float32) still give the exact graph`` () =
    Props.forAllN (Props.casesScaled 0.3) caseGen (fun c ->
        let c = { c with Data = c.Data |> Array.map (fun v -> v * 3e19f) }
        sameAsBruteForce c (knnOf c) [| 0 .. c.NodeGraph.Length - 1 |])

[<Fact>]
let ``a graph too big for one Gram pass is done in row blocks`` () =
    let n, d = 2300, 3
    let r = Rng.create 11
    let c = { K = 6; Self = true; NodeGraph = Array.zeroCreate n; NumGraphs = 1; D = d
              Data = Array.init (n * d) (fun p -> float32 (Rng.intAt r (int64 p) 40)) }
    sameAsBruteForce c (knnOf c) [| 0 .. 97 .. n - 1 |] |> ignore
    sameAsBruteForce c (knnOf c) [| n - 5 .. n - 1 |] |> ignore

[<Fact>]
let ``a point-cloud batch (32 clouds, 128 points, k = 20) matches brute force on sampled rows`` () =
    let clouds, p, d = 32, 128, 16
    let x = Tensor.randn (Rng.create 3) [| clouds * p; d |]
    let c = { K = 20; Self = true; NodeGraph = Array.init (clouds * p) (fun i -> i / p); NumGraphs = clouds; D = d; Data = x.Data }
    sameAsBruteForce c (knnOf c) [| 0 .. 37 .. clouds * p - 1 |] |> ignore

[<Fact>]
let ``empty inputs give an empty graph`` () =
    let a = Knn.graph 3 true [||] 0 (Tensor.zeros [| 0; 4 |])
    Assert.Equal(0, a.Rows)
    Assert.Equal(0, Csr.nnz a)
    let b = Knn.graph 3 false [| 0; 0; 0; 0; 0 |] 1 (Tensor.zeros [| 5; 0 |])
    // zero-width features: all distances 0, ties by index
    Assert.Equal<int[]>([| 1; 2; 3 |], rowOf b 0)
    Assert.Equal<int[]>([| 0; 1; 2 |], rowOf b 4)

// ---------------------------------------------------------------- errors

let private throws (expected: string) (f: unit -> obj) =
    let ex = Assert.Throws<ArgumentException>(fun () -> f () |> ignore)
    Assert.Contains(expected, ex.Message)

[<Fact>]
let ``bad arguments give clear messages`` () =
    let x = Tensor.zeros [| 4; 2 |]
    throws "Knn.graph: k must be at least 1, got 0" (fun () -> box (Knn.graph 0 true [| 0; 0; 0; 0 |] 1 x))
    throws "Knn.graph: nodeGraph has length 3 but x has 4 rows" (fun () -> box (Knn.graph 2 true [| 0; 0; 0 |] 1 x))
    throws "Knn.graph: nodeGraph.[2] = 1 is not a graph id in [0, 1)" (fun () -> box (Knn.graph 2 true [| 0; 0; 1; 0 |] 1 x))
    throws "Knn.graph: x must be [N; d] (rank 2), got shape [4]" (fun () -> box (Knn.graph 2 true [| 0; 0; 0; 0 |] 1 (Tensor.zeros [| 4 |])))
    throws "Knn.graph: x.[1, 0] is NaN; features must be finite" (fun () ->
        box (Knn.graph 2 true [| 0; 0; 0; 0 |] 1 (Tensor.ofArray [| 4; 2 |] [| 0.0f; 0.0f; nanf; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f |])))

// ---------------------------------------------------------------- determinism

[<Collection("threads")>]
type KnnThreadCountDeterminism() =
    [<Fact>]
    member _.``the kNN graph is identical on 1 and 2 threads`` () =
        let clouds, p, d = 8, 200, 24
        let x = Tensor.randn (Rng.create 4) [| clouds * p; d |]
        let run () = Knn.graph 20 false (Array.init (clouds * p) (fun i -> i / p)) clouds x
        let saved = Threads.Count
        try
            Threads.Count <- 1
            let one = run ()
            Threads.Count <- 2
            let two = run ()
            Assert.Equal<int[]>(one.RowPtr, two.RowPtr)
            Assert.Equal<int[]>(one.ColIdx, two.ColIdx)
        finally
            Threads.Count <- saved
