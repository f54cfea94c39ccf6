module GcnKd.Tests.LossTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- naive float64 references (plain loops, independent of the kernels) ----

/// log sum_j exp(z_j) of one row, max subtracted.
let private lse (z: float[]) =
    let m = Array.max z
    m + log (Array.sumBy (fun v -> exp (v - m)) z)

let private rows (x: R) = Array.init x.Shape.[0] (fun r -> Array.sub x.Data (r * x.Shape.[1]) x.Shape.[1])
let private scalarR v = Ref64.make [||] [| v |]

let refCrossEntropy (labels: int[]) (x: R) =
    let rs = rows x
    scalarR ((rs |> Array.mapi (fun r z -> lse z - z.[labels.[r]]) |> Array.sum) / float rs.Length)

/// KL(p || q) = sum_j p_j (log p_j - log q_j) with log-softmax at temperature T.
let refKl (temperature: float) (t: R) (s: R) =
    let ts, ss = rows t, rows s
    let total =
        Array.map2 (fun (tr: float[]) (sr: float[]) ->
            let zt = tr |> Array.map (fun v -> v / temperature)
            let zs = sr |> Array.map (fun v -> v / temperature)
            let a, b = lse zt, lse zs
            Array.fold2 (fun acc u v -> let lp = u - a in acc + exp lp * (lp - (v - b))) 0.0 zt zs) ts ss
        |> Array.sum
    scalarR (total / float ts.Length)

/// -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] = y softplus(-x) + (1 - y) softplus(x).
let refBce (x: R) (y: R) =
    let softplus z = if z > 0.0 then z + log (1.0 + exp (-z)) else log (1.0 + exp z)
    let total = Array.fold2 (fun acc v t -> acc + t * softplus (-v) + (1.0 - t) * softplus v) 0.0 x.Data y.Data
    scalarR (total / float x.Data.Length)

let refMse (a: R) (b: R) =
    scalarR ((Array.fold2 (fun acc u v -> acc + (u - v) * (u - v)) 0.0 a.Data b.Data) / float a.Data.Length)

// ---- generators ----

/// Logits [n, c] with scale 3; in extreme cases about a quarter of the entries are set to +-100.
let private logitsOf (rng: Rng) (n: int) (c: int) (extreme: bool) =
    let r1, r2 = Rng.split rng
    let d = Rng.normalArray (n * c) r1 |> Array.map (fun v -> 3.0f * v)
    if extreme then
        for i in 0 .. d.Length - 1 do
            match Rng.intAt r2 (int64 i) 8 with
            | 0 -> d.[i] <- 100.0f + d.[i]
            | 1 -> d.[i] <- -100.0f + d.[i]
            | _ -> ()
    Tensor.ofArray [| n; c |] d

type RowsCase = { N: int; C: int; Seed: int; Extreme: bool }

let private rowsCase =
    gen {
        let! n = Props.dim 1 6
        let! c = Gen.oneof [ Props.dim 1 5; Props.dim 6 40 ]
        let! seed = Props.seed
        let! extreme = Gen.elements [ false; false; true ]
        return { N = n; C = c; Seed = seed; Extreme = extreme }
    }

/// Any shape of rank 0 to 4, now and then a large one that spans several 8192-element reduction blocks.
let private anyShape =
    Gen.oneof [ gen { let! rank = Gen.choose (0, 4) in return! Gen.arrayOfLength rank (Props.dim 1 5) }
                Gen.elements [ [| 3; 7001 |]; [| 17 |]; [| 16384 + 33 |] ] ]

let private allFinite (t: Tensor) = t.Data |> Array.forall Single.IsFinite

// ---- gradient checks ----

[<Fact>]
let ``crossEntropy matches the float64 reference and its gradient, extreme logits included`` () =
    Props.forAll rowsCase (fun k ->
        let r1, r2 = Rng.split (Rng.create k.Seed)
        let x = logitsOf r1 k.N k.C k.Extreme
        let labels = Array.init k.N (fun i -> Rng.intAt r2 (int64 i) k.C)
        let _, g = Autodiff.valueAndGrad (fun x -> Loss.crossEntropy x labels) x
        allFinite g && allFinite (Loss.crossEntropy x labels)
        && GradCheck.check "crossEntropy" (fun t -> Loss.crossEntropy t.[0] labels) (fun r -> refCrossEntropy labels r.[0]) [| true |] [| x |])

[<Fact>]
let ``klDiv matches the float64 reference and differentiates both arguments at several temperatures`` () =
    let gen = Gen.zip rowsCase (Gen.elements [ 1.0f; 4.0f; 0.5f; 2.5f ])
    Props.forAll gen (fun (k, temperature) ->
        let r1, r2 = Rng.split (Rng.create k.Seed)
        let t, s = logitsOf r1 k.N k.C k.Extreme, logitsOf r2 k.N k.C k.Extreme
        let _, (gt, gs) = Autodiff.valueAndGrad (fun (t, s) -> Loss.klDiv temperature t s) (t, s)
        allFinite gt && allFinite gs
        && GradCheck.check "klDiv" (fun x -> Loss.klDiv temperature x.[0] x.[1]) (fun r -> refKl (float temperature) r.[0] r.[1]) [| true; true |] [| t; s |])

