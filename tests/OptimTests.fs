module GcnKd.Tests.OptimTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests

type Pair = { W: Tensor; B: Tensor }
type Net = { Layers: Pair list; Scale: Tensor option; Name: string }

// ---- golden values from PyTorch (experiments/reference/losses_optim.py) ----

let private goldenConfigs =
    [ "sgd", Sgd { Momentum = 0.9f; Nesterov = true; WeightDecay = 0.01f }, 0.1f
      "adam", Adam { Beta1 = 0.9f; Beta2 = 0.999f; Eps = 1e-8f; WeightDecay = 0.05f }, 0.01f
      "adamw", AdamW { Beta1 = 0.8f; Beta2 = 0.99f; Eps = 1e-6f; WeightDecay = 0.1f }, 0.01f ]

[<Fact>]
let ``SGD with Nesterov momentum and weight decay, Adam with L2 and AdamW follow PyTorch for 5 steps`` () =
    let f = Fixtures.load "optim.json"
    let p0 = { W = f.Tensor "w0"; B = f.Tensor "b0" }
    for name, cfg, lr in goldenConfigs do
        let mutable p = p0
        let mutable s = Optim.init cfg p0
        for k in 0 .. 4 do
            let g = { W = f.Tensor (sprintf "grad%d_w" k); B = f.Tensor (sprintf "grad%d_b" k) }
            let p2, s2 = Optim.step cfg lr s p g
            p <- p2
            s <- s2
            Fixtures.assertClose (sprintf "%s step %d W" name k) 1e-5f 1e-6f (f.Tensor (sprintf "%s%d_w" name k)) p.W
            Fixtures.assertClose (sprintf "%s step %d B" name k) 1e-5f 1e-6f (f.Tensor (sprintf "%s%d_b" name k)) p.B
        Assert.Equal(5.0f, s.Step.Item0)

[<Fact>]
let ``schedules give PyTorch's learning rates for epochs 0 to 20`` () =
    let f = Fixtures.load "optim.json"
    for name, sched in [ "sched_constant", Constant; "sched_step", Step(3, 0.5f)
                         "sched_cosine", Cosine(10, 0.001f); "sched_linear", Linear(8, 0.1f) ] do
        let actual = Tensor.ofArray [| 21 |] (Array.init 21 (fun e -> Schedule.lr sched 0.1f e))
        Fixtures.assertClose name 1e-6f 0.0f (f.Tensor name) actual

[<Fact>]
let ``schedules reject meaningless parameters with a message naming them`` () =
    let bad (fragment: string) sched =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Schedule.lr sched 0.1f 0 |> ignore)
        Assert.Contains(fragment, ex.Message)
    bad "every" (Step(0, 0.5f))
    bad "total" (Cosine(0, 0.0f))
    bad "endFactor" (Linear(5, -1.0f))
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Schedule.lr Constant 0.1f -1 |> ignore)
    Assert.Contains("epoch", ex.Message)

// ---- an independent float64 reference over random trees and hyper-parameters ----

/// torch's update rules written out per element in double.
let private reference64 (cfg: OptimizerConfig) (lr: float) (steps: (float[] * float[]) list) (p0: float[]) =
    let n = p0.Length
    let p = Array.copy p0
    let m = Array.zeroCreate<float> n
    let v = Array.zeroCreate<float> n
    let f32 (x: float32) = float (decimal x)
    steps |> List.iteri (fun k (_, g) ->
        let t = float (k + 1)
        for i in 0 .. n - 1 do
            match cfg with
            | Sgd c ->
                let mutable d = g.[i] + f32 c.WeightDecay * p.[i]
                if c.Momentum > 0.0f then
                    m.[i] <- f32 c.Momentum * m.[i] + d
                    d <- if c.Nesterov then d + f32 c.Momentum * m.[i] else m.[i]
                p.[i] <- p.[i] - lr * d
            | Adam c | AdamW c ->
                let decoupled = match cfg with AdamW _ -> true | _ -> false
                let b1, b2 = f32 c.Beta1, f32 c.Beta2
                let gi = if decoupled then g.[i] else g.[i] + f32 c.WeightDecay * p.[i]
                if decoupled then p.[i] <- p.[i] * (1.0 - lr * f32 c.WeightDecay)
                m.[i] <- b1 * m.[i] + (1.0 - b1) * gi
                v.[i] <- b2 * v.[i] + (1.0 - b2) * gi * gi
                let mhat = m.[i] / (1.0 - b1 ** t)
                let denom = sqrt (v.[i]) / sqrt (1.0 - b2 ** t) + f32 c.Eps
                p.[i] <- p.[i] - lr * mhat / denom)
    p

