module GcnKd.Tests.ReduceTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- naive float64 references ----------------------------------------------------------------------------------

let private scalarR (v: float) = { Shape = [||]; Data = [| v |] }

/// f applied to the values along `axis` at each (outer, inner) position.
let private alongAxis (axis: int) (keepDim: bool) (f: float[] -> float) (a: R) =
    let outer, size, inner = Shape.aroundAxis a.Shape axis
    let shape = if keepDim then Array.updateAt axis 1 a.Shape else Array.removeAt axis a.Shape
    { Shape = shape
      Data = Array.init (outer * inner) (fun k ->
          let o, i = k / inner, k % inner
          f (Array.init size (fun s -> a.Data.[(o * size + s) * inner + i]))) }

/// f mapping each row along the last axis to a row of the same length.
let private rowwise (f: float[] -> float[]) (a: R) =
    let n = a.Shape.[a.Shape.Length - 1]
    { a with Data = a.Data |> Array.chunkBySize n |> Array.collect f }

let private lse (row: float[]) =
    let m = Array.max row
    m + Math.Log(row |> Array.sumBy (fun v -> Math.Exp(v - m)))

let private softmaxRow (row: float[]) =
    let l = lse row
    row |> Array.map (fun v -> Math.Exp(v - l))

// ---- generators ------------------------------------------------------------------------------------------------

/// Rank lo to 4: the last axis 1 to 37 (vector body and tail), the others 1 to 5, one of them up to 20.
let private shapeOfRank lo =
    gen {
        let! rank = Gen.choose (lo, 4)
        let! dims = Gen.arrayOfLength rank (Props.dim 1 5)
        let! last = Props.dim 1 37
        let! wide = Gen.choose (0, max 0 (rank - 1))
        let! wideSize = Props.dim 1 20
        let! seed = Props.seed
        let s = if rank = 0 then dims else Array.updateAt wide wideSize dims |> Array.updateAt (rank - 1) last
        return s, seed
    }

let private input (shape: int[], seed: int) = Tensor.rand (Rng.create seed) -2.0f 2.0f shape

// ---- total reductions ------------------------------------------------------------------------------------------

[<Fact>]
let ``sum, mean and max over all elements match the reference`` () =
    Props.forAll (shapeOfRank 0) (fun case ->
        let x = input case
        GradCheck.check "sum" (fun t -> Reduce.sum t.[0]) (fun r -> scalarR (Array.sum r.[0].Data)) [| true |] [| x |]
        && GradCheck.check "mean" (fun t -> Reduce.mean t.[0]) (fun r -> scalarR (Array.average r.[0].Data)) [| true |] [| x |]
        && GradCheck.check "max" (fun t -> Reduce.max t.[0]) (fun r -> scalarR (Array.max r.[0].Data)) [| true |] [| x |])

[<Fact>]
let ``max sends its gradient to the first maximal element`` () =
    let gradOf (x: Tensor) = snd (Autodiff.vjp Reduce.max x (Tensor.scalar 2.0f))
    Assert.Equal<float32[]>([| 0.0f; 0.0f; 2.0f; 0.0f; 0.0f |], (gradOf (Tensor.ofArray [| 5 |] [| 1.0f; -1.0f; 3.0f; 3.0f; 2.0f |])).Data)
    // ties in different 64k blocks and in the vector body of one block
    let big = Array.zeroCreate<float32> 200_000
    for i in [ 70_001; 70_009; 150_000; 199_999 ] do big.[i] <- 5.0f
    let g = (gradOf (Tensor.ofArray [| 200_000 |] big)).Data
    Assert.Equal(2.0f, g.[70_001])
    Assert.Equal(2.0f, Array.sum g)
    Assert.True(Single.IsNaN (Reduce.max (Tensor.ofArray [| 20 |] (Array.init 20 (fun i -> if i = 17 then nanf else float32 i)))).Item0)
    Assert.Equal(-1.0f, (Reduce.max (Tensor.full [| 3 |] -1.0f)).Item0)

// ---- reductions along an axis ----------------------------------------------------------------------------------

let private axisCase =
    gen {
        let! case = shapeOfRank 1
        let rank = (fst case).Length
        let! axis = Gen.choose (0, rank - 1)
        let! negative = Gen.elements [ true; false ]
        let! keepDim = Gen.elements [ true; false ]
        return case, axis, (if negative then axis - rank else axis), keepDim
    }

[<Fact>]
let ``sumAxis, meanAxis and maxAxis match the reference`` () =
    Props.forAll axisCase (fun (case, axis, given, keepDim) ->
        let x = input case
        GradCheck.check "sumAxis" (fun t -> Reduce.sumAxis given keepDim t.[0]) (fun r -> alongAxis axis keepDim Array.sum r.[0]) [| true |] [| x |]
        && GradCheck.check "meanAxis" (fun t -> Reduce.meanAxis given keepDim t.[0]) (fun r -> alongAxis axis keepDim Array.average r.[0]) [| true |] [| x |]
        && GradCheck.check "maxAxis" (fun t -> Reduce.maxAxis given keepDim t.[0]) (fun r -> alongAxis axis keepDim Array.max r.[0]) [| true |] [| x |])

