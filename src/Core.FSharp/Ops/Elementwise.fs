/// Elementwise functions and activations, each with its derivative. Forward and backward are one SIMD pass each
/// (`Simd.map` / `Simd.zip`): the backward reads the cotangent and the saved input or output and writes the input
/// cotangent directly, with no intermediate tensors.
///
/// Every function is written three times (Vector512, Vector256, scalar) with the same algorithm, so the vector body
/// and the scalar tail of an array agree to within the last bits of `exp`/`log` (which .NET evaluates to ~1 ulp in
/// both paths). The activations built from `exp` (sigmoid, tanh, softplus, elu) only ever pass it non-positive
/// arguments: they cannot overflow, and give finite results wherever the true value is finite.
[<RequireQualifiedAccess>]
module GcnKd.Elementwise

open System
open System.Runtime.Intrinsics
open GcnKd.Kernels

type private V16 = Vector512<float32>
type private V8 = Vector256<float32>

// ---------------------------------------------------------------------------------------------------------------
// Kernels shared by forward and backward passes.

/// sigmoid(x) = 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0, both via e = exp(-|x|) in (0, 1].
let inline private sigmoid16 (x: V16) =
    let e = Vector512.Exp(-Vector512.Abs x)
    let d = V16.One + e
    Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, V16.Zero), V16.One / d, e / d)
let inline private sigmoid8 (x: V8) =
    let e = Vector256.Exp(-Vector256.Abs x)
    let d = V8.One + e
    Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, V8.Zero), V8.One / d, e / d)
let inline private sigmoid1 (x: float32) =
    let e = MathF.Exp(-abs x)
    let d = 1.0f + e
    if x >= 0.0f then 1.0f / d else e / d

// tanh: for |x| < 0.625 the odd minimax polynomial of Cephes' tanhf (relative error ~1e-7, no cancellation near 0);
// beyond, (1 - t)/(1 + t) with t = exp(-2|x|) <= 0.29, sign restored. Large |x| gives t = 0, hence exactly +-1.
[<Literal>]
let private TanhSmall = 0.625f
let inline private tanhPoly (s: float32) = (((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s + 1.33314422036e-1f) * s - 3.33332819422e-1f
let inline private tanh16 (x: V16) =
    let a = Vector512.Abs x
    let s = x * x
    let p = ((((Vector512.Create -5.70498872745e-3f * s + Vector512.Create 2.06390887954e-2f) * s - Vector512.Create 5.37397155531e-2f) * s
              + Vector512.Create 1.33314422036e-1f) * s - Vector512.Create 3.33332819422e-1f) * s * x + x
    let t = Vector512.Exp(Vector512.Create -2.0f * a)
    let q = Vector512.CopySign((V16.One - t) / (V16.One + t), x)
    Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create TanhSmall), p, q)
let inline private tanh8 (x: V8) =
    let a = Vector256.Abs x
    let s = x * x
    let p = ((((Vector256.Create -5.70498872745e-3f * s + Vector256.Create 2.06390887954e-2f) * s - Vector256.Create 5.37397155531e-2f) * s
              + Vector256.Create 1.33314422036e-1f) * s - Vector256.Create 3.33332819422e-1f) * s * x + x
    let t = Vector256.Exp(Vector256.Create -2.0f * a)
    let q = Vector256.CopySign((V8.One - t) / (V8.One + t), x)
    Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create TanhSmall), p, q)
let inline private tanh1 (x: float32) =
    let a = abs x
    if a < TanhSmall then
        let s = x * x
        tanhPoly s * s * x + x
    else
        let t = MathF.Exp(-2.0f * a)
        MathF.CopySign((1.0f - t) / (1.0f + t), x)

// softplus(x) = max(x, 0) + log1p(exp(-|x|)). log1p(e) by Goldberg's trick, log(u) * e / (u - 1) with u = 1 + e,
// which stays accurate when e is tiny (u rounds to 1: then log1p(e) = e); so softplus(-30) is ~9e-14, not 0.
let inline private softplus16 (x: V16) =
    let e = Vector512.Exp(-Vector512.Abs x)
    let u = V16.One + e
    let l = Vector512.ConditionalSelect(Vector512.Equals(u, V16.One), e, Vector512.Log u * e / (u - V16.One))
    Vector512.Max(x, V16.Zero) + l
let inline private softplus8 (x: V8) =
    let e = Vector256.Exp(-Vector256.Abs x)
    let u = V8.One + e
    let l = Vector256.ConditionalSelect(Vector256.Equals(u, V8.One), e, Vector256.Log u * e / (u - V8.One))
    Vector256.Max(x, V8.Zero) + l
let inline private softplus1 (x: float32) =
    let e = MathF.Exp(-abs x)
    let u = 1.0f + e
    let l = if u = 1.0f then e else MathF.Log u * e / (u - 1.0f)
    MathF.Max(x, 0.0f) + l

