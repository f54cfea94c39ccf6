/// Dense single-precision matrix multiply, row-major, tightly packed operands:
/// C[m,n] = op(A) op(B) + beta * C, with op(A) m x k (A stored k x m when transA) and op(B) k x n (B stored n x k
/// when transB). Parallel over blocks of C; each element sums over k in a fixed order, so results do not depend on
/// the thread count.
module GcnKd.Kernels.Gemm

#nowarn "9"

open System
open Microsoft.FSharp.NativeInterop
open GcnKd

/// Reference-quality kernel (row-wise axpy / dot). Replaced by a packed micro-kernel for speed.
let gemm (transA: bool) (transB: bool) (m: int) (n: int) (k: int)
         (a: float32[]) (aOff: int) (b: float32[]) (bOff: int) (beta: float32) (c: float32[]) (cOff: int) =
    Threads.For(m, n * k, Action<int, int>(fun lo hi ->
        use pa = fixed a
        use pb = fixed b
        use pc = fixed c
        let row = Array.zeroCreate<float32> n
        use pr = fixed row
        for i in lo .. hi - 1 do
            Array.Clear row
            if transB then
                // op(B)[p, j] = B[j, p]: dot of A's row with B's rows
                let arow = Array.zeroCreate<float32> k
                for p in 0 .. k - 1 do
                    arow.[p] <- if transA then NativePtr.get pa (aOff + p * m + i) else NativePtr.get pa (aOff + i * k + p)
                use par = fixed arow
                for j in 0 .. n - 1 do
                    NativePtr.set pr j (Simd.dotRange par (Simd.ptr pb (bOff + j * k)) k)
            else
                for p in 0 .. k - 1 do
                    let av = if transA then NativePtr.get pa (aOff + p * m + i) else NativePtr.get pa (aOff + i * k + p)
                    if av <> 0.0f then Simd.axpyRange av (Simd.ptr pb (bOff + p * n)) pr n
            let crow = Simd.ptr pc (cOff + i * n)
            if beta = 0.0f then
                for j in 0 .. n - 1 do NativePtr.set crow j (NativePtr.get pr j)
            else
                for j in 0 .. n - 1 do NativePtr.set crow j (beta * NativePtr.get crow j + NativePtr.get pr j)))