[<Fact>]
let ``klDiv of a distribution with itself is zero with zero gradients`` () =
    let x = logitsOf (Rng.create 5) 4 19 true
    let v, (gt, gs) = Autodiff.valueAndGrad (fun (t, s) -> Loss.klDiv 2.0f t s) (x, x)
    Assert.True(abs v < 1e-5f, sprintf "KL(p||p) = %g" v)
    Assert.True(Array.forall (fun g -> abs g < 1e-6f) (Array.append gt.Data gs.Data))

[<Fact>]
let ``a detached teacher gets no gradient and the student's is unchanged`` () =
    let t, s = logitsOf (Rng.create 8) 3 9 false, logitsOf (Rng.create 9) 3 9 false
    let gStudentOnly = Autodiff.grad (fun s -> Loss.klDiv 4.0f t s) s
    let _, gBoth = Autodiff.grad (fun (t, s) -> Loss.klDiv 4.0f t s) (t, s)
    Assert.Equal<float32[]>(gBoth.Data, gStudentOnly.Data)

[<Fact>]
let ``bceWithLogits matches the float64 reference with soft targets over any shape`` () =
    let gen = Gen.zip3 anyShape Props.seed (Gen.elements [ false; true ])
    Props.forAll gen (fun (shape, seed, extreme) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let n = Shape.numel shape
        let x = (logitsOf r1 1 n extreme).Data |> Tensor.ofArray shape
        let y = Tensor.rand r2 0.0f 1.0f shape
        let _, (gx, gy) = Autodiff.valueAndGrad (fun (x, y) -> Loss.bceWithLogits x y) (x, y)
        allFinite gx && allFinite gy
        && GradCheck.check "bceWithLogits" (fun t -> Loss.bceWithLogits t.[0] t.[1]) (fun r -> refBce r.[0] r.[1]) [| true; true |] [| x; y |])

[<Fact>]
let ``bceWithLogits keeps its precision for saturated logits`` () =
    // x = -30, y = 0: loss = log(1 + e^-30) ~ 9.4e-14, far below float32 resolution of 1 + e
    let v = (Loss.bceWithLogits (Tensor.ofArray [| 1 |] [| -30.0f |]) (Tensor.zeros [| 1 |])).Item0
    Assert.InRange(float v, 9.35e-14 * 0.999, 9.36e-14 * 1.001)
    let big = Loss.bceWithLogits (Tensor.ofArray [| 2 |] [| 1000.0f; -1000.0f |]) (Tensor.ofArray [| 2 |] [| 0.0f; 1.0f |])
    Assert.Equal(1000.0f, big.Item0)

[<Fact>]
let ``mse matches the float64 reference over any shape`` () =
    Props.forAll (Gen.zip anyShape Props.seed) (fun (shape, seed) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let a, b = Tensor.randn r1 shape, Tensor.randn r2 shape
        GradCheck.check "mse" (fun t -> Loss.mse t.[0] t.[1]) (fun r -> refMse r.[0] r.[1]) [| true; true |] [| a; b |])

// ---- golden values from PyTorch (experiments/reference/losses_optim.py) ----

let private close what (expected: Tensor) (actual: Tensor) = Fixtures.assertClose what 1e-5f 1e-7f expected actual

[<Fact>]
let ``crossEntropy agrees with PyTorch`` () =
    let f = Fixtures.load "losses.json"
    let labels = f.Ints "ce_labels"
    let v, g = Autodiff.valueAndGrad (fun x -> Loss.crossEntropy x labels) (f.Tensor "ce_logits")
    close "ce loss" (f.Tensor "ce_loss") (Tensor.scalar v)
    close "ce grad" (f.Tensor "ce_grad") g
    Assert.Equal(f.Float "ce_accuracy", Loss.accuracy (f.Tensor "ce_logits") labels, 12)

[<Fact>]
let ``klDiv agrees with PyTorch at T = 1 and T = 4`` () =
    let f = Fixtures.load "losses.json"
    for temperature in [ 1; 4 ] do
        let v, (gt, gs) = Autodiff.valueAndGrad (fun (t, s) -> Loss.klDiv (float32 temperature) t s) (f.Tensor "kl_teacher", f.Tensor "kl_student")
        close (sprintf "kl T=%d loss" temperature) (f.Tensor (sprintf "kl_T%d_loss" temperature)) (Tensor.scalar v)
        close (sprintf "kl T=%d teacher grad" temperature) (f.Tensor (sprintf "kl_T%d_grad_teacher" temperature)) gt
        close (sprintf "kl T=%d student grad" temperature) (f.Tensor (sprintf "kl_T%d_grad_student" temperature)) gs

