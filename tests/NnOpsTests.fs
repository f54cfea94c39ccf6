module GcnKd.Tests.NnOpsTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- float64 references for batch norm (channel axis 1, plain loops) ----

/// (outer, channels, inner) of a shape around axis 1, and the channel of a flat index.
let private split (s: int[]) =
    let inner = Array.fold (*) 1 s.[2..]
    s.[0], s.[1], inner

let private channelOf (s: int[]) (i: int) = let _, c, inner = split s in (i / inner) % c

/// Per-channel mean and biased variance.
let momentsRef (x: R) =
    let outer, c, inner = split x.Shape
    let m = float (outer * inner)
    let mean = Array.zeroCreate<float> c
    x.Data |> Array.iteri (fun i v -> let ch = channelOf x.Shape i in mean.[ch] <- mean.[ch] + v / m)
    let var = Array.zeroCreate<float> c
    x.Data |> Array.iteri (fun i v -> let ch = channelOf x.Shape i in var.[ch] <- var.[ch] + (v - mean.[ch]) ** 2.0 / m)
    mean, var

/// y = (x - mean) / sqrt(var + eps) gamma + beta, per channel.
let normRef (eps: float) (mean: float[]) (var: float[]) (x: R) (gamma: R) (beta: R) =
    { x with Data = x.Data |> Array.mapi (fun i v ->
                        let ch = channelOf x.Shape i
                        (v - mean.[ch]) / sqrt (var.[ch] + eps) * gamma.Data.[ch] + beta.Data.[ch]) }

let bnTrainRef eps (x: R) gamma beta =
    let mean, var = momentsRef x
    normRef eps mean var x gamma beta

let eps = 1e-5f

type BnCase = { Shape: int[]; Seed: int }

/// [N, C] or [N, C, H, W] with at least two values per channel.
let bnCase =
    gen {
        let! rank4 = Gen.elements [ true; false ]
        let! n = Props.dim 1 4
        let! c = Props.dim 1 4
        let! h = Props.dim 1 4
        let! w = Props.dim 1 4
        let! seed = Props.seed
        let shape = if rank4 then [| n; c; h; w |] else [| n + 1; c |]
        let n0, _, inner = split shape
        let shape = if n0 * inner < 2 then (shape |> Array.mapi (fun i d -> if i = 0 then d + 1 else d)) else shape
        return { Shape = shape; Seed = seed }
    }

let private bnInputs (bc: BnCase) =
    let rs = Rng.splitN 5 (Rng.create bc.Seed)
    let c = bc.Shape.[1]
    let x = Tensor.randn rs.[0] bc.Shape * 1.5f + 0.5f
    let gamma = Tensor.rand rs.[1] 0.5f 1.5f [| c |]
    let beta = Tensor.randn rs.[2] [| c |]
    let running = { Mean = Tensor.randn rs.[3] [| c |]; Var = Tensor.rand rs.[4] 0.5f 2.0f [| c |] }
    x, gamma, beta, running

[<Fact>]
let ``BatchNorm.train matches the float64 reference and its fused backward (x, gamma, beta)`` () =
    Props.forAll bnCase (fun bc ->
        let x, gamma, beta, running = bnInputs bc
        GradCheck.check (sprintf "bn train %A" bc.Shape)
            (fun t -> fst (BatchNorm.train 0.1f eps t.[1] t.[2] running t.[0]))
            (fun r -> bnTrainRef (float eps) r.[0] r.[1] r.[2]) [| true; true; true |] [| x; gamma; beta |])

[<Fact>]
let ``BatchNorm.train differentiates x alone and gamma, beta alone`` () =
    Props.forAllN (Props.casesScaled 0.3) bnCase (fun bc ->
        let x, gamma, beta, running = bnInputs bc
        GradCheck.check "bn train wrt x" (fun t -> fst (BatchNorm.train 0.1f eps gamma beta running t.[0]))
            (fun r -> bnTrainRef (float eps) r.[0] (ofTensor gamma) (ofTensor beta)) [| true |] [| x |]
        && GradCheck.check "bn train wrt gamma, beta" (fun t -> fst (BatchNorm.train 0.1f eps t.[0] t.[1] running x))
            (fun r -> bnTrainRef (float eps) (ofTensor x) r.[0] r.[1]) [| true; true |] [| gamma; beta |])

