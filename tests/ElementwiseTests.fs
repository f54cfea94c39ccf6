module GcnKd.Tests.ElementwiseTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

/// Shapes of rank 1 to 4: the last axis 1 to 37 (so arrays have a SIMD body and a scalar tail), the others 1 to 4.
let shapes =
    gen {
        let! rank = Gen.choose (1, 4)
        let! lead = Gen.arrayOfLength (rank - 1) (Props.dim 1 4)
        let! last = Props.dim 1 37
        let! seed = Props.seed
        return Array.append lead [| last |], seed
    }

let private input lo hi (shape: int[], seed: int) = Tensor.rand (Rng.create seed) lo hi shape

/// Forward and VJP of `op` against the naive float64 function `f`, on inputs uniform in [lo, hi).
let private checkUnary name lo hi (op: Tensor -> Tensor) (f: float -> float) =
    Props.forAll shapes (fun case ->
        GradCheck.check name (fun t -> op t.[0]) (fun r -> Ref64.map f r.[0]) [| true |] [| input lo hi case |])

let private sigmoidRef (x: float) = 1.0 / (1.0 + Math.Exp(-x))
/// log(1 + e) without the cancellation of 1 + e for tiny e (the series to third order is exact in double there).
let private log1p (e: float) = if abs e < 1e-4 then e - e * e / 2.0 + e * e * e / 3.0 else Math.Log(1.0 + e)
let private softplusRef (x: float) = Math.Max(x, 0.0) + log1p (Math.Exp(-abs x))

[<Fact>]
let ``exp, log and sqrt match the reference`` () =
    checkUnary "exp" -4.0f 4.0f Elementwise.exp Math.Exp
    checkUnary "log" 0.1f 5.0f Elementwise.log Math.Log
    checkUnary "sqrt" 0.1f 5.0f Elementwise.sqrt Math.Sqrt

[<Fact>]
let ``abs, relu, square and leakyRelu match the reference`` () =
    checkUnary "abs" -3.0f 3.0f Elementwise.abs Math.Abs
    checkUnary "relu" -3.0f 3.0f Elementwise.relu (fun x -> Math.Max(x, 0.0))
    checkUnary "square" -3.0f 3.0f Elementwise.square (fun x -> x * x)
    for slope in [ 0.01f; 0.2f; -0.5f ] do
        checkUnary "leakyRelu" -3.0f 3.0f (Elementwise.leakyRelu slope) (fun x -> if x > 0.0 then x else float slope * x)

[<Fact>]
let ``sigmoid, tanh and softplus match the reference`` () =
    checkUnary "sigmoid" -8.0f 8.0f Elementwise.sigmoid sigmoidRef
    checkUnary "tanh" -4.0f 4.0f Elementwise.tanh Math.Tanh
    checkUnary "tanh near 0" -0.8f 0.8f Elementwise.tanh Math.Tanh
    checkUnary "softplus" -8.0f 8.0f Elementwise.softplus softplusRef

[<Fact>]
let ``elu and clamp match the reference`` () =
    for alpha in [ 1.0f; 0.5f; 2.0f ] do
        checkUnary "elu" -4.0f 3.0f (Elementwise.elu alpha) (fun x -> if x > 0.0 then x else float alpha * (Math.Exp x - 1.0))
    checkUnary "clamp" -2.0f 2.0f (Elementwise.clamp -0.5f 1.0f) (fun x -> Math.Min(Math.Max(x, -0.5), 1.0))
    checkUnary "clamp (point)" -2.0f 2.0f (Elementwise.clamp 0.25f 0.25f) (fun _ -> 0.25)

[<Fact>]
let ``pow matches the reference for integer and fractional exponents`` () =
    // integer exponents accept negative bases; negative ones keep |x| away from 0; fractional ones need x > 0
    let signed (shape: int[], seed: int) =
        let a, b = Rng.split (Rng.create seed)
        let mag = Tensor.rand a 0.4f 2.0f shape
        let sign = Tensor.rand b 0.0f 1.0f shape
        Tensor.ofArray shape (Array.map2 (fun m s -> if s < 0.5f then -m else m) mag.Data sign.Data)
    for p in [ 0.0f; 1.0f; 2.0f; 3.0f; 5.0f; -1.0f; -2.0f; 0.5f; 1.5f; 2.7f; -0.7f ] do
        let isInt = p = MathF.Round p
        Props.forAll shapes (fun case ->
            let x = if isInt then signed case else input 0.3f 3.0f case
            GradCheck.check (sprintf "pow %g" p) (fun t -> Elementwise.pow p t.[0]) (fun r -> Ref64.map (fun v -> Math.Pow(v, float p)) r.[0]) [| true |] [| x |])

