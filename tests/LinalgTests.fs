module GcnKd.Tests.LinalgTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Kernels
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- naive float64 references (plain loops, independent of the kernels) ----------------------------------------

/// op(a) @ op(b) for stored 2-D a, b.
let private refMatmulT (transA: bool) (transB: bool) (a: R) (b: R) =
    let m, k = if transA then a.Shape.[1], a.Shape.[0] else a.Shape.[0], a.Shape.[1]
    let n = if transB then b.Shape.[0] else b.Shape.[1]
    let av i p = if transA then a.Data.[p * a.Shape.[1] + i] else a.Data.[i * a.Shape.[1] + p]
    let bv p j = if transB then b.Data.[j * b.Shape.[1] + p] else b.Data.[p * b.Shape.[1] + j]
    let c = Array.zeroCreate (m * n)
    for i in 0 .. m - 1 do
        for j in 0 .. n - 1 do
            let mutable s = 0.0
            for p in 0 .. k - 1 do s <- s + av i p * bv p j
            c.[i * n + j] <- s
    make [| m; n |] c

let private refBmm (a: R) (b: R) =
    let bt, m, k, n = a.Shape.[0], a.Shape.[1], a.Shape.[2], b.Shape.[2]
    let c = Array.zeroCreate (bt * m * n)
    for t in 0 .. bt - 1 do
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = 0.0
                for p in 0 .. k - 1 do s <- s + a.Data.[(t * m + i) * k + p] * b.Data.[(t * k + p) * n + j]
                c.[(t * m + i) * n + j] <- s
    make [| bt; m; n |] c

let private refLinear (x: R) (w: R) (bias: R option) =
    let inF, outF = w.Shape.[0], w.Shape.[1]
    let rows = x.Data.Length / inF
    let y = Array.zeroCreate (rows * outF)
    for i in 0 .. rows - 1 do
        for j in 0 .. outF - 1 do
            let mutable s = match bias with Some bs -> bs.Data.[j] | None -> 0.0
            for p in 0 .. inF - 1 do s <- s + x.Data.[i * inF + p] * w.Data.[p * outF + j]
            y.[i * outF + j] <- s
    make (Array.append x.Shape.[.. x.Shape.Length - 2] [| outF |]) y

// ---- generators ----------------------------------------------------------------------------------------------------

/// Mostly small dimensions (1-sized and odd ones included), sometimes past a micro-tile (6 x 64) or a k-block.
let private dimGen = Gen.frequency [ 4, Props.dim 1 9; 1, Props.dim 10 80 ]

let private mnk = Gen.map3 (fun m n k -> m, n, k) dimGen dimGen dimGen

let private stored (transpose: bool) (rows: int) (cols: int) = if transpose then [| cols; rows |] else [| rows; cols |]

// ---- gradient checks -----------------------------------------------------------------------------------------------

[<Fact>]
let ``matmul and every matmulT transpose combination match the float64 reference and its gradients`` () =
    Props.forAll (Gen.zip mnk Props.seed) (fun ((m, n, k), seed) ->
        let ra, rb = Rng.split (Rng.create seed)
        let a0 = Tensor.randn ra [| m; k |]
        let b0 = Tensor.randn rb [| k; n |]
        GradCheck.check "matmul" (fun t -> Linalg.matmul t.[0] t.[1]) (fun r -> refMatmulT false false r.[0] r.[1]) [| true; true |] [| a0; b0 |]
        && [ for ta in [ false; true ] do for tb in [ false; true ] -> ta, tb ]
           |> List.forall (fun (ta, tb) ->
               let a = Tensor.randn ra (stored ta m k)
               let b = Tensor.randn rb (stored tb k n)
               GradCheck.check (sprintf "matmulT %b %b" ta tb) (fun t -> Linalg.matmulT ta tb t.[0] t.[1])
                               (fun r -> refMatmulT ta tb r.[0] r.[1]) [| true; true |] [| a; b |]))