[<Fact>]
let ``maxAxis sends each gradient to the first maximal element along the axis`` () =
    // columns 0..16 (a vector body of 16 and a tail of 1) all have ties in rows 1 and 3
    let x = Tensor.ofArray [| 4; 17 |] (Array.init 68 (fun k -> if k / 17 = 1 || k / 17 = 3 then 9.0f else float32 (k % 5)))
    let _, g = Autodiff.vjp (Reduce.maxAxis 0 false) x (Tensor.ones [| 17 |])
    Assert.Equal<float32[]>(Array.init 68 (fun k -> if k / 17 = 1 then 1.0f else 0.0f), g.Data)
    let _, g = Autodiff.vjp (Reduce.maxAxis 1 true) (Reshape.transpose x) (Tensor.ones [| 17; 1 |])
    Assert.Equal<float32[]>(Array.init 68 (fun k -> if k % 4 = 1 then 1.0f else 0.0f), g.Data)
    let m = Reduce.maxAxis 0 false (Tensor.ofArray [| 2; 17 |] (Array.init 34 (fun k -> if k = 20 then nanf else 1.0f)))
    Assert.True(Single.IsNaN m.Data.[3])
    Assert.Equal(1.0f, m.Data.[4])

[<Fact>]
let ``long and wide axis sums stay accurate`` () =
    // beyond the 256-row blocks and 512-column tiles of the kernel
    for shape, axis in [ [| 700; 530 |], 0; [| 530; 700 |], 1; [| 3; 300; 530 |], 1; [| 2; 9000 |], 1 ] do
        let x = Tensor.rand (Rng.create 5) 0.0f 1.0f shape
        let expected = alongAxis axis false Array.sum (Ref64.ofTensor x)
        let actual = Reduce.sumAxis axis false x
        for i in 0 .. expected.Data.Length - 1 do
            let e, a = expected.Data.[i], float actual.Data.[i]
            if abs (a - e) > 2e-6 * abs e then failwithf "sumAxis %d of %s: element %d is %.9g, expected %.9g" axis (Shape.describe shape) i a e
        let _, g = Autodiff.vjp (Reduce.meanAxis axis true) x (Tensor.ones (Array.updateAt axis 1 shape))
        Assert.All(g.Data, fun v -> Assert.Equal(1.0f / float32 shape.[axis], v))

// ---- the softmax family ----------------------------------------------------------------------------------------

[<Fact>]
let ``logsumexp, softmax and logSoftmax match the reference`` () =
    Props.forAll (shapeOfRank 1) (fun (shape, seed) ->
        let x = Tensor.rand (Rng.create seed) -5.0f 5.0f shape
        GradCheck.check "logsumexp" (fun t -> Reduce.logsumexp t.[0]) (fun r -> alongAxis (shape.Length - 1) true lse r.[0]) [| true |] [| x |]
        && GradCheck.check "softmax" (fun t -> Reduce.softmax t.[0]) (fun r -> rowwise softmaxRow r.[0]) [| true |] [| x |]
        && GradCheck.check "logSoftmax" (fun t -> Reduce.logSoftmax t.[0]) (fun r -> rowwise (fun row -> let l = lse row in Array.map (fun v -> v - l) row) r.[0]) [| true |] [| x |])

[<Fact>]
let ``softmax rows sum to one and large logits stay finite`` () =
    let rows, n = 40, 37
    let x = Tensor.rand (Rng.create 3) -300.0f 300.0f [| rows; n |]
    let big = Tensor.ofArray [| 2; 3 |] [| 1000.0f; 1000.0f; -1000.0f; 88.0f; 89.0f; 3e38f |]
    for t in [ x; big ] do
        let y = Reduce.softmax t
        let k = t.Shape.[1]
        for r in 0 .. t.Shape.[0] - 1 do
            let row = y.Data.[r * k .. r * k + k - 1]
            Assert.All(row, fun v -> Assert.True(Single.IsFinite v && v >= 0.0f))
            Assert.Equal(1.0, row |> Array.sumBy float, 5)
        Assert.All((Reduce.logSoftmax t).Data, fun v -> Assert.True(Single.IsFinite v && v <= 0.0f))
    Assert.Equal<float32[]>([| 0.5f; 0.5f; 0.0f |], (Reduce.softmax big).Data.[0..2])

