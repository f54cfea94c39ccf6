/// Reductions (sum, mean, max: total or along an axis) and the row-wise softmax family along the last axis, with
/// their backwards. Results never depend on the thread count: totals go through fixed 64k blocks combined in order
/// (`Threads.Reduce`), and every reduced output element is summed by one thread in a fixed order (the kernels live
/// in Kernels/ReduceKernels.fs).
[<RequireQualifiedAccess>]
module GcnKd.Reduce

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd
open GcnKd.Kernels
open GcnKd.Kernels.ReduceKernels

// ---------------------------------------------------------------------------------------------------------------
// Argument checks.

let private axisOf (op: string) (x: Tensor) (ax: int) =
    let rank = x.Rank
    let a = if ax < 0 then ax + rank else ax
    if a < 0 || a >= rank then
        invalidArg "axis" (sprintf "%s: axis %d is out of range for a tensor of shape %s (rank %d)" op ax (Shape.describe x.Shape) rank)
    a

// ---------------------------------------------------------------------------------------------------------------
// Total reductions (rank-0 results).

/// Sum of all elements (float64 combination of fixed 64k blocks: deterministic for any thread count).
let sum (x: Tensor) =
    Tensor.Make([||], [| total x.Data |], "sum", [| x |], fun g ->
        [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, Array.create x.Numel g.Data.[0]) else null) |])

/// Mean of all elements (NaN for an empty tensor).
let mean (x: Tensor) =
    let n = float32 x.Numel
    Tensor.Make([||], [| total x.Data / n |], "mean", [| x |], fun g ->
        [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, Array.create x.Numel (g.Data.[0] / n)) else null) |])

/// Largest element (NaN if any is NaN). The gradient goes entirely to the FIRST maximal element in row-major
/// order (PyTorch's full reduction instead spreads it evenly over ties).
let max (x: Tensor) =
    if x.Numel = 0 then invalidArg "x" (sprintf "max: the tensor of shape %s is empty" (Shape.describe x.Shape))
    let struct (m, idx) = maxIndex x.Data
    Tensor.Make([||], [| m |], "max", [| x |], fun g ->
        [| (if x.RequiresGrad then
                let dx = Array.zeroCreate x.Numel
                dx.[idx] <- g.Data.[0]
                Tensor.Wrap(x.Shape, dx)
            else null) |])

// ---------------------------------------------------------------------------------------------------------------
// Reductions along one axis.

let private reducedShape (x: Tensor) (a: int) (keepDim: bool) =
    if keepDim then Array.updateAt a 1 x.Shape else Array.removeAt a x.Shape

let private sumLike (op: string) (mean: bool) (axis: int) (keepDim: bool) (x: Tensor) =
    let a = axisOf op x axis
    let (outer, size, inner) as split = Shape.aroundAxis x.Shape a
    let scale = if mean then 1.0f / float32 size else 1.0f
    Tensor.Make(reducedShape x a keepDim, sumAxisData split scale x.Data, op, [| x |], fun g ->
        [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, broadcastAxis split scale g.Data) else null) |])

/// Sum along `axis` (negative counts from the end); keepDim leaves that axis with size 1.
let sumAxis (axis: int) (keepDim: bool) (x: Tensor) = sumLike "sumAxis" false axis keepDim x

/// Mean along `axis`; keepDim leaves that axis with size 1.
let meanAxis (axis: int) (keepDim: bool) (x: Tensor) = sumLike "meanAxis" true axis keepDim x

/// Maximum along `axis` (NaN if any is NaN). The gradient of each output goes entirely to the FIRST maximal
/// element along the axis (as torch.max(dim) with its returned index).
let maxAxis (axis: int) (keepDim: bool) (x: Tensor) =
    let a = axisOf "maxAxis" x axis
    let (outer, size, inner) as split = Shape.aroundAxis x.Shape a
    if size = 0 then invalidArg "x" (sprintf "maxAxis: axis %d of shape %s is empty" axis (Shape.describe x.Shape))
    let out, arg = maxAxisData split x.Data
    Tensor.Make(reducedShape x a keepDim, out, "maxAxis", [| x |], fun g ->
        [| (if x.RequiresGrad then
                let dx = Array.zeroCreate x.Numel
                for o in 0 .. outer - 1 do
                    for i in 0 .. inner - 1 do
                        let k = o * inner + i
                        dx.[(o * size + arg.[k]) * inner + i] <- g.Data.[k]
                Tensor.Wrap(x.Shape, dx)
            else null) |])