[<Fact>]
let ``matmul gradients hold past the tile sizes (70 x 45 x 33) in every transpose combination`` () =
    let ra, rb = Rng.split (Rng.create 7)
    for ta in [ false; true ] do
        for tb in [ false; true ] do
            let a = Tensor.randn ra (stored ta 70 33)
            let b = Tensor.randn rb (stored tb 33 45)
            GradCheck.check (sprintf "matmulT %b %b" ta tb) (fun t -> Linalg.matmulT ta tb t.[0] t.[1])
                            (fun r -> refMatmulT ta tb r.[0] r.[1]) [| true; true |] [| a; b |] |> ignore

[<Fact>]
let ``matmul with a constant right operand gives the left one the gradient G b^T`` () =
    let a = Tensor.randn (Rng.create 1) [| 4; 3 |]
    let b = Tensor.randn (Rng.create 2) [| 3; 5 |]
    // b held fixed (a constant, not a differentiated input): a's gradient is G b^T
    let _, g = Autodiff.vjp (fun (x: Tensor) -> Linalg.matmul x b) a (Tensor.ones [| 4; 5 |])
    let expected = refMatmulT false true (make [| 4; 5 |] (Array.create 20 1.0)) (ofTensor b)
    for i in 0 .. 11 do Assert.Equal(expected.Data.[i], float g.Data.[i], 4)

[<Fact>]
let ``bmm matches the float64 reference and its gradients`` () =
    let gen = Gen.zip (Gen.zip (Props.dim 1 4) mnk) Props.seed
    Props.forAll gen (fun ((bt, (m, n, k)), seed) ->
        let ra, rb = Rng.split (Rng.create seed)
        let a = Tensor.randn ra [| bt; m; k |]
        let b = Tensor.randn rb [| bt; k; n |]
        GradCheck.check "bmm" (fun t -> Linalg.bmm t.[0] t.[1]) (fun r -> refBmm r.[0] r.[1]) [| true; true |] [| a; b |])

[<Fact>]
let ``linear with and without bias matches the reference and its gradients, for any leading dimensions`` () =
    let gen =
        gen {
            let! lead = Gen.elements [ [||]; [| 1 |]; [| 3 |]; [| 2; 3 |] ]
            let! big = Gen.elements [ false; false; true ]
            let! inF = if big then Props.dim 30 70 else Props.dim 1 7
            let! outF = if big then Props.dim 20 70 else Props.dim 1 7
            let! withBias = Gen.elements [ true; false ]
            let! seed = Props.seed
            return lead, inF, outF, withBias, seed
        }
    Props.forAll gen (fun (lead, inF, outF, withBias, seed) ->
        let r = Rng.splitN 3 (Rng.create seed)
        let x = Tensor.randn r.[0] (Array.append lead [| inF |])
        let w = Tensor.randn r.[1] [| inF; outF |]
        if withBias then
            let bs = Tensor.randn r.[2] [| outF |]
            GradCheck.check "linear+bias" (fun t -> Linalg.linear t.[0] t.[1] (Some t.[2]))
                            (fun r -> refLinear r.[0] r.[1] (Some r.[2])) [| true; true; true |] [| x; w; bs |]
        else
            GradCheck.check "linear" (fun t -> Linalg.linear t.[0] t.[1] None)
                            (fun r -> refLinear r.[0] r.[1] None) [| true; true |] [| x; w |])

// ---- the GEMM kernel itself ----------------------------------------------------------------------------------------