// expm1(z) for z <= 0 by Kahan's trick, (u - 1) * z / log(u) with u = e^z: accurate near 0 where e^z - 1 cancels.
let inline private expm1Neg16 (z: V16) =
    let u = Vector512.Exp z
    let um1 = u - V16.One
    let r = Vector512.ConditionalSelect(Vector512.Equals(u, V16.One), z, um1 * z / Vector512.Log u)
    Vector512.ConditionalSelect(Vector512.Equals(um1, -V16.One), -V16.One, r)
let inline private expm1Neg8 (z: V8) =
    let u = Vector256.Exp z
    let um1 = u - V8.One
    let r = Vector256.ConditionalSelect(Vector256.Equals(u, V8.One), z, um1 * z / Vector256.Log u)
    Vector256.ConditionalSelect(Vector256.Equals(um1, -V8.One), -V8.One, r)
let inline private expm1Neg1 (z: float32) =
    let u = MathF.Exp z
    let um1 = u - 1.0f
    if u = 1.0f then z elif um1 = -1.0f then -1.0f else um1 * z / MathF.Log u

// x^n for an integer n >= 0 by binary powering (the same multiplications in every path).
let inline private powi16 (n: int) (x: V16) =
    let mutable r = V16.One
    let mutable b = x
    let mutable k = n
    while k > 0 do
        if k &&& 1 = 1 then r <- r * b
        k <- k >>> 1
        if k > 0 then b <- b * b
    r
let inline private powi8 (n: int) (x: V8) =
    let mutable r = V8.One
    let mutable b = x
    let mutable k = n
    while k > 0 do
        if k &&& 1 = 1 then r <- r * b
        k <- k >>> 1
        if k > 0 then b <- b * b
    r
let inline private powi1 (n: int) (x: float32) =
    let mutable r = 1.0f
    let mutable b = x
    let mutable k = n
    while k > 0 do
        if k &&& 1 = 1 then r <- r * b
        k <- k >>> 1
        if k > 0 then b <- b * b
    r

// x^p = exp(p log x) for fractional p, evaluated in float64: in float32 the rounding error of log x is multiplied
// by p (several ulps for p ~ 3); in double the result rounds correctly to float32 in all three paths. The vector
// paths keep NaN and infinities away from the float64 exp (which takes a slow path on them): they use log |x|, clamp
// the argument to +-200 (exp of which is already 0 or inf in float32) and restore NaN for x < 0 or NaN afterwards.
let inline private expLog16 (pd: Vector512<float>) (h: Vector512<float>) =
    let t = pd * Vector512.Log h
    Vector512.Exp(Vector512.Clamp(Vector512.ConditionalSelect(Vector512.IsNaN t, Vector512<float>.Zero, t), Vector512.Create -200.0, Vector512.Create 200.0))
let inline private expLog8 (pd: Vector256<float>) (h: Vector256<float>) =
    let t = pd * Vector256.Log h
    Vector256.Exp(Vector256.Clamp(Vector256.ConditionalSelect(Vector256.IsNaN t, Vector256<float>.Zero, t), Vector256.Create -200.0, Vector256.Create 200.0))
let inline private powf16 (p: float32) (x: V16) =
    let pd = Vector512.Create(float p)
    let a = Vector512.Abs x
    let r = Vector512.Narrow(expLog16 pd (Vector512.WidenLower a), expLog16 pd (Vector512.WidenUpper a))
    Vector512.ConditionalSelect(Vector512.LessThan(x, V16.Zero) ||| Vector512.IsNaN x, Vector512.Create nanf, r)
let inline private powf8 (p: float32) (x: V8) =
    let pd = Vector256.Create(float p)
    let a = Vector256.Abs x
    let r = Vector256.Narrow(expLog8 pd (Vector256.WidenLower a), expLog8 pd (Vector256.WidenUpper a))
    Vector256.ConditionalSelect(Vector256.LessThan(x, V8.Zero) ||| Vector256.IsNaN x, Vector256.Create nanf, r)
let inline private powf1 (p: float32) (x: float32) = float32 (Math.Exp(float p * Math.Log(float x)))

/// Exponents that are small integers take exact binary powering (and accept negative bases, like torch.pow);
/// others go through exp(p log x), NaN for negative x.
let private asSmallInt (p: float32) = if p = MathF.Round p && abs p <= 64.0f then ValueSome(int p) else ValueNone

/// x^p as a fresh array.
let private powArray (p: float32) (x: float32[]) =
    match asSmallInt p with
    | ValueSome n when n >= 0 -> Simd.map x (fun v -> powi16 n v) (fun v -> powi8 n v) (fun v -> powi1 n v)
    | ValueSome n ->
        let m = -n
        Simd.map x (fun v -> V16.One / powi16 m v) (fun v -> V8.One / powi8 m v) (fun v -> 1.0f / powi1 m v)
    | ValueNone -> Simd.map x (fun v -> powf16 p v) (fun v -> powf8 p v) (fun v -> powf1 p v)

