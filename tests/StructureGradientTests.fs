/// GFKD's structure-gradient estimators: unbiasedness against the exact gradient by enumeration (fixed seeds, so the
/// statistical checks are deterministic), variance, and invariants over random logits and objectives (FsCheck).
module GcnKd.Tests.StructureGradientTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd

let private sigmoid (x: float) = 1.0 / (1.0 + exp (-x))

/// Mean and standard error of the mean, per coordinate, of `draws` estimates.
let private moments (estimates: float32[][]) =
    let n = float estimates.Length
    let d = estimates.[0].Length
    Array.init d (fun i ->
        let xs = estimates |> Array.map (fun e -> float e.[i])
        let m = Array.average xs
        let var = (xs |> Array.sumBy (fun x -> (x - m) * (x - m))) / (n - 1.0)
        m, sqrt (var / n), var)

let private single (f: bool[] -> float) = fun (a: bool[]) -> [| f a |]

let private run (estimator: StructureEstimator) (draws: int) (seed: int) (f: bool[] -> float) (logits: float32[]) =
    let layout = VariableLayout.single logits.Length
    Rng.splitN draws (Rng.create seed) |> Array.map (fun k -> (StructureGradient.estimate estimator layout (single f) logits k).Gradient)

let private withinThreeSe (what: string) (exact: float[]) (estimates: float32[][]) =
    moments estimates |> Array.iteri (fun i (m, se, _) ->
        Assert.True(abs (m - exact.[i]) <= 3.0 * se + 1e-9,
                    sprintf "%s, variable %d: mean %.5f, exact %.5f, standard error %.5f" what i m exact.[i] se))

let private estimators =
    [ "ARM", StructureEstimator.Arm
      "REINFORCE, 4 samples, baseline", StructureEstimator.Reinforce(4, true)
      "REINFORCE, 2 samples, no baseline", StructureEstimator.Reinforce(2, false) ]

[<Fact>]
let ``for one Bernoulli every estimator's mean is within 3 standard errors of sigmoid'(theta) (f(1) - f(0))`` () =
    let f (a: bool[]) = if a.[0] then 3.7 else 0.7
    for theta in [ -2.0f; 0.0f; 1.3f; 4.0f ] do
        let p = sigmoid (float theta)
        let exact = [| p * (1.0 - p) * 3.0 |]
        Assert.Equal(exact.[0], (StructureGradient.exact f [| theta |]).[0], 12)
        for name, e in estimators do
            withinThreeSe (sprintf "%s, theta %g" name theta) exact (run e 50000 2026 f [| theta |])

/// A nonlinear function of a symmetric 4-node graph, one variable per unordered pair (0,1) (0,2) (0,3) (1,2) (1,3) (2,3):
/// triangles + (degree of node 0 - 1.5)^2 + 0.3 edges + 5 (an offset that a baseline-free estimator pays for).
let private pairs = [| 0, 1; 0, 2; 0, 3; 1, 2; 1, 3; 2, 3 |]

let private graphFunction (a: bool[]) =
    let adj = Array2D.zeroCreate<bool> 4 4
    pairs |> Array.iteri (fun k (i, j) -> adj.[i, j] <- a.[k]; adj.[j, i] <- a.[k])
    let triangles = [ for i in 0 .. 3 do for j in i + 1 .. 3 do for k in j + 1 .. 3 do if adj.[i, j] && adj.[j, k] && adj.[i, k] then 1 ] |> List.length
    let deg0 = [ 1 .. 3 ] |> List.filter (fun j -> adj.[0, j]) |> List.length
    float triangles + (float deg0 - 1.5) ** 2.0 + 0.3 * float (a |> Array.filter id |> Array.length) + 5.0

let private graphLogits = [| 0.8f; -1.2f; 0.1f; 2.0f; -0.4f; -2.5f |]

[<Fact>]
let ``on a 4-node graph function ARM and REINFORCE means are within 3 standard errors of the exact gradient`` () =
    let exact = StructureGradient.exact graphFunction graphLogits
    // the function is not separable: the exact gradient differs from each variable's own finite difference
    Assert.True(exact |> Array.exists (fun g -> abs g > 0.05))
    for name, e in estimators do
        withinThreeSe name exact (run e 20000 7 graphFunction graphLogits)