[<Fact>]
let ``logsumexp is exact at the edges`` () =
    let l = (Reduce.logsumexp (Tensor.ofArray [| 2 |] [| 1000.0f; 1000.0f |])).Item0
    let near (expected: float) (actual: float32) = if not (abs (float actual - expected) < 1e-4) then failwithf "%.9g, expected %.9g" actual expected
    near (1000.0 + Math.Log 2.0) l
    let edge = Reduce.logsumexp (Tensor.ofArray [| 3; 2 |] [| -infinityf; -infinityf; infinityf; 1.0f; -1000.0f; -1000.0f |])
    Assert.Equal<int[]>([| 3; 1 |], edge.Shape)
    Assert.Equal(-infinityf, edge.Data.[0])
    Assert.Equal(infinityf, edge.Data.[1])
    near (-1000.0 + Math.Log 2.0) edge.Data.[2]
    let lsm = Reduce.logSoftmax (Tensor.ofArray [| 2 |] [| 1000.0f; 0.0f |])
    Assert.Equal<float32[]>([| 0.0f; -1000.0f |], lsm.Data)

// ---- errors ----------------------------------------------------------------------------------------------------

let private throws (f: unit -> Tensor) (expected: string) =
    let ex = Assert.Throws<ArgumentException>(fun () -> f () |> ignore)
    Assert.Contains(expected, ex.Message)

[<Fact>]
let ``bad axes and empty inputs give clear errors`` () =
    let x = Tensor.zeros [| 2; 3 |]
    throws (fun () -> Reduce.sumAxis 2 false x) "sumAxis: axis 2 is out of range for a tensor of shape [2; 3] (rank 2)"
    throws (fun () -> Reduce.meanAxis -3 true x) "meanAxis: axis -3 is out of range"
    throws (fun () -> Reduce.maxAxis 0 false (Tensor.scalar 1.0f)) "maxAxis: axis 0 is out of range for a tensor of shape [] (rank 0)"
    throws (fun () -> Reduce.maxAxis 1 false (Tensor.zeros [| 2; 0 |])) "maxAxis: axis 1 of shape [2; 0] is empty"
    throws (fun () -> Reduce.max (Tensor.zeros [| 0 |])) "max: the tensor of shape [0] is empty"
    throws (fun () -> Reduce.softmax (Tensor.scalar 1.0f)) "softmax: needs a tensor of rank at least 1, got a scalar"
    throws (fun () -> Reduce.logSoftmax (Tensor.scalar 1.0f)) "logSoftmax: needs a tensor of rank at least 1"
    throws (fun () -> Reduce.logsumexp (Tensor.scalar 1.0f)) "logsumexp: needs a tensor of rank at least 1"
    Assert.True(Single.IsNaN (Reduce.mean (Tensor.zeros [| 0 |])).Item0)
    Assert.Equal(0.0f, (Reduce.sum (Tensor.zeros [| 0; 3 |])).Item0)

// ---- thread-count determinism ----------------------------------------------------------------------------------

/// Changes Threads.Count, so it runs in the "threads" collection (never in parallel with other such tests).
[<Collection("threads")>]
type ThreadCountDeterminism() =
    static let withThreads (n: int) (f: unit -> 'a) =
        let old = Threads.Count
        try
            Threads.Count <- n
            f ()
        finally Threads.Count <- old

    /// Every output and gradient of the reductions on a large tensor, as flat arrays.
    static let run (x: Tensor) =
        let ones (y: Tensor) = Tensor.rand (Rng.create 9) -1.0f 1.0f y.Shape
        [ for name, op in [ "sum", Reduce.sum; "mean", Reduce.mean; "max", Reduce.max
                            "sumAxis 0", Reduce.sumAxis 0 false; "sumAxis 1", Reduce.sumAxis 1 true
                            "meanAxis 0", Reduce.meanAxis 0 false; "maxAxis 0", Reduce.maxAxis 0 false; "maxAxis 1", Reduce.maxAxis 1 false
                            "softmax", Reduce.softmax; "logSoftmax", Reduce.logSoftmax; "logsumexp", Reduce.logsumexp ] ->
            let y = op x
            let _, g = Autodiff.vjp op x (ones y)
            name, y.Data, g.Data ]

    [<Fact>]
    member _.``reductions and softmax are bit-identical for 1, 2 and 3 threads`` () =
        // many rows of 1000, and a few long rows (reduced by fixed chunks in parallel)
        let xs = [ Tensor.randn (Rng.create 42) [| 1031; 1000 |]; Tensor.randn (Rng.create 43) [| 3; 300_001 |] ]
        let one = withThreads 1 (fun () -> List.collect run xs)
        for n in [ 2; 3 ] do
            let other = withThreads n (fun () -> List.collect run xs)
            let bits (a: float32[]) = Array.map BitConverter.SingleToInt32Bits a
            for (name, y1, g1), (_, yn, gn) in List.zip one other do
                if bits y1 <> bits yn then failwithf "%s: output differs between 1 and %d threads" name n
                if bits g1 <> bits gn then failwithf "%s: gradient differs between 1 and %d threads" name n
