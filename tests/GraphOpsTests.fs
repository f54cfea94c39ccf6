module GcnKd.Tests.GraphOpsTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---------------------------------------------------------------- random graphs

/// A random COO graph: rows = destinations, cols = sources; isolated nodes, self-loops and duplicate edges all
/// occur (small node counts and explicit duplicates make them frequent).
type Graph = { Rows: int; Cols: int; Dst: int[]; Src: int[]; Seed: int }

let graphGen (square: bool) =
    gen {
        let! rows = Props.dim 1 12
        let! cols = if square then Gen.constant rows else Props.dim 1 12
        let! m = Gen.choose (0, 24)
        let! dst = Gen.arrayOfLength m (Gen.choose (0, rows - 1))
        let! src = Gen.arrayOfLength m (Gen.choose (0, cols - 1))
        let! loops = Gen.choose (0, if square then 3 else 0)
        let loopNodes = Array.init loops (fun k -> (k * 5) % rows)
        let! dups = Gen.choose (0, min 3 m)
        let! seed = Props.seed
        return { Rows = rows; Cols = cols
                 Dst = Array.concat [ dst; loopNodes; Array.truncate dups dst ]
                 Src = Array.concat [ src; loopNodes; Array.truncate dups src ]
                 Seed = seed }
    }

/// Feature widths: mostly small, sometimes wide enough to reach every vector tile and the scalar tail.
let widthGen = Gen.frequency [ 6, Props.dim 1 9; 2, Gen.elements [ 16; 17; 24; 37 ]; 1, Gen.elements [ 70; 150; 211; 300 ] ]

let rngs (seed: int) = Rng.splitN 4 (Rng.create seed)

let csrOf (g: Graph) =
    let vals = Array.init g.Dst.Length (fun k -> Rng.uniformAt (Rng.create (g.Seed + 7)) (int64 k) * 2.0f - 1.0f)
    Csr.ofCoo g.Rows g.Cols g.Dst g.Src (Some vals)

/// Stored entries (row, column) in CSR order, read straight from the arrays.
let entries (a: Csr) = [| for i in 0 .. a.Rows - 1 do for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> i, a.ColIdx.[e] |]

let zerosR (shape: int[]) = { Shape = shape; Data = Array.zeroCreate (Shape.numel shape) }
let widthOf (r: R) = Shape.numel r.Shape.[1..]

// ---------------------------------------------------------------- naive float64 references

/// out[i, head k] = sum over entries e = (i, j) of v[e, k] * x[j, head k].
let refSpmm (a: Csr) (v: float[]) (heads: int) (x: R) =
    let w = widthOf x
    let d = w / heads
    let out = zerosR (Array.append [| a.Rows |] x.Shape.[1..])
    entries a |> Array.iteri (fun e (i, j) ->
        for c in 0 .. w - 1 do
            out.Data.[i * w + c] <- out.Data.[i * w + c] + v.[e * heads + c / d] * x.Data.[j * w + c])
    out

let refGather (index: int[]) (x: R) =
    let w = widthOf x
    { Shape = Array.append [| index.Length |] x.Shape.[1..]; Data = Array.init (index.Length * w) (fun k -> x.Data.[index.[k / w] * w + k % w]) }

let refSegment (kind: string) (segment: int[]) (ns: int) (x: R) =
    let w = widthOf x
    let out = zerosR (Array.append [| ns |] x.Shape.[1..])
    for s in 0 .. ns - 1 do
        let members = [| for r in 0 .. segment.Length - 1 do if segment.[r] = s then yield r |]
        if members.Length > 0 then
            for c in 0 .. w - 1 do
                let vs = members |> Array.map (fun r -> x.Data.[r * w + c])
                out.Data.[s * w + c] <-
                    match kind with
                    | "sum" -> Array.sum vs
                    | "mean" -> Array.average vs
                    | _ -> Array.max vs
    out

let refSoftmax (a: Csr) (heads: int) (s: R) =
    let out = zerosR s.Shape
    for i in 0 .. a.Rows - 1 do
        let es = [| a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 |]
        for k in 0 .. heads - 1 do
            if es.Length > 0 then
                let m = es |> Array.map (fun e -> s.Data.[e * heads + k]) |> Array.max
                let z = es |> Array.sumBy (fun e -> exp (s.Data.[e * heads + k] - m))
                for e in es do out.Data.[e * heads + k] <- exp (s.Data.[e * heads + k] - m) / z
    out