[<Fact>]
let ``BatchNorm.eval matches the float64 reference and its backward`` () =
    Props.forAll bnCase (fun bc ->
        let x, gamma, beta, running = bnInputs bc
        let rm, rv = Tensor.toFloats running.Mean, Tensor.toFloats running.Var
        GradCheck.check (sprintf "bn eval %A" bc.Shape) (fun t -> BatchNorm.eval eps t.[1] t.[2] running t.[0])
            (fun r -> normRef (float eps) rm rv r.[0] r.[1] r.[2]) [| true; true; true |] [| x; gamma; beta |])

[<Fact>]
let ``BatchNorm.batchStats gives differentiable mean and biased variance`` () =
    Props.forAll bnCase (fun bc ->
        let x, _, _, _ = bnInputs bc
        let c = bc.Shape.[1]
        GradCheck.check "batch mean" (fun t -> fst (BatchNorm.batchStats t.[0])) (fun r -> make [| c |] (fst (momentsRef r.[0]))) [| true |] [| x |]
        && GradCheck.check "batch var" (fun t -> snd (BatchNorm.batchStats t.[0])) (fun r -> make [| c |] (snd (momentsRef r.[0]))) [| true |] [| x |])

/// Wide [N, C] inputs for the row-major fast path: C spans whole 16-lane vectors plus a scalar tail, N crosses
/// the 256-row reduction blocks (with a partial last block).
let bnWideCase =
    gen {
        let! n = Gen.choose (2, 700)
        let! c = Gen.choose (15, 50)
        let! seed = Props.seed
        return { Shape = [| n; c |]; Seed = seed }
    }

[<Fact>]
let ``BatchNorm on wide [N, C] (vector lanes, tail channels, several row blocks) matches the reference`` () =
    Props.forAllN (Props.casesScaled 0.3) bnWideCase (fun bc ->
        let x, gamma, beta, running = bnInputs bc
        let c = bc.Shape.[1]
        let rm, rv = Tensor.toFloats running.Mean, Tensor.toFloats running.Var
        GradCheck.check (sprintf "bn train %A" bc.Shape)
            (fun t -> fst (BatchNorm.train 0.1f eps t.[1] t.[2] running t.[0]))
            (fun r -> bnTrainRef (float eps) r.[0] r.[1] r.[2]) [| true; true; true |] [| x; gamma; beta |]
        && GradCheck.check (sprintf "bn eval %A" bc.Shape) (fun t -> BatchNorm.eval eps t.[1] t.[2] running t.[0])
            (fun r -> normRef (float eps) rm rv r.[0] r.[1] r.[2]) [| true; true; true |] [| x; gamma; beta |]
        && GradCheck.check "batch mean" (fun t -> fst (BatchNorm.batchStats t.[0])) (fun r -> make [| c |] (fst (momentsRef r.[0]))) [| true |] [| x |]
        && GradCheck.check "batch var" (fun t -> snd (BatchNorm.batchStats t.[0])) (fun r -> make [| c |] (snd (momentsRef r.[0]))) [| true |] [| x |])