/// Run Gemm.gemm on random operands placed at offsets inside larger arrays, and compare with a float64 product:
/// |c - ref| <= 3e-6 * sum_p |a_ip b_pj| (about 50 float32 roundings), and nothing outside C's region is touched.
let private checkGemm (ta: bool) (tb: bool) (m: int) (n: int) (k: int) (beta: float32) (seed: int) =
    let r = Rng.splitN 3 (Rng.create seed)
    let aOff, bOff, cOff = seed % 3, seed % 5, seed % 7
    let a = Array.append (Array.create aOff 1e30f) (Rng.normalArray (m * k) r.[0])
    let b = Array.append (Array.create bOff 1e30f) (Rng.normalArray (k * n) r.[1])
    let c0 = Rng.normalArray (m * n) r.[2]
    let sentinel = -7.25f
    // beta = 0 must ignore C entirely, even NaN
    let cInit = if beta = 0.0f then Array.create (m * n) nanf else c0
    let c = Array.concat [ Array.create cOff sentinel; cInit; Array.create 5 sentinel ]
    Gemm.gemm ta tb m n k a aOff b bOff beta c cOff
    let av i p = float (if ta then a.[aOff + p * m + i] else a.[aOff + i * k + p])
    let bv p j = float (if tb then b.[bOff + j * k + p] else b.[bOff + p * n + j])
    for i in 0 .. cOff - 1 do Assert.Equal(sentinel, c.[i])
    for i in cOff + m * n .. c.Length - 1 do Assert.Equal(sentinel, c.[i])
    for i in 0 .. m - 1 do
        for j in 0 .. n - 1 do
            let mutable s = if beta = 0.0f then 0.0 else float beta * float c0.[i * n + j]
            let mutable mag = abs s
            for p in 0 .. k - 1 do
                let t = av i p * bv p j
                s <- s + t
                mag <- mag + abs t
            let got = float c.[cOff + i * n + j]
            if not (abs (got - s) <= 3e-6 * mag + 1e-30) then
                failwithf "gemm transA=%b transB=%b m=%d n=%d k=%d beta=%g: C[%d,%d] = %g, expected %g" ta tb m n k beta i j got s
    true

[<Fact>]
let ``gemm matches a float64 product for random sizes, every transpose combination and beta 0, 1, -0.5`` () =
    let gen =
        gen {
            let! m = Props.dim 1 150
            let! n = Props.dim 1 150
            let! k = Props.dim 1 150
            let! ta = Gen.elements [ false; true ]
            let! tb = Gen.elements [ false; true ]
            let! beta = Gen.elements [ 0.0f; 1.0f; -0.5f ]
            let! seed = Props.seed
            return ta, tb, m, n, k, beta, seed
        }
    Props.forAllN (Props.casesScaled 3.0) gen (fun (ta, tb, m, n, k, beta, seed) -> checkGemm ta tb m n k beta seed)

[<Fact>]
let ``gemm is exact on edge cases: k = 0, tiny sizes, several k-blocks and k-passes, row and column blocks`` () =
    for ta in [ false; true ] do
        for tb in [ false; true ] do
            for beta in [ 0.0f; 1.0f ] do
                for (m, n, k) in [ 1, 1, 1; 1, 7, 1; 5, 1, 9; 6, 64, 1; 7, 65, 257; 13, 1030, 37; 4700, 64, 9; 3, 5000, 31; 130, 20, 700; 2, 4100, 1100 ] do
                    checkGemm ta tb m n k beta (m * 31 + n * 7 + k) |> ignore
    // k = 0: C = beta C
    let c = [| 1.0f; 2.0f; 3.0f; 4.0f |]
    Gemm.gemm false false 2 2 0 [||] 0 [||] 0 1.0f c 0
    Assert.Equal<float32[]>([| 1.0f; 2.0f; 3.0f; 4.0f |], c)
    Gemm.gemm false false 2 2 0 [||] 0 [||] 0 0.0f c 0
    Assert.Equal<float32[]>([| 0.0f; 0.0f; 0.0f; 0.0f |], c)