[<Fact>]
let ``ARM's variance is below plain REINFORCE's at the same number of forward passes`` () =
    let total (estimates: float32[][]) = moments estimates |> Array.sumBy (fun (_, _, v) -> v)
    let arm = total (run StructureEstimator.Arm 4000 11 graphFunction graphLogits)
    let plain = total (run (StructureEstimator.Reinforce(2, false)) 4000 11 graphFunction graphLogits)
    let baseline = total (run (StructureEstimator.Reinforce(2, true)) 4000 11 graphFunction graphLogits)
    Assert.True(arm < plain, sprintf "ARM %.4f vs plain REINFORCE %.4f" arm plain)
    Assert.True(baseline < plain, sprintf "REINFORCE with baseline %.4f vs without %.4f" baseline plain)

// ---------------------------------------------------------------- invariants (FsCheck)

let private logitsGen n = Gen.arrayOfLength n (Gen.elements [ -30.0f; -6.0f; -1.0f; -0.2f; 0.0f; 0.3f; 2.0f; 9.0f; 40.0f ])

[<Fact>]
let ``a constant objective gets a zero gradient from every estimator`` () =
    Props.forAll (Gen.zip3 (Gen.choose (1, 12) |> Gen.bind logitsGen) Props.seed (Gen.elements [ -3.5; 0.0; 1e6 ])) (fun (logits, seed, c) ->
        let layout = VariableLayout.single logits.Length
        [ StructureEstimator.Arm; StructureEstimator.Reinforce(3, true) ]
        |> List.forall (fun e ->
            (StructureGradient.estimate e layout (fun _ -> [| c |]) logits (Rng.create seed)).Gradient
            |> Array.forall (fun g -> abs g <= 1e-9f * float32 (1.0 + abs c))))

[<Fact>]
let ``ARM's estimate for one variable under an increasing objective is never negative`` () =
    Props.forAll (Gen.zip3 (logitsGen 1) (Gen.choose (1, 1_000_000)) (Gen.elements [ 0.01; 1.0; 50.0 ])) (fun (logits, k, w) ->
        let u = [| float32 k / 1_000_001.0f |]
        let r = StructureGradient.armWith (VariableLayout.single 1) (fun a -> [| (if a.[0] then w else 0.0) - 2.0 |]) logits u
        r.Gradient.[0] >= 0.0f && r.Values.Length = 2)

[<Fact>]
let ``each graph's variables are driven by its own objective value only`` () =
    let gen = Gen.zip3 (Gen.choose (1, 6)) (Gen.choose (0, 6)) Props.seed
    Props.forAll gen (fun (n0, n1, seed) ->
        let layout = VariableLayout.ofCounts [| n0; n1 |]
        let logits = Array.init layout.Count (fun i -> float32 (i % 5) - 2.0f)
        let count (a: bool[]) lo hi = float ([ lo .. hi - 1 ] |> List.filter (fun i -> a.[i]) |> List.length)
        let f other (a: bool[]) = [| other * count a 0 n0; (count a n0 (n0 + n1)) ** 2.0 |]
        [ StructureEstimator.Arm; StructureEstimator.Reinforce(3, true); StructureEstimator.Reinforce(2, false) ]
        |> List.forall (fun e ->
            let g1 = (StructureGradient.estimate e layout (f 1.0) logits (Rng.create seed)).Gradient
            let g2 = (StructureGradient.estimate e layout (f 17.0) logits (Rng.create seed)).Gradient
            Array.sub g1 n0 n1 = Array.sub g2 n0 n1))

[<Fact>]
let ``samples follow sigmoid(theta) and the mode thresholds at zero`` () =
    Assert.Equal<bool[]>([| false; true; true |], StructureGradient.mode [| -0.1f; 0.0f; 3.0f |])
    let u = Array.init 10000 (fun i -> (float32 i + 0.5f) / 10000.0f)
    for theta in [ -1.5f; 0.4f ] do
        let frac = StructureGradient.sample (Array.create u.Length theta) u |> Array.filter id |> Array.length
        Assert.Equal(sigmoid (float theta), float frac / 10000.0, 3)
        // ARM's two samples are both Bernoulli(sigmoid theta) for uniform u
        let a1, a2 = StructureGradient.armPair (Array.create u.Length theta) u
        Assert.Equal(sigmoid (float theta), float (a1 |> Array.filter id |> Array.length) / 10000.0, 3)
        Assert.Equal(sigmoid (float theta), float (a2 |> Array.filter id |> Array.length) / 10000.0, 3)

