/// SIMD building blocks over float32 arrays: Vector512 where the hardware accelerates it, else Vector256, else
/// scalar. Work is cut at multiples of 16 elements, so each element takes the same path (vector or scalar tail)
/// whatever the thread count.
module GcnKd.Kernels.Simd

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd

let inline ptr (p: nativeptr<float32>) (i: int) = NativePtr.add p i

/// Blocks of 16 elements handed to Threads.For so every thread count cuts the array at the same places.
let inline forBlocks (n: int) (cost: int) ([<InlineIfLambda>] body: int -> int -> unit) =
    let nb = (n + 15) / 16
    Threads.For(nb, 16 * cost, Action<int, int>(fun lo hi -> body (lo * 16) (min n (hi * 16))))

/// y[i] = f(x[i]) over [lo, hi).
let inline mapRange (x: nativeptr<float32>) (y: nativeptr<float32>) lo hi
                    ([<InlineIfLambda>] v512: Vector512<float32> -> Vector512<float32>)
                    ([<InlineIfLambda>] v256: Vector256<float32> -> Vector256<float32>)
                    ([<InlineIfLambda>] s: float32 -> float32) =
    let mutable i = lo
    if Vector512.IsHardwareAccelerated then
        while i + 16 <= hi do
            Vector512.Store(v512 (Vector512.Load(ptr x i)), ptr y i)
            i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        while i + 8 <= hi do
            Vector256.Store(v256 (Vector256.Load(ptr x i)), ptr y i)
            i <- i + 8
    while i < hi do
        NativePtr.set y i (s (NativePtr.get x i))
        i <- i + 1

/// z[i] = f(x[i], y[i]) over [lo, hi).
let inline zipRange (x: nativeptr<float32>) (y: nativeptr<float32>) (z: nativeptr<float32>) lo hi
                    ([<InlineIfLambda>] v512: Vector512<float32> -> Vector512<float32> -> Vector512<float32>)
                    ([<InlineIfLambda>] v256: Vector256<float32> -> Vector256<float32> -> Vector256<float32>)
                    ([<InlineIfLambda>] s: float32 -> float32 -> float32) =
    let mutable i = lo
    if Vector512.IsHardwareAccelerated then
        while i + 16 <= hi do
            Vector512.Store(v512 (Vector512.Load(ptr x i)) (Vector512.Load(ptr y i)), ptr z i)
            i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        while i + 8 <= hi do
            Vector256.Store(v256 (Vector256.Load(ptr x i)) (Vector256.Load(ptr y i)), ptr z i)
            i <- i + 8
    while i < hi do
        NativePtr.set z i (s (NativePtr.get x i) (NativePtr.get y i))
        i <- i + 1

/// w[i] = f(x[i], y[i], z[i]) over [lo, hi).
let inline zip3Range (x: nativeptr<float32>) (y: nativeptr<float32>) (z: nativeptr<float32>) (w: nativeptr<float32>) lo hi
                     ([<InlineIfLambda>] v512: Vector512<float32> -> Vector512<float32> -> Vector512<float32> -> Vector512<float32>)
                     ([<InlineIfLambda>] v256: Vector256<float32> -> Vector256<float32> -> Vector256<float32> -> Vector256<float32>)
                     ([<InlineIfLambda>] s: float32 -> float32 -> float32 -> float32) =
    let mutable i = lo
    if Vector512.IsHardwareAccelerated then
        while i + 16 <= hi do
            Vector512.Store(v512 (Vector512.Load(ptr x i)) (Vector512.Load(ptr y i)) (Vector512.Load(ptr z i)), ptr w i)
            i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        while i + 8 <= hi do
            Vector256.Store(v256 (Vector256.Load(ptr x i)) (Vector256.Load(ptr y i)) (Vector256.Load(ptr z i)), ptr w i)
            i <- i + 8
    while i < hi do
        NativePtr.set w i (s (NativePtr.get x i) (NativePtr.get y i) (NativePtr.get z i))
        i <- i + 1