[<Fact>]
let ``pow at zero and of negative bases follows torch`` () =
    let x = Tensor.ofArray [| 3 |] [| 0.0f; -2.0f; 4.0f |]
    Assert.Equal<float32[]>([| 0.0f; -8.0f; 64.0f |], (Elementwise.pow 3.0f x).Data)
    Assert.Equal<float32[]>([| 1.0f; 1.0f; 1.0f |], (Elementwise.pow 0.0f x).Data)
    let h = (Elementwise.pow 0.5f x).Data
    Assert.Equal(0.0f, h.[0]); Assert.True(Single.IsNaN h.[1]); Assert.Equal(2.0f, h.[2])
    Assert.Equal(Single.PositiveInfinity, (Elementwise.pow -1.0f x).Data.[0])
    // d/dx x^2 at 0 is 0 (not 0/0), d/dx x^0 is 0
    let _, g = Autodiff.vjp (fun (t: Tensor) -> Elementwise.pow 2.0f t) x (Tensor.ones [| 3 |])
    Assert.Equal<float32[]>([| 0.0f; -4.0f; 8.0f |], g.Data)
    let _, g0 = Autodiff.vjp (fun (t: Tensor) -> Elementwise.pow 0.0f t) x (Tensor.ones [| 3 |])
    Assert.Equal<float32[]>([| 0.0f; 0.0f; 0.0f |], g0.Data)

// ---- extreme arguments ----------------------------------------------------------------------------------------

let private extremes = [| -1e30f; -1000.0f; -100.0f; -88.0f; -50.0f; -30.0f; -20.0f; -1.0f; -1e-3f; -1e-6f; 0.0f
                          1e-6f; 1e-3f; 1.0f; 20.0f; 30.0f; 50.0f; 88.0f; 100.0f; 1000.0f; 1e30f |]

/// |actual - expected| within a relative tolerance, or both below the float32 normal range.
let private closeRel (what: string) (x: float32) (expected: float) (actual: float32) =
    let a = float actual
    if Double.IsNaN a || Double.IsInfinity a then failwithf "%s(%g) gave %g, expected %g" what x a expected
    if not (abs (a - expected) <= 2e-6 * abs expected + 1e-37) then
        failwithf "%s(%g) = %.9g, expected %.9g" what x a expected

[<Fact>]
let ``large and tiny arguments give accurate finite results`` () =
    // every value sits once in the vector body (index 3) and once in the scalar tail (index 16)
    for v in extremes do
        let x = Tensor.full [| 17 |] v
        let xd = float v
        let tanhRef = Math.Tanh xd
        let eluRef = if xd > 0.0 then xd else Math.Exp xd - 1.0
        for i in [ 3; 16 ] do
            closeRel "sigmoid" v (sigmoidRef xd) (Elementwise.sigmoid x).Data.[i]
            closeRel "tanh" v tanhRef (Elementwise.tanh x).Data.[i]
            closeRel "softplus" v (softplusRef xd) (Elementwise.softplus x).Data.[i]
            closeRel "elu" v eluRef (Elementwise.elu 1.0f x).Data.[i]
            // derivatives stay finite too
            for name, op in [ "sigmoid", Elementwise.sigmoid; "tanh", Elementwise.tanh; "softplus", Elementwise.softplus; "elu", Elementwise.elu 1.0f ] do
                let _, g = Autodiff.vjp op x (Tensor.ones [| 17 |])
                if not (Single.IsFinite g.Data.[i]) then failwithf "%s' (%g) is %g" name v g.Data.[i]
    // exp and log at the edges of float32
    let e = Elementwise.exp (Tensor.ofArray [| 3 |] [| -104.0f; 88.0f; 89.0f |])
    Assert.True(e.Data.[0] >= 0.0f && e.Data.[0] < 1e-44f)
    closeRel "exp" 88.0f (Math.Exp 88.0) e.Data.[1]
    Assert.Equal(Single.PositiveInfinity, e.Data.[2])