[<Fact>]
let ``gemm rejects operands too short for the sizes`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> Gemm.gemm false false 2 2 2 (Array.zeroCreate 3) 0 (Array.zeroCreate 4) 0 0.0f (Array.zeroCreate 4) 0)
    Assert.Contains("A needs 4 values", ex.Message)

// ---- determinism ---------------------------------------------------------------------------------------------------

/// Evaluate `f` with the given thread count, restoring the previous count afterwards.
let private withThreads (count: int) (f: unit -> 'a) =
    let saved = Threads.Count
    Threads.Count <- count
    try f () finally Threads.Count <- saved

[<Fact>]
let ``gemm and the matmul gradients are bit-identical for 1, 2 and 3 threads`` () =
    let run () =
        [ for (m, n, k) in [ 300, 200, 700; 2000, 16, 300; 17, 3000, 90; 1000, 64, 1000 ] do
            for ta in [ false; true ] do
                for tb in [ false; true ] do
                    let r = Rng.splitN 2 (Rng.create (m + n + k))
                    let a = Rng.normalArray (m * k) r.[0]
                    let b = Rng.normalArray (k * n) r.[1]
                    let c = Array.zeroCreate<float32> (m * n)
                    Gemm.gemm ta tb m n k a 0 b 0 0.0f c 0
                    yield c
          let x = Tensor.randn (Rng.create 3) [| 700; 90 |]
          let w = Tensor.randn (Rng.create 4) [| 90; 40 |]
          let bs = Tensor.randn (Rng.create 5) [| 40 |]
          let cot = Tensor.randn (Rng.create 6) [| 700; 40 |]
          let y, g = Autodiff.vjp (fun (p: Tensor list) -> Linalg.linear p.[0] p.[1] (Some p.[2])) [ x; w; bs ] cot
          yield y.Data
          yield! g |> List.map (fun t -> t.Data)
          for ta in [ false; true ] do
              for tb in [ false; true ] do
                  let a = Tensor.randn (Rng.create 7) (stored ta 333 129)
                  let b = Tensor.randn (Rng.create 8) (stored tb 129 75)
                  let _, g = Autodiff.vjp (fun (p: Tensor list) -> Linalg.matmulT ta tb p.[0] p.[1]) [ a; b ] (Tensor.randn (Rng.create 9) [| 333; 75 |])
                  yield! g |> List.map (fun t -> t.Data) ]
    let one = withThreads 1 run
    let two = withThreads 2 run
    let three = withThreads 3 run
    List.iteri2 (fun i (x: float32[]) (y: float32[]) -> Assert.True((x = y), sprintf "result %d differs between 1 and 2 threads" i)) one two
    List.iteri2 (fun i (x: float32[]) (y: float32[]) -> Assert.True((x = y), sprintf "result %d differs between 1 and 3 threads" i)) one three

// ---- errors --------------------------------------------------------------------------------------------------------

[<Fact>]
let ``shape mismatches give one clear message naming the op and both shapes`` () =
    let z (s: int[]) = Tensor.zeros s
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.matmul (z [| 2; 3 |]) (z [| 4; 5 |]) |> ignore)
    Assert.Contains("matmul: a has shape [2; 3] and b has shape [4; 5]; the inner dimensions 3 and 4 differ", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.matmul (z [| 2; 3; 4 |]) (z [| 4; 5 |]) |> ignore)
    Assert.Contains("matmul: a must be a matrix (2-D), got shape [2; 3; 4]", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.matmulT true false (z [| 2; 3 |]) (z [| 3; 5 |]) |> ignore)
    Assert.Contains("matmulT: a has shape [2; 3] (transposed: 3x2) and b has shape [3; 5]; the inner dimensions 2 and 3 differ", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.bmm (z [| 2; 3; 4 |]) (z [| 3; 4; 5 |]) |> ignore)
    Assert.Contains("bmm: a has shape [2; 3; 4] and b has shape [3; 4; 5]; the batch sizes 2 and 3 differ", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.bmm (z [| 2; 3; 4 |]) (z [| 2; 5; 5 |]) |> ignore)
    Assert.Contains("bmm: a has shape [2; 3; 4] and b has shape [2; 5; 5]; the inner dimensions 4 and 5 differ", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.bmm (z [| 3; 4 |]) (z [| 2; 4; 5 |]) |> ignore)
    Assert.Contains("bmm: a and b must be 3-D", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.linear (z [| 8; 3 |]) (z [| 4; 5 |]) None |> ignore)
    Assert.Contains("linear: x has shape [8; 3] but w has shape [4; 5]; the last dimension of x must be 4", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Linalg.linear (z [| 8; 4 |]) (z [| 4; 5 |]) (Some (z [| 4 |])) |> ignore)
    Assert.Contains("linear: bias has shape [4] but w has shape [4; 5]; the bias must have shape [5]", ex.Message)