/// A fresh array y = f(x), elementwise, parallel and vectorised.
let inline map (x: float32[]) ([<InlineIfLambda>] v512) ([<InlineIfLambda>] v256) ([<InlineIfLambda>] s) =
    let y = GC.AllocateUninitializedArray<float32> x.Length
    forBlocks x.Length 4 (fun lo hi ->
        use px = fixed x
        use py = fixed y
        mapRange px py lo hi v512 v256 s)
    y

/// A fresh array z = f(x, y), elementwise over equal lengths.
let inline zip (x: float32[]) (y: float32[]) ([<InlineIfLambda>] v512) ([<InlineIfLambda>] v256) ([<InlineIfLambda>] s) =
    if x.Length <> y.Length then invalidArg "y" "zip: lengths differ"
    let z = GC.AllocateUninitializedArray<float32> x.Length
    forBlocks x.Length 4 (fun lo hi ->
        use px = fixed x
        use py = fixed y
        use pz = fixed z
        zipRange px py pz lo hi v512 v256 s)
    z

/// A fresh array w = f(x, y, z), elementwise over equal lengths.
let inline zip3 (x: float32[]) (y: float32[]) (z: float32[]) ([<InlineIfLambda>] v512) ([<InlineIfLambda>] v256) ([<InlineIfLambda>] s) =
    if x.Length <> y.Length || x.Length <> z.Length then invalidArg "z" "zip3: lengths differ"
    let w = GC.AllocateUninitializedArray<float32> x.Length
    forBlocks x.Length 6 (fun lo hi ->
        use px = fixed x
        use py = fixed y
        use pz = fixed z
        use pw = fixed w
        zip3Range px py pz pw lo hi v512 v256 s)
    w

/// Sum of p[0..n) in a fixed order (vector lanes, then lanes summed), independent of threads.
let sumRange (p: nativeptr<float32>) (n: int) =
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable v = Vector512<float32>.Zero
        while i + 16 <= n do
            v <- v + Vector512.Load(ptr p i)
            i <- i + 16
        acc <- Vector512.Sum v
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable v = Vector256<float32>.Zero
        while i + 8 <= n do
            v <- v + Vector256.Load(ptr p i)
            i <- i + 8
        acc <- Vector256.Sum v
    while i < n do
        acc <- acc + NativePtr.get p i
        i <- i + 1
    acc

/// Dot product of x[0..n) and y[0..n), fixed order.
let dotRange (x: nativeptr<float32>) (y: nativeptr<float32>) (n: int) =
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable v = Vector512<float32>.Zero
        while i + 16 <= n do
            v <- Vector512.FusedMultiplyAdd(Vector512.Load(ptr x i), Vector512.Load(ptr y i), v)
            i <- i + 16
        acc <- Vector512.Sum v
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable v = Vector256<float32>.Zero
        while i + 8 <= n do
            v <- Vector256.FusedMultiplyAdd(Vector256.Load(ptr x i), Vector256.Load(ptr y i), v)
            i <- i + 8
        acc <- Vector256.Sum v
    while i < n do
        acc <- acc + NativePtr.get x i * NativePtr.get y i
        i <- i + 1
    acc

/// y[0..n) += a * x[0..n).
let axpyRange (a: float32) (x: nativeptr<float32>) (y: nativeptr<float32>) (n: int) =
    let mutable i = 0
    if Vector512.IsHardwareAccelerated then
        let va = Vector512.Create a
        while i + 16 <= n do
            Vector512.Store(Vector512.FusedMultiplyAdd(va, Vector512.Load(ptr x i), Vector512.Load(ptr y i)), ptr y i)
            i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        let va = Vector256.Create a
        while i + 8 <= n do
            Vector256.Store(Vector256.FusedMultiplyAdd(va, Vector256.Load(ptr x i), Vector256.Load(ptr y i)), ptr y i)
            i <- i + 8
    while i < n do
        NativePtr.set y i (MathF.FusedMultiplyAdd(a, NativePtr.get x i, NativePtr.get y i))
        i <- i + 1

/// Sum of a whole array, deterministic for any thread count (fixed 64k blocks combined in order).
let sum (x: float32[]) =
    Threads.Reduce<float>(x.Length, 65536, Func<int, int, float>(fun lo hi ->
        use p = fixed x
        float (sumRange (ptr p lo) (hi - lo))), Func<float, float, float>(fun a b -> a + b), 0.0)
    |> float32