/// Element 0 takes the Vector512/Vector256 path and element n-1 the scalar tail: they must agree to a few ulps.
[<Fact>]
let ``vector body and scalar tail agree`` () =
    let ops : (string * (Tensor -> Tensor)) list =
        [ "exp", Elementwise.exp; "log", Elementwise.log; "sqrt", Elementwise.sqrt; "sigmoid", Elementwise.sigmoid
          "tanh", Elementwise.tanh; "softplus", Elementwise.softplus; "elu", Elementwise.elu 0.7f
          "pow 2.7", Elementwise.pow 2.7f; "pow -0.5", Elementwise.pow -0.5f; "pow -3", Elementwise.pow -3.0f; "leakyRelu", Elementwise.leakyRelu 0.1f ]
    let values = Array.concat [ extremes; [| infinityf; -infinityf; nanf |]; Array.init 200 (fun i -> -10.0f + 0.1f * float32 i) ]
    // a few ulps relative, with a floor of ~1 ulp at 1 for derivatives such as y(1 - y) that cancel near y = 1
    let agree name v (floor: float32) (a: float32) (b: float32) =
        if not ((Single.IsNaN a && Single.IsNaN b) || a = b || abs (a - b) <= 4e-7f * max (abs a) (abs b) + floor) then
            failwithf "%s(%g): vector %.9g, scalar %.9g" name v a b
    for name, op in ops do
        for v in values do
            let x = Tensor.full [| 17 |] v
            let y = op x
            agree name v 0.0f y.Data.[0] y.Data.[16]
            let _, g = Autodiff.vjp op x (Tensor.full [| 17 |] 0.75f)
            agree (name + "'") v 1e-7f g.Data.[0] g.Data.[16]

[<Fact>]
let ``accuracy near zero where naive formulas cancel`` () =
    for v in [ 1e-7f; 3e-5f; -3e-5f; 1e-3f; -0.3f; 0.6f ] do
        let x = Tensor.full [| 17 |] v
        for i in [ 0; 16 ] do
            closeRel "tanh" v (Math.Tanh(float v)) (Elementwise.tanh x).Data.[i]
            closeRel "elu" v (if v > 0.0f then float v else Math.Exp(float v) - 1.0) (Elementwise.elu 1.0f x).Data.[i]
    for v in [ -20.0f; -40.0f; -80.0f ] do
        let y = Elementwise.softplus (Tensor.full [| 17 |] v)
        closeRel "softplus" v (softplusRef (float v)) y.Data.[0]
        closeRel "softplus" v (softplusRef (float v)) y.Data.[16]

[<Fact>]
let ``NaN propagates through relu and clamp`` () =
    let x = Tensor.ofArray [| 2 |] [| nanf; 1.0f |]
    Assert.True(Single.IsNaN (Elementwise.relu x).Data.[0])
    Assert.True(Single.IsNaN (Elementwise.clamp 0.0f 0.5f x).Data.[0])
    Assert.Equal(0.5f, (Elementwise.clamp 0.0f 0.5f x).Data.[1])

[<Fact>]
let ``bad arguments give clear errors`` () =
    let x = Tensor.zeros [| 3 |]
    let ex = Assert.Throws<ArgumentException>(fun () -> Elementwise.clamp 1.0f 0.0f x |> ignore)
    Assert.Contains("clamp: lower bound 1 must not exceed upper bound 0", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> Elementwise.pow nanf x |> ignore)
    Assert.Contains("pow: the exponent is NaN", ex.Message)

[<Fact>]
let ``inputs that need no gradient get none`` () =
    // the backward of a unary op is only reached for differentiated inputs; a constant input records nothing
    let c = Tensor.ones [| 4 |]
    let y = Elementwise.sigmoid c
    Assert.False(y.RequiresGrad)
    let v, g = Autodiff.vjp (fun (t: Tensor) -> Elementwise.tanh t * Elementwise.exp c) (Tensor.zeros [| 4 |]) (Tensor.ones [| 4 |])
    Assert.Equal<float32[]>(Array.create 4 0.0f, v.Data)
    Assert.All(g.Data, fun d -> Assert.Equal(MathF.E, d, 5))