/// Per entry (i, j): f over the feature pairs (xDst[i, c], xSrc[j, c]), summed; or, for "sum", the vector.
let refEdge (kind: string) (a: Csr) (xd: R) (xs: R) =
    let w = widthOf xd
    let es = entries a
    if kind = "sum" then
        { Shape = Array.append [| es.Length |] xd.Shape.[1..]
          Data = Array.init (es.Length * w) (fun k -> let i, j = es.[k / w] in xd.Data.[i * w + k % w] + xs.Data.[j * w + k % w]) }
    else
        let f (p: float) (q: float) =
            match kind with
            | "dot" -> p * q
            | "sq" -> (p - q) * (p - q)
            | _ -> abs (p - q)
        { Shape = [| es.Length |]; Data = es |> Array.map (fun (i, j) -> Seq.sum (seq { for c in 0 .. w - 1 -> f xd.Data.[i * w + c] xs.Data.[j * w + c] })) }

// ---------------------------------------------------------------- gradient checks, every op and argument

[<Fact>]
let ``spmm matches the dense reference and its gradient`` () =
    Props.forAll (Gen.zip (graphGen false) widthGen) (fun (g, w) ->
        let a = csrOf g
        let r = rngs g.Seed
        let x = Tensor.randn r.[0] [| g.Cols; w |]
        let v = a.Values |> Array.map float
        GradCheck.check "spmm" (fun t -> Sparse.spmm a t.[0]) (fun r -> refSpmm a v 1 r.[0]) [| true |] [| x |]
        // a vector x is one feature per node
        && GradCheck.check "spmm vector" (fun t -> Sparse.spmm a t.[0]) (fun r -> refSpmm a v 1 r.[0]) [| true |] [| Tensor.randn r.[1] [| g.Cols |] |])

[<Fact>]
let ``spmmValues differentiates values and features, one head and several`` () =
    let case = Gen.zip3 (graphGen false) (Gen.choose (1, 3)) (Gen.zip widthGen (Gen.elements [ true; false ]))
    Props.forAll case (fun (g, heads, (w, rank3)) ->
        let a = csrOf g
        let r = rngs g.Seed
        let d = max 1 (w / heads)
        let vShape = if heads = 1 then [| Csr.nnz a |] else [| Csr.nnz a; heads |]
        let xShape = if heads > 1 && rank3 then [| g.Cols; heads; d |] else [| g.Cols; heads * d |]
        let values = Tensor.randn r.[0] vShape
        let x = Tensor.randn r.[1] xShape
        GradCheck.check "spmmValues" (fun t -> Sparse.spmmValues a t.[0] t.[1]) (fun r -> refSpmm a r.[0].Data heads r.[1]) [| true; true |] [| values; x |])

[<Fact>]
let ``multi-head spmmValues equals head-by-head single-head products bit for bit`` () =
    // narrow heads take a lane-permuting kernel; it must reproduce the plain per-head FMA chain exactly
    Props.forAll (Gen.zip3 (graphGen false) (Gen.choose (2, 9)) (Gen.elements [ 1; 3; 8; 16; 20; 64 ])) (fun (g, heads, d) ->
        let a = csrOf g
        let r = rngs g.Seed
        let nnz = Csr.nnz a
        let values = Tensor.randn r.[0] [| nnz; heads |]
        let x = Tensor.randn r.[1] [| g.Cols; heads * d |]
        let y = Sparse.spmmValues a values x
        for k in 0 .. heads - 1 do
            let vk = Tensor.ofArray [| nnz |] (Array.init nnz (fun e -> values.Data.[e * heads + k]))
            let xk = Tensor.ofArray [| g.Cols; d |] (Array.init (g.Cols * d) (fun i -> x.Data.[(i / d) * heads * d + k * d + i % d]))
            let yk = Sparse.spmmValues a vk xk
            let fromY = Array.init (g.Rows * d) (fun i -> y.Data.[(i / d) * heads * d + k * d + i % d])
            Assert.Equal<float32[]>(yk.Data, fromY)
        true)