[<Fact>]
let ``bceWithLogits with soft targets agrees with PyTorch`` () =
    let f = Fixtures.load "losses.json"
    let v, (gx, gy) = Autodiff.valueAndGrad (fun (x, y) -> Loss.bceWithLogits x y) (f.Tensor "bce_logits", f.Tensor "bce_targets")
    close "bce loss" (f.Tensor "bce_loss") (Tensor.scalar v)
    close "bce grad logits" (f.Tensor "bce_grad_logits") gx
    close "bce grad targets" (f.Tensor "bce_grad_targets") gy

[<Fact>]
let ``mse agrees with PyTorch`` () =
    let f = Fixtures.load "losses.json"
    let v, (ga, gb) = Autodiff.valueAndGrad (fun (a, b) -> Loss.mse a b) (f.Tensor "mse_a", f.Tensor "mse_b")
    close "mse loss" (f.Tensor "mse_loss") (Tensor.scalar v)
    close "mse grad a" (f.Tensor "mse_grad_a") ga
    close "mse grad b" (f.Tensor "mse_grad_b") gb

// ---- determinism, metrics, errors ----

[<Fact>]
let ``losses and gradients are bitwise identical on one thread and on many`` () =
    let rng = Rng.create 77
    let t, s = logitsOf rng 2000 41 true, logitsOf (snd (Rng.split rng)) 2000 41 false
    let labels = Array.init 2000 (fun i -> i % 41)
    let run () =
        let v1, (g1, g2) = Autodiff.valueAndGrad (fun (t, s) -> Loss.klDiv 3.0f t s + Loss.crossEntropy s labels + Loss.bceWithLogits s (Tensor.full s.Shape 0.3f) + Loss.mse t s) (t, s)
        v1, g1.Data, g2.Data
    let saved = Threads.Count
    let many = run ()
    Threads.Count <- 1
    let one = try run () finally Threads.Count <- saved
    Assert.True((many = one), "results differ between thread counts")

[<Fact>]
let ``accuracy takes the first maximum and counts matching rows`` () =
    let logits = Tensor.ofArray [| 4; 3 |] [| 1.0f; 3.0f; 2.0f;  5.0f; 5.0f; 0.0f;  0.0f; 0.0f; 1.0f;  -1.0f; -2.0f; -3.0f |]
    Assert.Equal(0.75, Loss.accuracy logits [| 1; 0; 1; 0 |], 12)
    Assert.Equal(0.25, Loss.accuracy logits [| 1; 1; 0; 1 |], 12)

[<Fact>]
let ``microF1 pools true and false positives over all labels`` () =
    let logits = Tensor.ofArray [| 2; 3 |] [| 1.0f; -1.0f; 2.0f;  0.5f; 0.5f; -0.5f |]
    let targets = Tensor.ofArray [| 2; 3 |] [| 1.0f; 1.0f; 0.0f;  1.0f; 0.0f; 0.0f |]
    // TP = 2 (0,0) (1,0); FP = 2 (0,2) (1,1); FN = 1 (0,1) -> 4 / 7
    Assert.Equal(4.0 / 7.0, Loss.microF1 logits targets, 12)

let private throwsWith (fragments: string list) (f: unit -> Tensor) =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    for s in fragments do Assert.Contains(s, ex.Message)

[<Fact>]
let ``bad arguments give one clear message naming the loss and the shapes`` () =
    let x = Tensor.zeros [| 3; 4 |]
    throwsWith [ "crossEntropy"; "label 4 at row 1"; "[0, 4)" ] (fun () -> Loss.crossEntropy x [| 0; 4; 1 |])
    throwsWith [ "crossEntropy"; "label -1 at row 0" ] (fun () -> Loss.crossEntropy x [| -1; 0; 1 |])
    throwsWith [ "crossEntropy"; "2 labels"; "3 rows" ] (fun () -> Loss.crossEntropy x [| 0; 1 |])
    throwsWith [ "crossEntropy"; "[rows; classes]"; "[12]" ] (fun () -> Loss.crossEntropy (Tensor.zeros [| 12 |]) [| 0 |])
    throwsWith [ "crossEntropy"; "empty" ] (fun () -> Loss.crossEntropy (Tensor.zeros [| 0; 4 |]) [||])
    throwsWith [ "klDiv"; "studentLogits"; "[3; 4]"; "[3; 5]" ] (fun () -> Loss.klDiv 1.0f x (Tensor.zeros [| 3; 5 |]))
    throwsWith [ "klDiv"; "temperature" ] (fun () -> Loss.klDiv 0.0f x x)
    throwsWith [ "klDiv"; "temperature" ] (fun () -> Loss.klDiv nanf x x)
    throwsWith [ "bceWithLogits"; "targets"; "[3; 4]"; "[4; 3]" ] (fun () -> Loss.bceWithLogits x (Tensor.zeros [| 4; 3 |]))
    throwsWith [ "mse"; "[3; 4]"; "[12]" ] (fun () -> Loss.mse x (Tensor.zeros [| 12 |]))
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Loss.accuracy x [| 0 |] |> ignore)
    Assert.Contains("accuracy", ex.Message)
