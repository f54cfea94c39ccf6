module GcnKd.Tests.TensorTests

open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

/// Random broadcast-compatible shape pairs: b takes a's shape with some dimensions set to 1 or dropped.
let broadcastPair =
    gen {
        let! rank = Gen.choose (1, 4)
        let! dims = Gen.arrayOfLength rank (Props.dim 1 4)
        let! ones = Gen.arrayOfLength rank (Gen.elements [ true; false ])
        let! drop = Gen.choose (0, rank - 1)
        let! swap = Gen.elements [ true; false ]
        let! seed = Props.seed
        let b = Array.mapi (fun i d -> if ones.[i] then 1 else d) dims |> Array.skip drop
        return (if swap then b, dims else dims, b), seed
    }

let private inputs ((sa, sb), seed) =
    let r1, r2 = Rng.split (Rng.create seed)
    [| Tensor.rand r1 -2.0f 2.0f sa; Tensor.rand r2 0.5f 2.0f sb |]

[<Fact>]
let ``add, sub, mul, div broadcast and differentiate like the float64 reference`` () =
    Props.forAll broadcastPair (fun case ->
        let xs = inputs case
        GradCheck.check "add" (fun t -> t.[0] + t.[1]) (fun r -> broadcast2 (+) r.[0] r.[1]) [| true; true |] xs
        && GradCheck.check "sub" (fun t -> t.[0] - t.[1]) (fun r -> broadcast2 (-) r.[0] r.[1]) [| true; true |] xs
        && GradCheck.check "mul" (fun t -> t.[0] * t.[1]) (fun r -> broadcast2 (*) r.[0] r.[1]) [| true; true |] xs
        && GradCheck.check "div" (fun t -> t.[0] / t.[1]) (fun r -> broadcast2 (/) r.[0] r.[1]) [| true; true |] xs)

[<Fact>]
let ``scalar operators and negation differentiate like the reference`` () =
    Props.forAll broadcastPair (fun case ->
        let x = (inputs case).[1]
        GradCheck.check "affine" (fun t -> 3.0f * t.[0] - 1.5f) (fun r -> Ref64.map (fun v -> 3.0 * float (float32 v) - 1.5) r.[0]) [| true |] [| x |]
        && GradCheck.check "x/s" (fun t -> t.[0] / 4.0f + 2.0f) (fun r -> Ref64.map (fun v -> v / 4.0 + 2.0) r.[0]) [| true |] [| x |]
        && GradCheck.check "s/x" (fun t -> 2.0f / t.[0]) (fun r -> Ref64.map (fun v -> 2.0 / v) r.[0]) [| true |] [| x |]
        && GradCheck.check "neg" (fun t -> -t.[0]) (fun r -> Ref64.map (fun v -> -v) r.[0]) [| true |] [| x |])

[<Fact>]
let ``incompatible shapes give a clear error`` () =
    let ex = Assert.Throws<System.ArgumentException>(fun () -> Tensor.zeros [| 2; 3 |] + Tensor.zeros [| 4 |] |> ignore)
    Assert.Contains("[2; 3] and [4] cannot be broadcast", ex.Message)

[<Fact>]
let ``a tensor needs exactly as many values as its shape holds`` () =
    Assert.Throws<System.ArgumentException>(fun () -> Tensor.ofArray [| 2; 2 |] [| 1.0f |] |> ignore) |> ignore