[<Fact>]
let ``gatherRows picks rows and sums gradients of repeated picks`` () =
    Props.forAll (Gen.zip3 (Props.dim 1 10) widthGen Props.seed) (fun (n, w, seed) ->
        let r = rngs seed
        let index = Array.init (Rng.intAt r.[0] 0L 15) (fun k -> Rng.intAt r.[0] (int64 k + 1L) n)
        let x = Tensor.randn r.[1] [| n; w |]
        GradCheck.check "gatherRows" (fun t -> Sparse.gatherRows index t.[0]) (fun r -> refGather index r.[0]) [| true |] [| x |])

let segmentCase =
    gen {
        let! rows = Props.dim 1 14
        let! ns = Props.dim 1 8
        let! segment = Gen.arrayOfLength rows (Gen.choose (0, ns - 1))
        let! w = widthGen
        let! seed = Props.seed
        return segment, ns, w, seed
    }

[<Fact>]
let ``segmentSum, segmentMean and segmentMax match the reference, empty segments give 0`` () =
    Props.forAll segmentCase (fun (segment, ns, w, seed) ->
        let x = Tensor.randn (Rng.create seed) [| segment.Length; w |]
        GradCheck.check "segmentSum" (fun t -> Sparse.segmentSum segment ns t.[0]) (fun r -> refSegment "sum" segment ns r.[0]) [| true |] [| x |]
        && GradCheck.check "segmentMean" (fun t -> Sparse.segmentMean segment ns t.[0]) (fun r -> refSegment "mean" segment ns r.[0]) [| true |] [| x |]
        && GradCheck.check "segmentMax" (fun t -> Sparse.segmentMax segment ns t.[0]) (fun r -> refSegment "max" segment ns r.[0]) [| true |] [| x |])

[<Fact>]
let ``segmentMax sends the gradient of a tie to the first row`` () =
    // widths 2 (scalar path) and 35 (vector path plus tail); column c of row r holds rowVals.[r] for every c
    for w in [ 2; 35 ] do
        let rowVals = [| 1.0f; 5.0f; 5.0f; 3.0f; 7.0f |]
        let x = Tensor.ofArray [| 5; w |] (Array.init (5 * w) (fun k -> rowVals.[k / w]))
        let g = Tensor.ofArray [| 3; w |] (Array.init (3 * w) (fun k -> float32 (k + 1)))
        let y, gx = Autodiff.vjp (fun x -> Sparse.segmentMax [| 0; 0; 0; 0; 2 |] 3 x) x g
        Assert.Equal<float32[]>(Array.concat [ Array.create w 5.0f; Array.zeroCreate w; Array.create w 7.0f ], y.Data)
        let expected = Array.init (5 * w) (fun k ->
            let r, c = k / w, k % w
            if r = 1 then g.Data.[c] elif r = 4 then g.Data.[2 * w + c] else 0.0f)
        Assert.Equal<float32[]>(expected, gx.Data)

[<Fact>]
let ``segmentSoftmax normalises each row's entries, per head`` () =
    Props.forAll (Gen.zip (graphGen false) (Gen.choose (1, 3))) (fun (g, heads) ->
        let a = csrOf g
        let shape = if heads = 1 then [| Csr.nnz a |] else [| Csr.nnz a; heads |]
        // large scores check the max subtraction
        let s = Tensor.randn (Rng.create g.Seed) shape * 30.0f
        let y = Sparse.segmentSoftmax a s
        for i in 0 .. a.Rows - 1 do
            for k in 0 .. heads - 1 do
                if a.RowPtr.[i + 1] > a.RowPtr.[i] then
                    let total = Seq.sum (seq { for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> float y.Data.[e * heads + k] })
                    Assert.InRange(total, 0.9999, 1.0001)
        GradCheck.check "segmentSoftmax" (fun t -> Sparse.segmentSoftmax a t.[0]) (fun r -> refSoftmax a heads r.[0]) [| true |] [| s / 30.0f |])

[<Fact>]
let ``edge ops match the reference and differentiate both endpoints`` () =
    Props.forAll (Gen.zip (graphGen false) widthGen) (fun (g, w) ->
        let a = csrOf g
        let r = rngs g.Seed
        let xs = [| Tensor.randn r.[0] [| g.Rows; w |]; Tensor.randn r.[1] [| g.Cols; w |] |]
        let both = [| true; true |]
        GradCheck.check "edgeDot" (fun t -> Sparse.edgeDot a t.[0] t.[1]) (fun r -> refEdge "dot" a r.[0] r.[1]) both xs
        && GradCheck.check "edgeSum" (fun t -> Sparse.edgeSum a t.[0] t.[1]) (fun r -> refEdge "sum" a r.[0] r.[1]) both xs
        && GradCheck.check "edgeSqDist" (fun t -> Sparse.edgeSqDist a t.[0] t.[1]) (fun r -> refEdge "sq" a r.[0] r.[1]) both xs
        && GradCheck.check "edgeL1" (fun t -> Sparse.edgeL1 a t.[0] t.[1]) (fun r -> refEdge "l1" a r.[0] r.[1]) both xs)

