module GcnKd.Tests.ShapeRngTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests

[<Fact>]
let ``broadcast is symmetric and agrees with numpy's rule`` () =
    let gen = gen {
        let! r = Gen.choose (0, 4)
        let! dims = Gen.arrayOfLength r (Props.dim 1 5)
        let! mask = Gen.arrayOfLength r (Gen.elements [ 0; 1; 2 ])
        let! drop = Gen.choose (0, r)
        let other = Array.mapi (fun i d -> match mask.[i] with 0 -> d | 1 -> 1 | _ -> d) dims |> Array.skip drop
        return dims, other }
    Props.forAll gen (fun (a, b) ->
        let s1 = Shape.broadcast a b
        let s2 = Shape.broadcast b a
        s1 = s2 && s1 = a)

[<Fact>]
let ``incompatible shapes are refused`` () =
    Assert.Throws<ArgumentException>(fun () -> Shape.broadcast [| 3 |] [| 4 |] |> ignore) |> ignore

[<Fact>]
let ``uniform draws have the moments of U(0,1) and normal draws those of N(0,1)`` () =
    // n = 200k: standard error of the mean 0.0006 (uniform) and 0.0022 (normal); bounds at ~5 standard errors
    Props.forAllN (max 3 (Props.cases / 5)) Props.seed (fun seed ->
        let r = Rng.create seed
        let u = Rng.uniformArray 200000 r |> Array.map float
        let z = Rng.normalArray 200000 r |> Array.map float
        let mean (a: float[]) = Array.average a
        let var (a: float[]) = let m = mean a in a |> Array.averageBy (fun x -> (x - m) * (x - m))
        abs (mean u - 0.5) < 0.004 && abs (var u - 1.0 / 12.0) < 0.002
        && Array.forall (fun x -> x >= 0.0 && x < 1.0) u
        && abs (mean z) < 0.012 && abs (var z - 1.0) < 0.02)

[<Fact>]
let ``the same key gives the same stream, split keys differ`` () =
    Props.forAll Props.seed (fun seed ->
        let r = Rng.create seed
        let a, b = Rng.split r
        Rng.uniformArray 64 r = Rng.uniformArray 64 (Rng.create seed)
        && Rng.uniformArray 64 a <> Rng.uniformArray 64 b
        && Rng.uniformArray 64 a <> Rng.uniformArray 64 r)

[<Fact>]
let ``permutation is a permutation and every position is uniform`` () =
    Props.forAll (Gen.zip Props.seed (Props.dim 1 50)) (fun (seed, n) ->
        Rng.permutation n (Rng.create seed) |> Array.sort = Array.init n id)
    // where element 0 lands, over 6000 keys: each of 6 slots ~1000 (sd ~29)
    let counts = Array.zeroCreate 6
    for s in 0 .. 5999 do
        let p = Rng.permutation 6 (Rng.create s)
        let pos = Array.findIndex ((=) 0) p
        counts.[pos] <- counts.[pos] + 1
    Assert.All(counts, fun c -> Assert.InRange(c, 850, 1150))

[<Fact>]
let ``Bernoulli draws hit their probability`` () =
    let p = Tensor.full [| 100000 |] 0.3f
    let b = Tensor.bernoulli (Rng.create 5) p
    let mean = b.Data |> Array.averageBy float
    Assert.InRange(mean, 0.3 - 0.0073, 0.3 + 0.0073) // 5 standard errors
    Assert.All(b.Data, fun v -> Assert.True((v = 0.0f || v = 1.0f)))