[<Fact>]
let ``bad inputs name the function and what was expected`` () =
    let layout = VariableLayout.ofCounts [| 2; 1 |]
    let e = Assert.Throws<ArgumentException>(fun () -> StructureGradient.arm layout (fun _ -> [| 0.0; 0.0 |]) [| 1.0f |] (Rng.create 0) |> ignore)
    Assert.Contains("expected 3 logits", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> StructureGradient.arm layout (fun _ -> [| 0.0 |]) [| 1.0f; 0.0f; 2.0f |] (Rng.create 0) |> ignore)
    Assert.Contains("one value per graph (2), got 1", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> StructureGradient.reinforce 1 true layout (fun _ -> [| 0.0; 0.0 |]) [| 1.0f; 0.0f; 2.0f |] (Rng.create 0) |> ignore)
    Assert.Contains("at least 2 samples with a baseline", e.Message)

// ---------------------------------------------------------------- the multinomial mode

[<Fact>]
let ``the categorical score-function estimate is within 3 standard errors of the exact gradient`` () =
    let logits = [| 0.5f; -1.0f; 1.2f; 0.0f |]
    // nonlinear in the draw counts: distinct neighbours matter, and neighbour 2 twice is penalised
    let f (counts: int[]) = float (counts |> Array.filter (fun c -> c > 0) |> Array.length) ** 2.0 - 1.5 * float (if counts.[2] = 2 then 1 else 0) + 3.0
    let exact = CategoricalStructure.exact 2 f logits
    Assert.True(exact |> Array.exists (fun g -> abs g > 0.05))
    // the estimator's objective sees the chosen set, not the counts: a set function
    let fSet (chosen: bool[]) = float (chosen |> Array.filter id |> Array.length) ** 2.0 + 3.0
    let exactSet = CategoricalStructure.exact 2 (fun c -> fSet (c |> Array.map (fun k -> k > 0))) logits
    let rowPtr = [| 0; 4 |]
    let estimates =
        Rng.splitN 20000 (Rng.create 5) |> Array.map (fun k ->
            (CategoricalStructure.reinforce 3 rowPtr 2 (VariableLayout.single 4) (fun a -> [| fSet a |]) logits k).Gradient)
    withinThreeSe "categorical REINFORCE" exactSet estimates
    // the enumeration itself agrees with a finite difference of the exact expectation (of the count function f)
    let expectation (l: float32[]) =
        let p = CategoricalStructure.probabilities [| 0; 4 |] l
        [ for a in 0 .. 3 do for b in 0 .. 3 -> a, b ] |> List.sumBy (fun (a, b) ->
            let c = Array.zeroCreate 4 in c.[a] <- c.[a] + 1; c.[b] <- c.[b] + 1
            p.[a] * p.[b] * f c)
    for e in 0 .. 3 do
        let h = 1e-3f
        let up, down = Array.copy logits, Array.copy logits
        up.[e] <- up.[e] + h; down.[e] <- down.[e] - h
        let fd = (expectation up - expectation down) / (2.0 * float h)
        Assert.True(abs (exact.[e] - fd) < 1e-3, sprintf "variable %d: enumeration %.5f, finite difference %.5f" e exact.[e] fd)

[<Fact>]
let ``categorical draws spend the budget per row and follow the softmax`` () =
    Props.forAll (Gen.zip3 (Gen.choose (1, 6)) (Gen.arrayOfLength 5 (Gen.elements [ -3.0f; 0.0f; 0.7f; 2.0f ])) Props.seed) (fun (budget, logits, seed) ->
        let rowPtr = [| 0; 2; 2; 5 |]   // an empty row in the middle
        let counts = CategoricalStructure.sampleCounts rowPtr budget logits (Rng.create seed)
        let mode = CategoricalStructure.mode rowPtr budget logits
        counts.[0] + counts.[1] = budget && counts.[2] + counts.[3] + counts.[4] = budget
        && (mode |> Array.filter id |> Array.length) = min budget 2 + min budget 3)
    let logits = [| 0.3f; -0.5f; 1.0f |]
    let p = CategoricalStructure.probabilities [| 0; 3 |] logits
    let total = Array.zeroCreate<int> 3
    for k in Rng.splitN 20000 (Rng.create 1) do
        CategoricalStructure.sampleCounts [| 0; 3 |] 1 logits k |> Array.iteri (fun e c -> total.[e] <- total.[e] + c)
    for e in 0 .. 2 do Assert.Equal(p.[e], float total.[e] / 20000.0, 2)