let private configGen =
    gen {
        let! kind = Gen.choose (0, 2)
        let! wd = Gen.elements [ 0.0f; 1e-4f; 0.05f ]
        let! mo = Gen.elements [ 0.0f; 0.5f; 0.9f ]
        let! nest = Gen.elements [ true; false ]
        let! b1 = Gen.elements [ 0.0f; 0.8f; 0.9f ]
        let! b2 = Gen.elements [ 0.9f; 0.999f ]
        let! eps = Gen.elements [ 1e-8f; 1e-3f ]
        return
            match kind with
            | 0 -> Sgd { Momentum = mo; Nesterov = nest && mo > 0.0f; WeightDecay = wd }
            | 1 -> Adam { Beta1 = b1; Beta2 = b2; Eps = eps; WeightDecay = wd }
            | _ -> AdamW { Beta1 = b1; Beta2 = b2; Eps = eps; WeightDecay = wd }
    }

let private netOf (rng: Rng) (sizes: int list) (withScale: bool) =
    let rs = Rng.splitN (2 * sizes.Length + 1) rng
    { Layers = sizes |> List.mapi (fun i d -> { W = Tensor.randn rs.[2 * i] [| d; 3 |]; B = Tensor.randn rs.[2 * i + 1] [| d |] })
      Scale = (if withScale then Some (Tensor.randn rs.[rs.Length - 1] [| 2; 2; 5 |]) else None)
      Name = "net" }