[<Fact>]
let ``BatchNorm.train updates the running statistics like PyTorch (unbiased variance, momentum 0.1)`` () =
    // channel 0 holds 1, 3, 5, 7: mean 4, biased var 5, unbiased 20/3; channel 1 holds 0, 0, 2, -2: mean 0,
    // biased var 2, unbiased 8/3
    let x = Tensor.ofArray [| 2; 2; 1; 2 |] [| 1.f; 3.f; 0.f; 0.f; 5.f; 7.f; 2.f; -2.f |]
    let gamma, beta = Tensor.ones [| 2 |], Tensor.zeros [| 2 |]
    let running = { Mean = Tensor.ofArray [| 2 |] [| 1.f; -1.f |]; Var = Tensor.ofArray [| 2 |] [| 2.f; 0.5f |] }
    let y, stats = BatchNorm.train 0.1f eps gamma beta running x
    let close (e: float32[]) (t: Tensor) = Fixtures.assertClose "stats" 1e-6f 1e-6f (Tensor.ofArray t.Shape e) t
    close [| 0.9f * 1.f + 0.1f * 4.f; 0.9f * -1.f + 0.1f * 0.f |] stats.Mean
    close [| 0.9f * 2.f + 0.1f * 20.f / 3.f; 0.9f * 0.5f + 0.1f * 8.f / 3.f |] stats.Var
    let s0, s1 = 1.0f / sqrt (5.0f + eps), 1.0f / sqrt (2.0f + eps)
    close [| -3.f * s0; -1.f * s0; 0.f; 0.f; 1.f * s0; 3.f * s0; 2.f * s1; -2.f * s1 |] y
    // the input statistics are untouched (they are values, not state)
    Assert.Equal<float32[]>([| 1.f; -1.f |], running.Mean.Data)

[<Fact>]
let ``BatchNorm.init gives gamma 1, beta 0, running mean 0 and variance 1`` () =
    let p, s = BatchNorm.init 3
    Assert.Equal<float32[]>([| 1.f; 1.f; 1.f |], p.Gamma.Data)
    Assert.Equal<float32[]>([| 0.f; 0.f; 0.f |], p.Beta.Data)
    Assert.Equal<float32[]>([| 0.f; 0.f; 0.f |], s.Mean.Data)
    Assert.Equal<float32[]>([| 1.f; 1.f; 1.f |], s.Var.Data)
    // apply dispatches on the training flag; evaluation leaves the statistics alone
    let x = Tensor.randn (Rng.create 3) [| 5; 3 |]
    let ye, se = BatchNorm.apply false 0.1f eps p s x
    Assert.True(obj.ReferenceEquals(s, se))
    Fixtures.assertClose "eval with fresh stats" 1e-6f 1e-6f (x / sqrt (1.0f + eps)) ye
    let _, st = BatchNorm.apply true 0.1f eps p s x
    Assert.False(st.Mean.Data = s.Mean.Data)

[<Fact>]
let ``BatchNorm rejects bad shapes with clear messages`` () =
    let p, s = BatchNorm.init 3
    let x = Tensor.zeros [| 4; 3; 2; 2 |]
    let ex = Assert.Throws<ArgumentException>(fun () -> BatchNorm.train 0.1f eps (Tensor.ones [| 4 |]) p.Beta s x |> ignore)
    Assert.Contains("BatchNorm.train: gamma must have shape [3]", ex.Message)
    Assert.Contains("[4; 3; 2; 2]", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> BatchNorm.eval eps p.Gamma p.Beta { s with Var = Tensor.ones [| 2 |] } x |> ignore)
    Assert.Contains("running.Var must have shape [3]", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> BatchNorm.train 0.1f eps p.Gamma p.Beta s (Tensor.zeros [| 1; 3 |]) |> ignore)
    Assert.Contains("more than 1 value per channel", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> BatchNorm.batchStats (Tensor.zeros [| 3 |]) |> ignore)
    Assert.Contains("channel axis 1", ex.Message)

