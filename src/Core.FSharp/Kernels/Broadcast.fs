/// Broadcasting binary kernels and their adjoint: summing a broadcast result back to an operand's shape.
module GcnKd.Kernels.Broadcast

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd

/// Pad a shape on the left to rank 4.
let pad4 (s: int[]) = Array.append (Array.create (4 - s.Length) 1) s

/// Strides of `s` padded to rank 4 against `outShape`, 0 along broadcast dimensions.
let broadcastStrides (s: int[]) (outShape4: int[]) =
    let p = pad4 s
    let st = Shape.strides p
    Array.init 4 (fun i -> if p.[i] = 1 && outShape4.[i] <> 1 then 0 else st.[i])

/// out = f(a, b) with numpy broadcasting. The innermost dimension is vectorised when both operands run along it.
let inline binary (aShape: int[]) (a: float32[]) (bShape: int[]) (b: float32[])
                  ([<InlineIfLambda>] v512: Vector512<float32> -> Vector512<float32> -> Vector512<float32>)
                  ([<InlineIfLambda>] v256: Vector256<float32> -> Vector256<float32> -> Vector256<float32>)
                  ([<InlineIfLambda>] s: float32 -> float32 -> float32) : int[] * float32[] =
    if aShape = bShape then aShape, Simd.zip a b v512 v256 s
    else
    let outShape = Shape.broadcast aShape bShape
    let o4 = pad4 outShape
    let sa = broadcastStrides aShape o4
    let sb = broadcastStrides bShape o4
    let out = Array.zeroCreate<float32> (Shape.numel outShape)
    let inner = o4.[3]
    let rows = o4.[0] * o4.[1] * o4.[2]
    Threads.For(rows, inner * 2, Action<int, int>(fun lo hi ->
        use pa = fixed a
        use pb = fixed b
        use po = fixed out
        for r in lo .. hi - 1 do
            let i2 = r % o4.[2]
            let i1 = (r / o4.[2]) % o4.[1]
            let i0 = r / (o4.[2] * o4.[1])
            let offA = i0 * sa.[0] + i1 * sa.[1] + i2 * sa.[2]
            let offB = i0 * sb.[0] + i1 * sb.[1] + i2 * sb.[2]
            let po = Simd.ptr po (r * inner)
            if sa.[3] = 1 && sb.[3] = 1 then
                Simd.zipRange (Simd.ptr pa offA) (Simd.ptr pb offB) po 0 inner v512 v256 s
            elif sa.[3] = 1 then
                let vb = NativePtr.get pb offB
                let vb512 = Vector512.Create vb
                let vb256 = Vector256.Create vb
                Simd.mapRange (Simd.ptr pa offA) po 0 inner (fun x -> v512 x vb512) (fun x -> v256 x vb256) (fun x -> s x vb)
            elif sb.[3] = 1 then
                let va = NativePtr.get pa offA
                let va512 = Vector512.Create va
                let va256 = Vector256.Create va
                Simd.mapRange (Simd.ptr pb offB) po 0 inner (fun y -> v512 va512 y) (fun y -> v256 va256 y) (fun y -> s va y)
            else
                let v = s (NativePtr.get pa offA) (NativePtr.get pb offB)
                for j in 0 .. inner - 1 do NativePtr.set po j v))
    outShape, out

/// Sum `g` (of shape `gShape`) down to `target`, a shape that broadcasts to gShape: the adjoint of broadcasting.
let reduceTo (gShape: int[]) (g: float32[]) (target: int[]) : float32[] =
    if gShape = target then g
    else
    let o4 = pad4 gShape
    let st = broadcastStrides target o4
    let out = Array.zeroCreate<float32> (Shape.numel target)
    let inner = o4.[3]
    let rows = o4.[0] * o4.[1] * o4.[2]
    // Serial in row order: a fixed summation order, and memory-bound anyway.
    use pg = fixed g
    use po = fixed out
    for r in 0 .. rows - 1 do
        let i2 = r % o4.[2]
        let i1 = (r / o4.[2]) % o4.[1]
        let i0 = r / (o4.[2] * o4.[1])
        let off = i0 * st.[0] + i1 * st.[1] + i2 * st.[2]
        let src = Simd.ptr pg (r * inner)
        if st.[3] = 1 then Simd.axpyRange 1.0f src (Simd.ptr po off) inner
        else NativePtr.set po off (NativePtr.get po off + Simd.sumRange src inner)
    out