/// g * c * x^q, fused (the derivative of pow with c = p and q = p - 1).
let private scaledPowGrad (c: float32) (q: float32) (g: float32[]) (x: float32[]) =
    let c16, c8 = Vector512.Create c, Vector256.Create c
    match asSmallInt q with
    | ValueSome n when n >= 0 -> Simd.zip g x (fun g v -> g * c16 * powi16 n v) (fun g v -> g * c8 * powi8 n v) (fun g v -> g * c * powi1 n v)
    | ValueSome n ->
        let m = -n
        Simd.zip g x (fun g v -> g * c16 / powi16 m v) (fun g v -> g * c8 / powi8 m v) (fun g v -> g * c / powi1 m v)
    | ValueNone -> Simd.zip g x (fun g v -> g * c16 * powf16 q v) (fun g v -> g * c8 * powf8 q v) (fun g v -> g * c * powf1 q v)

// ---------------------------------------------------------------------------------------------------------------
// Operations.

/// Record a unary op whose input cotangent is `backward g.Data`.
let private unary (name: string) (x: Tensor) (y: float32[]) (backward: float32[] -> float32[]) =
    Tensor.Make(x.Shape, y, name, [| x |], fun g -> [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, backward g.Data) else null) |])

/// e^x; d/dx = y.
let exp (x: Tensor) =
    let y = Simd.map x.Data (fun v -> Vector512.Exp v) (fun v -> Vector256.Exp v) (fun v -> MathF.Exp v)
    unary "exp" x y (fun g -> Simd.zip g y (fun g y -> g * y) (fun g y -> g * y) (fun g y -> g * y))

/// Natural logarithm (NaN below 0, -inf at 0); d/dx = 1/x.
let log (x: Tensor) =
    let y = Simd.map x.Data (fun v -> Vector512.Log v) (fun v -> Vector256.Log v) (fun v -> MathF.Log v)
    unary "log" x y (fun g -> Simd.zip g x.Data (fun g v -> g / v) (fun g v -> g / v) (fun g v -> g / v))

/// Square root; d/dx = 1/(2y) (infinite at 0, as in PyTorch).
let sqrt (x: Tensor) =
    let y = Simd.map x.Data (fun v -> Vector512.Sqrt v) (fun v -> Vector256.Sqrt v) (fun v -> MathF.Sqrt v)
    let h16, h8 = Vector512.Create 0.5f, Vector256.Create 0.5f
    unary "sqrt" x y (fun g -> Simd.zip g y (fun g y -> g * h16 / y) (fun g y -> g * h8 / y) (fun g y -> g * 0.5f / y))

/// |x|; d/dx = sign(x), 0 at 0 (PyTorch's subgradient).
let abs (x: Tensor) =
    let y = Simd.map x.Data (fun v -> Vector512.Abs v) (fun v -> Vector256.Abs v) (fun v -> MathF.Abs v)
    unary "abs" x y (fun g ->
        Simd.zip g x.Data
            (fun g v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), g, Vector512.ConditionalSelect(Vector512.LessThan(v, V16.Zero), -g, V16.Zero)))
            (fun g v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), g, Vector256.ConditionalSelect(Vector256.LessThan(v, V8.Zero), -g, V8.Zero)))
            (fun g v -> if v > 0.0f then g elif v < 0.0f then -g else 0.0f))

/// max(x, 0); the gradient at 0 is 0 (as in PyTorch).
let relu (x: Tensor) =
    let y = Simd.map x.Data (fun v -> Vector512.Max(v, V16.Zero)) (fun v -> Vector256.Max(v, V8.Zero)) (fun v -> MathF.Max(v, 0.0f))
    unary "relu" x y (fun g ->
        Simd.zip g x.Data
            (fun g v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), g, V16.Zero))
            (fun g v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), g, V8.Zero))
            (fun g v -> if v > 0.0f then g else 0.0f))

/// max(x, 0) + slope min(x, 0); the gradient at 0 is `slope` (as in PyTorch).
let leakyRelu (slope: float32) (x: Tensor) =
    let s16, s8 = Vector512.Create slope, Vector256.Create slope
    let y =
        Simd.map x.Data
            (fun v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), v, v * s16))
            (fun v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), v, v * s8))
            (fun v -> if v > 0.0f then v else v * slope)
    unary "leakyRelu" x y (fun g ->
        Simd.zip g x.Data
            (fun g v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), g, g * s16))
            (fun g v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), g, g * s8))
            (fun g v -> if v > 0.0f then g else g * slope))