[<Fact>]
let ``edge ops on one node feature tensor accumulate both endpoint gradients`` () =
    Props.forAll (Gen.zip (graphGen true) widthGen) (fun (g, w) ->
        let a = csrOf g
        let x = Tensor.randn (Rng.create g.Seed) [| g.Rows; w |]
        let one = [| true |]
        GradCheck.check "edgeDot x x" (fun t -> Sparse.edgeDot a t.[0] t.[0]) (fun r -> refEdge "dot" a r.[0] r.[0]) one [| x |]
        && GradCheck.check "edgeSum x x" (fun t -> Sparse.edgeSum a t.[0] t.[0]) (fun r -> refEdge "sum" a r.[0] r.[0]) one [| x |]
        && GradCheck.check "edgeSqDist x x" (fun t -> Sparse.edgeSqDist a t.[0] t.[0]) (fun r -> refEdge "sq" a r.[0] r.[0]) one [| x |]
        && GradCheck.check "edgeL1 x x" (fun t -> Sparse.edgeL1 a t.[0] t.[0]) (fun r -> refEdge "l1" a r.[0] r.[0]) one [| x |])

// ---------------------------------------------------------------- Csr invariants

let denseOfCoo (g: Graph) (vals: float32[]) =
    let d = Array.zeroCreate<float> (g.Rows * g.Cols)
    for k in 0 .. g.Dst.Length - 1 do d.[g.Dst.[k] * g.Cols + g.Src.[k]] <- d.[g.Dst.[k] * g.Cols + g.Src.[k]] + float vals.[k]
    d

[<Fact>]
let ``ofCoo sorts by (row, column), keeps duplicates in input order and loses nothing`` () =
    Props.forAll (graphGen false) (fun g ->
        let a = csrOf g
        Csr.validate a
        let es = entries a
        Assert.Equal(g.Dst.Length, Csr.nnz a)
        Assert.Equal<int[]>(es |> Array.map fst, Csr.edgeRows a)
        Assert.True((es = Array.sort es), "entries sorted by (row, column)")
        // the stable sort keeps each (row, column) group's values in input order
        let vals = Array.init g.Dst.Length (fun k -> Rng.uniformAt (Rng.create (g.Seed + 7)) (int64 k) * 2.0f - 1.0f)
        let expected =
            Array.init g.Dst.Length id
            |> Array.sortBy (fun k -> g.Dst.[k], g.Src.[k], k)
            |> Array.map (fun k -> vals.[k])
        Assert.Equal<float32[]>(expected, a.Values)
        let dense = Csr.toDense a
        Assert.Equal<int[]>([| g.Rows; g.Cols |], dense.Shape)
        Array.forall2 (fun (x: float32) (y: float) -> abs (float x - y) < 1e-5) dense.Data (denseOfCoo g vals))

[<Fact>]
let ``transpose is an involution and agrees with the dense transpose`` () =
    Props.forAll (graphGen false) (fun g ->
        let a = csrOf g
        let t = Csr.transpose a
        Csr.validate t
        Assert.Equal(a, Csr.transpose t)
        let dt = Ref64.transpose2 (Ref64.ofTensor (Csr.toDense a))
        Assert.Equal<float[]>(dt.Data, (Ref64.ofTensor (Csr.toDense t)).Data)
        true)

[<Fact>]
let ``coalesce sums duplicates, keeps the dense matrix and is idempotent`` () =
    Props.forAll (graphGen true) (fun g ->
        let a = csrOf g
        let c = Csr.coalesce a
        Csr.validate c
        let es = entries c
        Assert.True(((es |> Array.distinct).Length = es.Length), "no duplicate entries")
        Assert.True(Tensor.allClose 1e-6f 1e-6f (Csr.toDense a) (Csr.toDense c))
        Assert.Equal(c, Csr.coalesce c)
        true)