[<Fact>]
let ``BatchNorm agrees with PyTorch on [N,C,H,W] and [N,C]`` () =
    let fx = Fixtures.load "conv_pool.json"
    let momentum, eps = float32 (fx.Float "momentum"), float32 (fx.Float "eps")
    for tag in [ "bn4"; "bn2" ] do
        let t name = fx.Tensor(tag + "_" + name)
        let running = { Mean = t "running_mean"; Var = t "running_var" }
        let mutable stats = running
        let y, g =
            Autodiff.vjp (fun (xs: Tensor[]) ->
                let y, st = BatchNorm.train momentum eps xs.[1] xs.[2] running xs.[0]
                stats <- st
                y) [| t "x"; t "gamma"; t "beta" |] (t "v")
        Fixtures.assertClose (tag + " out") 1e-4f 1e-5f (t "out") y
        Fixtures.assertClose (tag + " running mean") 1e-5f 1e-6f (t "new_running_mean") stats.Mean
        Fixtures.assertClose (tag + " running var") 1e-5f 1e-6f (t "new_running_var") stats.Var
        Fixtures.assertClose (tag + " grad x") 1e-4f 1e-4f (t "grad_x") g.[0]
        Fixtures.assertClose (tag + " grad gamma") 1e-4f 1e-4f (t "grad_gamma") g.[1]
        Fixtures.assertClose (tag + " grad beta") 1e-4f 1e-4f (t "grad_beta") g.[2]
        Fixtures.assertClose (tag + " eval") 1e-4f 1e-5f (t "eval_out") (BatchNorm.eval eps (t "gamma") (t "beta") running (t "x"))

// ---- dropout ----

/// The documented mask rule, restated independently: element i survives iff uniformAt rng i >= p.
let private keptRef (rng: Rng) (p: float32) (i: int) = Rng.uniformAt rng (int64 i) >= p

let dropCase = gen {
    let! seed = Props.seed
    let! p = Gen.elements [ 0.05f; 0.1f; 0.3f; 0.5f; 0.8f; 0.95f ]
    return seed, p }

[<Fact>]
let ``dropout zeroes a fraction p within a few standard errors and scales survivors by 1 / (1 - p)`` () =
    let n = 40000
    Props.forAll dropCase (fun (seed, p) ->
        let rng = Rng.create seed
        let x = Tensor.rand (Rng.create (seed / 2)) 0.5f 2.0f [| 40; 1000 |]
        let y = Dropout.apply rng p true x
        let zeros = y.Data |> Array.filter (fun v -> v = 0.0f) |> Array.length
        let se = sqrt (float p * (1.0 - float p) / float n)
        let frac = float zeros / float n
        if abs (frac - float p) > 5.0 * se then failwithf "p = %g: dropped fraction %g (5 se = %g)" p frac (5.0 * se)
        let scale = 1.0f / (1.0f - p)
        for i in 0 .. n - 1 do
            let expected = if keptRef rng p i then x.Data.[i] * scale else 0.0f
            if abs (y.Data.[i] - expected) > 1e-6f * abs expected then
                failwithf "p = %g: element %d is %g, expected %g" p i y.Data.[i] expected
        true)

[<Fact>]
let ``dropout preserves the mean in expectation`` () =
    let n = 40000
    Props.forAll dropCase (fun (seed, p) ->
        let y = Dropout.apply (Rng.create seed) p true (Tensor.ones [| n |])
        // y_i is 1/(1-p) with probability 1-p, else 0: mean 1, variance p / (1 - p)
        let mean = Array.averageBy float y.Data
        let se = sqrt (float p / (1.0 - float p) / float n)
        if abs (mean - 1.0) > 5.0 * se then failwithf "p = %g: mean %g, 5 se = %g" p mean (5.0 * se)
        true)

[<Fact>]
let ``dropout is a pure function of the key: same rng same mask, new rng new mask`` () =
    let x = Tensor.ones [| 64; 32 |]
    let r1, r2 = Rng.split (Rng.create 9)
    let a, b, c = Dropout.apply r1 0.5f true x, Dropout.apply r1 0.5f true x, Dropout.apply r2 0.5f true x
    Assert.Equal<float32[]>(a.Data, b.Data)
    Assert.NotEqual<float32[]>(a.Data, c.Data)