/// 1/(1+e^-x), stable for any x; d/dx = y(1-y).
let sigmoid (x: Tensor) =
    let y = Simd.map x.Data sigmoid16 sigmoid8 sigmoid1
    unary "sigmoid" x y (fun g ->
        Simd.zip g y (fun g y -> g * y * (V16.One - y)) (fun g y -> g * y * (V8.One - y)) (fun g y -> g * y * (1.0f - y)))

/// Hyperbolic tangent; d/dx = 1 - y^2.
let tanh (x: Tensor) =
    let y = Simd.map x.Data tanh16 tanh8 tanh1
    unary "tanh" x y (fun g ->
        Simd.zip g y (fun g y -> g * (V16.One - y * y)) (fun g y -> g * (V8.One - y * y)) (fun g y -> g * (1.0f - y * y)))

/// log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) (never overflows); d/dx = sigmoid(x), recomputed from x
/// in the backward pass (1 - e^-y would cancel for small y).
let softplus (x: Tensor) =
    let y = Simd.map x.Data softplus16 softplus8 softplus1
    unary "softplus" x y (fun g ->
        Simd.zip g x.Data (fun g v -> g * sigmoid16 v) (fun g v -> g * sigmoid8 v) (fun g v -> g * sigmoid1 v))

/// x^2; d/dx = 2x.
let square (x: Tensor) =
    let y = Simd.map x.Data (fun v -> v * v) (fun v -> v * v) (fun v -> v * v)
    let t16, t8 = Vector512.Create 2.0f, Vector256.Create 2.0f
    unary "square" x y (fun g -> Simd.zip g x.Data (fun g v -> t16 * g * v) (fun g v -> t8 * g * v) (fun g v -> 2.0f * g * v))

/// x^p for a constant exponent. Integer exponents |p| <= 64 use exact binary powering and accept negative x;
/// other exponents give NaN for negative x (as torch.pow). x^0 = 1 everywhere, with zero gradient.
/// d/dx = p x^(p-1), evaluated directly (not as p y / x, which is 0/0 at x = 0).
let pow (p: float32) (x: Tensor) =
    if Single.IsNaN p then invalidArg "p" "pow: the exponent is NaN"
    let y = powArray p x.Data
    unary "pow" x y (fun g ->
        if p = 0.0f then Array.zeroCreate g.Length else scaledPowGrad p (p - 1.0f) g x.Data)

/// x for x > 0, alpha (e^x - 1) otherwise (expm1 accurate near 0); d/dx = 1 or alpha e^x.
let elu (alpha: float32) (x: Tensor) =
    let a16, a8 = Vector512.Create alpha, Vector256.Create alpha
    let y =
        Simd.map x.Data
            (fun v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), v, a16 * expm1Neg16 (Vector512.Min(v, V16.Zero))))
            (fun v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), v, a8 * expm1Neg8 (Vector256.Min(v, V8.Zero))))
            (fun v -> if v > 0.0f then v else alpha * expm1Neg1 (MathF.Min(v, 0.0f)))
    unary "elu" x y (fun g ->
        Simd.zip g x.Data
            (fun g v -> Vector512.ConditionalSelect(Vector512.GreaterThan(v, V16.Zero), g, g * a16 * Vector512.Exp(Vector512.Min(v, V16.Zero))))
            (fun g v -> Vector256.ConditionalSelect(Vector256.GreaterThan(v, V8.Zero), g, g * a8 * Vector256.Exp(Vector256.Min(v, V8.Zero))))
            (fun g v -> if v > 0.0f then g else g * alpha * MathF.Exp(MathF.Min(v, 0.0f))))

/// min(max(x, lo), hi) (NaN stays NaN); the gradient passes where lo <= x <= hi (inclusive, as in PyTorch).
let clamp (lo: float32) (hi: float32) (x: Tensor) =
    if not (lo <= hi) then invalidArg "lo" (sprintf "clamp: lower bound %g must not exceed upper bound %g" lo hi)
    let l16, l8, h16, h8 = Vector512.Create lo, Vector256.Create lo, Vector512.Create hi, Vector256.Create hi
    let y =
        Simd.map x.Data
            (fun v -> Vector512.Min(Vector512.Max(v, l16), h16))
            (fun v -> Vector256.Min(Vector256.Max(v, l8), h8))
            (fun v -> MathF.Min(MathF.Max(v, lo), hi))
    unary "clamp" x y (fun g ->
        Simd.zip g x.Data
            (fun g v -> Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, l16) &&& Vector512.LessThanOrEqual(v, h16), g, V16.Zero))
            (fun g v -> Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, l8) &&& Vector256.LessThanOrEqual(v, h8), g, V8.Zero))
            (fun g v -> if v >= lo && v <= hi then g else 0.0f))