[<Fact>]
let ``ofEdges puts each edge in its destination's row with value 1`` () =
    let a = Csr.ofEdges 4 [| 0; 2; 2; 3; 0 |] [| 1; 1; 0; 3; 1 |]
    Assert.Equal<int[]>([| 0; 1; 4; 4; 5 |], a.RowPtr)
    Assert.Equal<int[]>([| 2; 0; 0; 2; 3 |], a.ColIdx)
    Assert.Equal<float32[]>(Array.create 5 1.0f, a.Values)
    // node 0 aggregates its in-neighbour 2; node 1 aggregates 0 (twice) and 2
    let y = Sparse.spmm a (Tensor.ofArray [| 4 |] [| 1.0f; 10.0f; 100.0f; 1000.0f |])
    Assert.Equal<float32[]>([| 100.0f; 102.0f; 0.0f; 1000.0f |], y.Data)

let private csrWith rowPtr colIdx values = { Rows = 3; Cols = 4; RowPtr = rowPtr; ColIdx = colIdx; Values = values }

[<Fact>]
let ``validate names what is wrong`` () =
    let bad (expected: string) (a: Csr) =
        let ex = Assert.Throws<ArgumentException>(fun () -> Csr.validate a)
        Assert.Contains(expected, ex.Message)
    Csr.validate (csrWith [| 0; 1; 1; 2 |] [| 3; 0 |] [| 1.0f; 2.0f |])
    bad "RowPtr has length 3, expected Rows + 1 = 4" (csrWith [| 0; 1; 2 |] [| 3; 0 |] [| 1.0f; 2.0f |])
    bad "RowPtr is not monotone" (csrWith [| 0; 2; 1; 2 |] [| 3; 0 |] [| 1.0f; 2.0f |])
    bad "column index 4 at entry 1 is out of range [0, 4)" (csrWith [| 0; 1; 1; 2 |] [| 3; 4 |] [| 1.0f; 2.0f |])
    bad "Values has length 1 but ColIdx has length 2" (csrWith [| 0; 1; 1; 2 |] [| 3; 0 |] [| 1.0f |])
    bad "RowPtr.[3] = 1 but there are 2 stored entries" (csrWith [| 0; 1; 1; 1 |] [| 3; 0 |] [| 1.0f; 2.0f |])
    bad "RowPtr.[0] is 1" (csrWith [| 1; 1; 1; 2 |] [| 3; 0 |] [| 1.0f; 2.0f |])
    // graph ops refuse a malformed matrix instead of reading out of bounds
    let ex = Assert.Throws<ArgumentException>(fun () -> Sparse.spmm (csrWith [| 0; 1; 1; 2 |] [| 3; 9 |] [| 1.0f; 2.0f |]) (Tensor.zeros [| 4; 2 |]) |> ignore)
    Assert.Contains("column index 9", ex.Message)