[<Fact>]
let ``every optimiser matches a float64 reference of torch's rules over random trees`` () =
    let caseGen = Gen.zip3 configGen (Gen.listOfLength 3 (Props.dim 1 40)) (Gen.zip Props.seed (Gen.elements [ true; false ]))
    Props.forAll caseGen (fun (cfg, sizes, (seed, withScale)) ->
        let rng = Rng.create seed
        let p0 = netOf rng sizes withScale
        let grads = List.init 4 (fun k -> netOf (Rng.splitN 4 (snd (Rng.split rng))).[k] sizes withScale)
        let lr = 0.03f
        let mutable p = p0
        let mutable s = Optim.init cfg p0
        for g in grads do
            let p2, s2 = Optim.step cfg lr s p g
            p <- p2
            s <- s2
        let flat (t: 'P) = Tree.leaves t |> Array.collect (fun (_, x) -> x.Data |> Array.map float)
        let expected = reference64 cfg (float (decimal lr)) (grads |> List.map (fun g -> flat g, flat g)) (flat p0)
        let actual = flat p
        Array.iteri2 (fun i (e: float) (a: float) ->
            if not (abs (a - e) <= 1e-5 + 1e-5 * abs e) then failwithf "%A: element %d is %g, float64 reference %g" cfg i a e) expected actual
        Assert.Equal("net", p.Name)
        true)

// ---- purity, determinism, state as a tree ----

[<Fact>]
let ``step leaves its inputs untouched and the state is a named tree`` () =
    let p = netOf (Rng.create 1) [ 4; 2 ] true
    let g = netOf (Rng.create 2) [ 4; 2 ] true
    let snapshot (t: 'P) = Tree.leaves t |> Array.map (fun (_, x) -> x.ToArray())
    let cfg = Optim.defaultAdamW
    let s0 = Optim.init cfg p
    let before = snapshot p, snapshot g, snapshot s0
    let _, s1 = Optim.step cfg 0.01f s0 p g
    Assert.Equal(before, (snapshot p, snapshot g, snapshot s0))
    let names = Tree.leaves s1 |> Array.map fst
    Assert.Equal("Step", names.[0])
    Assert.Contains("FirstMoment.Layers.1.W", names)
    Assert.Contains("SecondMoment.Scale", names)
    Assert.Equal(1 + 2 * 5, names.Length)
    // SGD without momentum keeps only the counter
    Assert.Equal<string[]>([| "Step" |], Tree.leaves (Optim.init Optim.defaultSgd p) |> Array.map fst)

[<Fact>]
let ``a large update is bitwise identical on one thread and on many`` () =
    let p = { W = Tensor.randn (Rng.create 3) [| 700; 300 |]; B = Tensor.randn (Rng.create 4) [| 13 |] }
    let g = { W = Tensor.randn (Rng.create 5) [| 700; 300 |]; B = Tensor.randn (Rng.create 6) [| 13 |] }
    let run () =
        [ for cfg in [ Sgd { Momentum = 0.9f; Nesterov = true; WeightDecay = 1e-3f }; Optim.defaultAdam; Optim.defaultAdamW ] do
            let p1, s1 = Optim.step cfg 0.01f (Optim.init cfg p) p g
            let p2, _ = Optim.step cfg 0.01f s1 p1 g
            yield p2.W.ToArray(), p2.B.ToArray() ]
    let saved = Threads.Count
    let many = run ()
    Threads.Count <- 1
    let one = try run () finally Threads.Count <- saved
    Assert.True((many = one), "updates differ between thread counts")

[<Fact>]
let ``Adam minimises a quadratic`` () =
    // f(p) = sum (p - 3)^2, gradient 2 (p - 3)
    let target = Tensor.full [| 5 |] 3.0f
    let mutable p = Tensor.zeros [| 5 |]
    let mutable s = Optim.init Optim.defaultAdam p
    for _ in 1 .. 500 do
        let g = Autodiff.grad (fun (x: Tensor) -> Loss.mse x target) p
        let p2, s2 = Optim.step Optim.defaultAdam 0.05f s p g
        p <- p2
        s <- s2
    Assert.True(p.Data |> Array.forall (fun v -> abs (v - 3.0f) < 1e-2f), sprintf "%A" p.Data)

[<Fact>]
let ``bad configurations, gradients and states give clear messages`` () =
    let p = { W = Tensor.zeros [| 2; 3 |]; B = Tensor.zeros [| 3 |] }
    let throws (fragments: string list) (f: unit -> obj) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        for s in fragments do Assert.Contains(s, ex.Message)
    throws [ "Nesterov"; "Momentum > 0" ] (fun () -> box (Optim.init (Sgd { Momentum = 0.0f; Nesterov = true; WeightDecay = 0.0f }) p))
    throws [ "Adam"; "Beta2"; "[0, 1)" ] (fun () -> box (Optim.init (Adam { Beta1 = 0.9f; Beta2 = 1.0f; Eps = 1e-8f; WeightDecay = 0.0f }) p))
    let s = Optim.init Optim.defaultAdam p
    throws [ "gradient 'B'"; "[4]"; "[3]" ] (fun () -> box (Optim.step Optim.defaultAdam 0.1f s p { p with B = Tensor.zeros [| 4 |] }))
    throws [ "lr" ] (fun () -> box (Optim.step Optim.defaultAdam -0.1f s p p))
    throws [ "first moment"; "another optimiser" ] (fun () -> box (Optim.step Optim.defaultAdam 0.1f (Optim.init Optim.defaultSgd p) p p))