// ---------------------------------------------------------------------------------------------------------------
// The softmax family along the last axis (row-parallel, max-subtracted).

let private lastAxis (op: string) (x: Tensor) =
    if x.Rank = 0 then invalidArg "x" (sprintf "%s: needs a tensor of rank at least 1, got a scalar" op)
    x.Shape.[x.Rank - 1]

/// log sum_j exp(x_j) along the last axis, which is kept with size 1. d/dx_j = exp(x_j - lse) = softmax_j.
let logsumexp (x: Tensor) =
    let n = lastAxis "logsumexp" x
    let shape = Array.updateAt (x.Rank - 1) 1 x.Shape
    let lse = Array.zeroCreate (Shape.numel shape)
    if n = 0 then Array.Fill(lse, Single.NegativeInfinity)
    else forRows x.Data lse n 4 (fun r px _ -> lse.[r] <- lseRange px n)
    Tensor.Make(shape, lse, "logsumexp", [| x |], fun g ->
        [| (if x.RequiresGrad then
                let dx = fresh x.Numel
                forRows x.Data dx n 4 (fun r px pd ->
                    let gr, l = g.Data.[r], lse.[r]
                    let vg, vl, wg, wl = Vector512.Create gr, Vector512.Create l, Vector256.Create gr, Vector256.Create l
                    Simd.mapRange px pd 0 n (fun v -> vg * Vector512.Exp(v - vl)) (fun v -> wg * Vector256.Exp(v - wl)) (fun v -> gr * MathF.Exp(v - l)))
                Tensor.Wrap(x.Shape, dx)
            else null) |])

/// exp(x_j - m) / sum_k exp(x_k - m) along the last axis (m = the row maximum). Backward: y * (g - <g, y>).
let softmax (x: Tensor) =
    let n = lastAxis "softmax" x
    let y = fresh x.Numel
    forRows x.Data y n 5 (fun _ px py ->
        let s = expShiftSum px py n (maxRange px n)
        let inv = 1.0f / s
        let vi, wi = Vector512.Create inv, Vector256.Create inv
        Simd.mapRange py py 0 n (fun v -> v * vi) (fun v -> v * wi) (fun v -> v * inv))
    Tensor.Make(x.Shape, y, "softmax", [| x |], fun g ->
        [| (if x.RequiresGrad then
                let dx = fresh x.Numel
                forRows y dx n 4 (fun r py pd ->
                    use pg = fixed g.Data
                    let gr = NativePtr.add pg (r * n)
                    let d = Simd.dotRange gr py n
                    let vd, wd = Vector512.Create d, Vector256.Create d
                    Simd.zipRange gr py pd 0 n (fun g y -> y * (g - vd)) (fun g y -> y * (g - wd)) (fun g y -> y * (g - d)))
                Tensor.Wrap(x.Shape, dx)
            else null) |])

/// x_j - logsumexp(x) along the last axis. Backward: g - softmax * sum(g), with softmax = exp(y).
let logSoftmax (x: Tensor) =
    let n = lastAxis "logSoftmax" x
    let y = fresh x.Numel
    forRows x.Data y n 5 (fun _ px py ->
        let l = lseRange px n
        let vl, wl = Vector512.Create l, Vector256.Create l
        Simd.mapRange px py 0 n (fun v -> v - vl) (fun v -> v - wl) (fun v -> v - l))
    Tensor.Make(x.Shape, y, "logSoftmax", [| x |], fun g ->
        [| (if x.RequiresGrad then
                let dx = fresh x.Numel
                forRows y dx n 4 (fun r py pd ->
                    use pg = fixed g.Data
                    let gr = NativePtr.add pg (r * n)
                    let sg = sumRange gr n
                    let vs, ws = Vector512.Create sg, Vector256.Create sg
                    Simd.zipRange gr py pd 0 n (fun g y -> g - Vector512.Exp y * vs) (fun g y -> g - Vector256.Exp y * ws) (fun g y -> g - MathF.Exp y * sg))
                Tensor.Wrap(x.Shape, dx)
            else null) |])