[<Fact>]
let ``ofCoo rejects bad coordinates`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> Csr.ofCoo 2 3 [| 0; 1 |] [| 0 |] None |> ignore)
    Assert.Contains("rowIdx has length 2 but colIdx has length 1", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Csr.ofCoo 2 3 [| 0; 2 |] [| 0; 1 |] None |> ignore)
    Assert.Contains("row index 2 at entry 1 is out of range [0, 2)", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Csr.ofCoo 2 3 [| 0; 1 |] [| -1; 1 |] None |> ignore)
    Assert.Contains("column index -1 at entry 0", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Csr.ofCoo 2 3 [| 0; 1 |] [| 0; 1 |] (Some [| 1.0f |]) |> ignore)
    Assert.Contains("values has length 1, expected 2", ex.Message)

[<Fact>]
let ``graph ops name the argument and shapes on misuse`` () =
    let a = Csr.ofEdges 3 [| 0; 1 |] [| 1; 2 |]
    let msg (f: unit -> Tensor) = (Assert.Throws<ArgumentException>(fun () -> f () |> ignore)).Message
    Assert.Contains("Sparse.spmm: x must have 3 rows", msg (fun () -> Sparse.spmm a (Tensor.zeros [| 4; 2 |])))
    Assert.Contains("Sparse.spmmValues: values must be [2] or [2, heads]", msg (fun () -> Sparse.spmmValues a (Tensor.zeros [| 3 |]) (Tensor.zeros [| 3; 2 |])))
    Assert.Contains("with 2 heads x must be [n, 2*d] or [n, 2, d], got shape [3; 3]", msg (fun () -> Sparse.spmmValues a (Tensor.zeros [| 2; 2 |]) (Tensor.zeros [| 3; 3 |])))
    Assert.Contains("Sparse.gatherRows: index.[1] = 3 is out of range [0, 3)", msg (fun () -> Sparse.gatherRows [| 0; 3 |] (Tensor.zeros [| 3; 2 |])))
    Assert.Contains("Sparse.segmentSum: segment.[0] = 5 is out of range [0, 2)", msg (fun () -> Sparse.segmentSum [| 5; 0; 1 |] 2 (Tensor.zeros [| 3; 2 |])))
    Assert.Contains("Sparse.segmentMax: x must have one row per segment id (2 rows)", msg (fun () -> Sparse.segmentMax [| 0; 1 |] 2 (Tensor.zeros [| 3; 2 |])))
    Assert.Contains("Sparse.segmentSoftmax: scores must be [2] or [2, heads]", msg (fun () -> Sparse.segmentSoftmax a (Tensor.zeros [| 3 |])))
    Assert.Contains("Sparse.edgeDot: xDst [3; 2] and xSrc [3; 4] must have the same feature shape", msg (fun () -> Sparse.edgeDot a (Tensor.zeros [| 3; 2 |]) (Tensor.zeros [| 3; 4 |])))
    Assert.Contains("Sparse.edgeL1: xSrc must have 3 rows", msg (fun () -> Sparse.edgeL1 a (Tensor.zeros [| 3; 2 |]) (Tensor.zeros [| 2; 2 |])))

// ---------------------------------------------------------------- determinism across thread counts

/// A graph big enough to be cut into many chunks, with skewed degrees (a few hubs) and every feature-width path.
let private bigCase () =
    let n, m, w = 3000, 40000, 150
    let r = rngs 42
    let dst = Array.init m (fun k -> let u = Rng.uniformAt r.[0] (int64 k) in int (float32 n * u * u * u))
    let src = Array.init m (fun k -> Rng.intAt r.[1] (int64 k) n)
    let a = Csr.ofCoo n n dst src (Some (Rng.normalArray m r.[2]))
    a, Tensor.randn r.[3] [| n; w |], dst

[<Collection("threads")>]
type ThreadCountDeterminism() =
    let run () =
        let a, x, seg = bigCase ()
        let ew = Tensor.randn (Rng.create 5) [| Csr.nnz a |]
        let ew3 = Tensor.randn (Rng.create 6) [| Csr.nnz a; 3 |]
        [| for f in [ (fun (p: Tensor[]) -> Sparse.spmm a p.[0])
                      (fun p -> Sparse.spmmValues a p.[1] p.[0])
                      (fun p -> Sparse.spmmValues a p.[2] p.[0])
                      (fun p -> Sparse.segmentSoftmax a p.[2])
                      (fun p -> Sparse.segmentSum seg 3000 (Sparse.gatherRows a.ColIdx p.[0]))
                      (fun p -> Sparse.segmentMean seg 3000 (Sparse.gatherRows a.ColIdx p.[0]))
                      (fun p -> Sparse.segmentMax seg 3000 (Sparse.gatherRows a.ColIdx p.[0]))
                      (fun p -> Sparse.segmentSoftmax a (Sparse.edgeDot a p.[0] p.[0]))
                      (fun p -> Sparse.edgeSqDist a p.[0] p.[0] + Sparse.edgeL1 a p.[0] p.[0])
                      (fun p -> Sparse.edgeSum a p.[0] p.[0]) ] do
               let y = f [| x; ew; ew3 |]
               let _, gs = Autodiff.vjp f [| x; ew; ew3 |] (Tensor.randn (Rng.create 9) y.Shape)
               yield y.Data
               yield! gs |> Array.map (fun t -> t.Data) |]
        |> Array.map (Array.map BitConverter.SingleToInt32Bits)

    [<Fact>]
    member _.``graph ops and their gradients are bit-identical on 1 and 2 threads`` () =
        let saved = Threads.Count
        try
            Threads.Count <- 1
            let one = run ()
            Threads.Count <- 2
            let two = run ()
            Assert.Equal(one.Length, two.Length)
            for k in 0 .. one.Length - 1 do
                Assert.True((one.[k] = two.[k]), sprintf "result %d differs between 1 and 2 threads" k)
        finally
            Threads.Count <- saved