[<Fact>]
let ``dropout's gradient is the mask times the scale`` () =
    Props.forAll dropCase (fun (seed, p) ->
        let rng = Rng.create seed
        let rs = Rng.splitN 2 (Rng.create (seed / 3))
        let x, v = Tensor.randn rs.[0] [| 7; 33 |], Tensor.randn rs.[1] [| 7; 33 |]
        let _, g = Autodiff.vjp (fun t -> Dropout.apply rng p true t) x v
        let scale = 1.0f / (1.0f - p)
        g.Data |> Array.iteri (fun i gi ->
            let expected = if keptRef rng p i then v.Data.[i] * scale else 0.0f
            if abs (gi - expected) > 1e-6f * abs expected then failwithf "p = %g: gradient %d is %g, expected %g" p i gi expected)
        // and the finite-difference check against the restated rule
        GradCheck.check "dropout" (fun t -> Dropout.apply rng p true t.[0])
            (fun r -> { r.[0] with Data = r.[0].Data |> Array.mapi (fun i xi -> if keptRef rng p i then xi / (1.0 - float p) else 0.0) })
            [| true |] [| x |])

[<Fact>]
let ``dropout is the identity when not training or p = 0, and checks p`` () =
    let x = Tensor.randn (Rng.create 1) [| 3; 4 |]
    Assert.True(obj.ReferenceEquals(x, Dropout.apply (Rng.create 2) 0.5f false x))
    Assert.True(obj.ReferenceEquals(x, Dropout.apply (Rng.create 2) 0.0f true x))
    for bad in [ 1.0f; -0.1f; 1.5f; Single.NaN ] do
        let ex = Assert.Throws<ArgumentException>(fun () -> Dropout.apply (Rng.create 2) bad true x |> ignore)
        Assert.Contains("p must lie in [0, 1)", ex.Message)
    // checked even when not training
    Assert.Throws<ArgumentException>(fun () -> Dropout.apply (Rng.create 2) 1.0f false x |> ignore) |> ignore

// ---- determinism on 1 and 2 threads ----

[<Collection("threads")>]
module Determinism =
    let private withThreads (n: int) (f: unit -> 'a) =
        let saved = Threads.Count
        Threads.Count <- n
        try f () finally Threads.Count <- saved

    [<Fact>]
    let ``batch norm and dropout give bit-identical values and gradients on 1 and 2 threads`` () =
        for shape in [ [| 64; 20; 24; 24 |]; [| 4096; 48 |]; [| 1000; 37 |] ] do
            let rs = Rng.splitN 4 (Rng.create 11)
            let c = shape.[1]
            let x = Tensor.randn rs.[0] shape * 2.0f + 1.0f
            let gamma, beta = Tensor.rand rs.[1] 0.5f 1.5f [| c |], Tensor.randn rs.[2] [| c |]
            let v = Tensor.randn rs.[3] shape
            let _, running = BatchNorm.init c
            let cv = Tensor.randn rs.[3] [| c |]
            let run () =
                let mutable stats = running
                let y, g =
                    Autodiff.vjp (fun (t: Tensor[]) ->
                        let y, st = BatchNorm.train 0.1f eps t.[1] t.[2] running t.[0]
                        stats <- st
                        Dropout.apply (Rng.create 4) 0.3f true y + BatchNorm.eval eps t.[1] t.[2] stats t.[0] * 0.5f)
                        [| x; gamma; beta |] v
                let _, gs = Autodiff.vjp (fun (t: Tensor) -> let m, var = BatchNorm.batchStats t in m * 2.0f + var) x cv
                y, Array.append g [| gs |], stats
            let y1, g1, s1 = withThreads 1 run
            let y2, g2, s2 = withThreads 2 run
            Assert.Equal<float32[]>(y1.Data, y2.Data)
            for i in 0 .. 3 do Assert.Equal<float32[]>(g1.[i].Data, g2.[i].Data)
            Assert.Equal<float32[]>(s1.Mean.Data, s2.Mean.Data)
            Assert.Equal<float32[]>(s1.Var.Data, s2.Var.Data)
