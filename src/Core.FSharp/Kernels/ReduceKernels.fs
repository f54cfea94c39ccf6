/// Reduction kernels on float32 arrays and native pointers: row sums and maxima with several vector accumulators,
/// column sums held in registers, the shifted exp-sum of softmax, and axis reductions parallel over fixed blocks.
/// Every result is computed in an order fixed by the data layout alone, never by the thread count.
module GcnKd.Kernels.ReduceKernels

#nowarn "9"

open System
open System.Numerics
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd

type private V16 = Vector512<float32>
type private V8 = Vector256<float32>

let inline private ptr (p: nativeptr<float32>) (i: int) = NativePtr.add p i

/// Is `v` preferred to the current maximum `m`? Strictly greater (so the first maximum wins), and NaN beats any
/// number (a NaN anywhere makes the maximum NaN, as in PyTorch).
let inline beats (v: float32) (m: float32) = v > m || (Single.IsNaN v && not (Single.IsNaN m))

/// A fresh array that the caller overwrites completely (skips zeroing, which costs as much as a copy).
let inline fresh (n: int) = GC.AllocateUninitializedArray<float32> n

/// max of p[0..n) (NaN if any element is NaN; -inf for n = 0). Four vector accumulators hide the latency of
/// max; max is exact, so the grouping does not change the result.
let maxRange (p: nativeptr<float32>) (n: int) =
    let mutable i = 0
    let mutable m = Single.NegativeInfinity
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable a0 = Vector512.Create Single.NegativeInfinity
        let mutable a1, a2, a3 = a0, a0, a0
        while i + 64 <= n do
            a0 <- Vector512.Max(a0, Vector512.Load(ptr p i))
            a1 <- Vector512.Max(a1, Vector512.Load(ptr p (i + 16)))
            a2 <- Vector512.Max(a2, Vector512.Load(ptr p (i + 32)))
            a3 <- Vector512.Max(a3, Vector512.Load(ptr p (i + 48)))
            i <- i + 64
        while i + 16 <= n do
            a0 <- Vector512.Max(a0, Vector512.Load(ptr p i))
            i <- i + 16
        let v = Vector512.Max(Vector512.Max(a0, a1), Vector512.Max(a2, a3))
        for k in 0 .. 15 do m <- if beats v.[k] m then v.[k] else m
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable a0 = Vector256.Create Single.NegativeInfinity
        let mutable a1 = a0
        while i + 16 <= n do
            a0 <- Vector256.Max(a0, Vector256.Load(ptr p i))
            a1 <- Vector256.Max(a1, Vector256.Load(ptr p (i + 8)))
            i <- i + 16
        while i + 8 <= n do
            a0 <- Vector256.Max(a0, Vector256.Load(ptr p i))
            i <- i + 8
        let v = Vector256.Max(a0, a1)
        for k in 0 .. 7 do m <- if beats v.[k] m then v.[k] else m
    while i < n do
        let x = NativePtr.get p i
        if beats x m then m <- x
        i <- i + 1
    m

/// Sum of p[0..n) in a fixed order: four vector accumulators (one would be bound by the add latency, not by
/// memory), joined as (a0 + a1) + (a2 + a3), lanes summed, then the scalar tail.
let sumRange (p: nativeptr<float32>) (n: int) =
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable a0 = V16.Zero
        let mutable a1, a2, a3 = a0, a0, a0
        while i + 64 <= n do
            a0 <- a0 + Vector512.Load(ptr p i)
            a1 <- a1 + Vector512.Load(ptr p (i + 16))
            a2 <- a2 + Vector512.Load(ptr p (i + 32))
            a3 <- a3 + Vector512.Load(ptr p (i + 48))
            i <- i + 64
        while i + 16 <= n do
            a0 <- a0 + Vector512.Load(ptr p i)
            i <- i + 16
        acc <- Vector512.Sum((a0 + a1) + (a2 + a3))
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable a0 = V8.Zero
        let mutable a1, a2, a3 = a0, a0, a0
        while i + 32 <= n do
            a0 <- a0 + Vector256.Load(ptr p i)
            a1 <- a1 + Vector256.Load(ptr p (i + 8))
            a2 <- a2 + Vector256.Load(ptr p (i + 16))
            a3 <- a3 + Vector256.Load(ptr p (i + 24))
            i <- i + 32
        while i + 8 <= n do
            a0 <- a0 + Vector256.Load(ptr p i)
            i <- i + 8
        acc <- Vector256.Sum((a0 + a1) + (a2 + a3))
    while i < n do
        acc <- acc + NativePtr.get p i
        i <- i + 1
    acc

/// dst[c] = x[c] + x[stride + c] + ... + x[(rows - 1) stride + c] for c in [0, w), rows >= 1, added in row order
/// in every path (so vector lanes and the scalar tail agree exactly); 64 columns are held in registers at a time.
let colSum (x: nativeptr<float32>) (stride: int) (rows: int) (dst: nativeptr<float32>) (w: int) =
    let mutable c = 0
    if Vector512.IsHardwareAccelerated then
        while c + 64 <= w do
            let mutable a0 = Vector512.Load(ptr x c)
            let mutable a1 = Vector512.Load(ptr x (c + 16))
            let mutable a2 = Vector512.Load(ptr x (c + 32))
            let mutable a3 = Vector512.Load(ptr x (c + 48))
            for r in 1 .. rows - 1 do
                let q = ptr x (r * stride + c)
                a0 <- a0 + Vector512.Load q
                a1 <- a1 + Vector512.Load(ptr q 16)
                a2 <- a2 + Vector512.Load(ptr q 32)
                a3 <- a3 + Vector512.Load(ptr q 48)
            Vector512.Store(a0, ptr dst c)
            Vector512.Store(a1, ptr dst (c + 16))
            Vector512.Store(a2, ptr dst (c + 32))
            Vector512.Store(a3, ptr dst (c + 48))
            c <- c + 64
        while c + 16 <= w do
            let mutable a0 = Vector512.Load(ptr x c)
            for r in 1 .. rows - 1 do a0 <- a0 + Vector512.Load(ptr x (r * stride + c))
            Vector512.Store(a0, ptr dst c)
            c <- c + 16
    elif Vector256.IsHardwareAccelerated then
        while c + 32 <= w do
            let mutable a0 = Vector256.Load(ptr x c)
            let mutable a1 = Vector256.Load(ptr x (c + 8))
            let mutable a2 = Vector256.Load(ptr x (c + 16))
            let mutable a3 = Vector256.Load(ptr x (c + 24))
            for r in 1 .. rows - 1 do
                let q = ptr x (r * stride + c)
                a0 <- a0 + Vector256.Load q
                a1 <- a1 + Vector256.Load(ptr q 8)
                a2 <- a2 + Vector256.Load(ptr q 16)
                a3 <- a3 + Vector256.Load(ptr q 24)
            Vector256.Store(a0, ptr dst c)
            Vector256.Store(a1, ptr dst (c + 8))
            Vector256.Store(a2, ptr dst (c + 16))
            Vector256.Store(a3, ptr dst (c + 24))
            c <- c + 32
        while c + 8 <= w do
            let mutable a0 = Vector256.Load(ptr x c)
            for r in 1 .. rows - 1 do a0 <- a0 + Vector256.Load(ptr x (r * stride + c))
            Vector256.Store(a0, ptr dst c)
            c <- c + 8
    while c < w do
        let mutable a = NativePtr.get x c
        for r in 1 .. rows - 1 do a <- a + NativePtr.get x (r * stride + c)
        NativePtr.set dst c a
        c <- c + 1

/// The first index in p[0..n) holding `m` (a NaN if m is NaN); m must occur.
let firstIndex (p: nativeptr<float32>) (n: int) (m: float32) =
    let nan = Single.IsNaN m
    let mutable i = 0
    let mutable found = -1
    if Vector512.IsHardwareAccelerated then
        let vm = Vector512.Create m
        while found < 0 && i + 16 <= n do
            let v = Vector512.Load(ptr p i)
            let hits = (if nan then Vector512.IsNaN v else Vector512.Equals(v, vm)).ExtractMostSignificantBits()
            if hits <> 0UL then found <- i + BitOperations.TrailingZeroCount hits else i <- i + 16
    while found < 0 && i < n do
        let x = NativePtr.get p i
        if (if nan then Single.IsNaN x else x = m) then found <- i else i <- i + 1
    found

/// y[i] = exp(x[i] - m) for i in [0, n) (y may be null: sum only); returns the sum of those values.
let expShiftSum (x: nativeptr<float32>) (y: nativeptr<float32>) (n: int) (m: float32) =
    let store = not (NativePtr.isNullPtr y)
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let vm = Vector512.Create m
        let mutable s = V16.Zero
        while i + 16 <= n do
            let e = Vector512.Exp(Vector512.Load(ptr x i) - vm)
            if store then Vector512.Store(e, ptr y i)
            s <- s + e
            i <- i + 16
        acc <- Vector512.Sum s
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let vm = Vector256.Create m
        let mutable s = V8.Zero
        while i + 8 <= n do
            let e = Vector256.Exp(Vector256.Load(ptr x i) - vm)
            if store then Vector256.Store(e, ptr y i)
            s <- s + e
            i <- i + 8
        acc <- Vector256.Sum s
    while i < n do
        let e = MathF.Exp(NativePtr.get x i - m)
        if store then NativePtr.set y i e
        acc <- acc + e
        i <- i + 1
    acc

/// log sum exp of x[0..n), shifted by the row maximum (exact for +-inf maxima and empty rows).
let lseRange (x: nativeptr<float32>) (n: int) =
    let m = maxRange x n
    if Single.IsInfinity m || Single.IsNaN m then m
    else m + MathF.Log(expShiftSum x NativePtr.nullPtr n m)

/// Run `body row xRow yRow` over the rows of length n of x (and y), in parallel over rows.
let inline forRows (x: float32[]) (y: float32[]) (n: int) (cost: int) ([<InlineIfLambda>] body: int -> nativeptr<float32> -> nativeptr<float32> -> unit) =
    let count = if n = 0 then 0 else x.Length / n
    Threads.For(count, n * cost, Action<int, int>(fun lo hi ->
        use px = fixed x
        use py = fixed y
        for r in lo .. hi - 1 do body r (NativePtr.add px (r * n)) (NativePtr.add py (r * n))))

// ---------------------------------------------------------------------------------------------------------------
// Whole arrays and axes: parallel over fixed blocks.

/// Sum of an array: fixed 64k blocks (sumRange), block sums joined in float64 in block order.
let total (x: float32[]) =
    Threads.Reduce<float>(x.Length, 65536, Func<int, int, float>(fun lo hi ->
        use p = fixed x
        float (sumRange (ptr p lo) (hi - lo))), Func<float, float, float>(fun a b -> a + b), 0.0)
    |> float32

[<Literal>]
let private ColTile = 512   // columns per work item when reducing over a middle axis
[<Literal>]
let private RowBlock = 256  // rows summed in float32 before joining the running total (two-level summation)

/// out[o, i] = scale * sum_s x[o, s, i], in fixed blocks that are also the units of parallel work: runs of 4096
/// values summed as vector lanes and joined in float64 (inner = 1), or blocks of RowBlock rows summed in float32
/// and joined in block order (inner > 1). The blocks never depend on the thread count, so neither do the results,
/// and a tall [N, C] summed over N still spreads over every thread.
let sumAxisData (outer: int, size: int, inner: int) (scale: float32) (x: float32[]) =
    let out = if size = 0 then Array.zeroCreate (outer * inner) else fresh (outer * inner)
    if inner = 1 then
        let chunk (o: int) (lo: int) (hi: int) =
            use px = fixed x
            float (sumRange (ptr px (o * size + lo)) (hi - lo))
        if outer >= 8 then
            Threads.For(outer, size, Action<int, int>(fun lo hi ->
                use px = fixed x
                for o in lo .. hi - 1 do
                    let mutable acc = 0.0
                    let mutable s0 = 0
                    while s0 < size do
                        let s1 = min size (s0 + 4096)
                        acc <- acc + float (sumRange (ptr px (o * size + s0)) (s1 - s0))
                        s0 <- s1
                    out.[o] <- float32 acc * scale))
        else
            // few long rows: the same 4096-chunks, reduced in parallel and joined in the same order
            for o in 0 .. outer - 1 do
                let acc = Threads.Reduce<float>(size, 4096, Func<int, int, float>(chunk o), Func<float, float, float>(fun a b -> a + b), 0.0)
                out.[o] <- float32 acc * scale
    else
        let tiles = (inner + ColTile - 1) / ColTile
        let blocks = (size + RowBlock - 1) / RowBlock
        // 1. block sums: part[o, b, :] = sum of rows b*RowBlock .. of x[o] (written straight to out if one block)
        let part = if blocks <= 1 then out else fresh (outer * blocks * inner)
        Threads.For(outer * blocks * tiles, RowBlock * min inner ColTile, Action<int, int>(fun lo hi ->
            use px = fixed x
            use pp = fixed part
            for item in lo .. hi - 1 do
                let t = item % tiles
                let ob = item / tiles
                let o, b = ob / blocks, ob % blocks
                let c0 = t * ColTile
                let w = min ColTile (inner - c0)
                let dst = ptr pp (ob * inner + c0)
                let s0, s1 = b * RowBlock, min size ((b + 1) * RowBlock)
                colSum (ptr px ((o * size + s0) * inner + c0)) inner (s1 - s0) dst w))
        // 2. join the block sums in block order, then scale
        Threads.For(outer * tiles, blocks * min inner ColTile, Action<int, int>(fun lo hi ->
            use pp = fixed part
            use po = fixed out
            for item in lo .. hi - 1 do
                let o, c0 = item / tiles, (item % tiles) * ColTile
                let w = min ColTile (inner - c0)
                let dst = ptr po (o * inner + c0)
                if blocks > 1 then colSum (ptr pp (o * blocks * inner + c0)) inner blocks dst w
                if scale <> 1.0f then
                    let vs, ws = Vector512.Create scale, Vector256.Create scale
                    Simd.mapRange dst dst 0 w (fun v -> v * vs) (fun v -> v * ws) (fun v -> v * scale)))
    out

/// dx[o, s, i] = scale * g[o, i]: the backward of sumAxis/meanAxis (one output row per work item).
let broadcastAxis (outer: int, size: int, inner: int) (scale: float32) (g: float32[]) =
    let dx = fresh (outer * size * inner)
    if inner = 1 then
        Threads.For(outer, size, Action<int, int>(fun lo hi ->
            for o in lo .. hi - 1 do Array.Fill(dx, g.[o] * scale, o * size, size)))
    else
        let vs, ws = Vector512.Create scale, Vector256.Create scale
        Threads.For(outer * size, inner, Action<int, int>(fun lo hi ->
            use pg = fixed g
            use pd = fixed dx
            for r in lo .. hi - 1 do
                Simd.mapRange (ptr pg ((r / size) * inner)) (ptr pd (r * inner)) 0 inner (fun v -> v * vs) (fun v -> v * ws) (fun v -> v * scale)))
    dx

/// Maximum over the middle axis and the index of its first occurrence (NaN counts as maximal).
let maxAxisData (outer: int, size: int, inner: int) (x: float32[]) =
    let out = fresh (outer * inner)
    let arg = GC.AllocateUninitializedArray<int> (outer * inner)
    if inner = 1 then
        Threads.For(outer, size, Action<int, int>(fun lo hi ->
            use px = fixed x
            for o in lo .. hi - 1 do
                let p = ptr px (o * size)
                let m = maxRange p size
                out.[o] <- m
                arg.[o] <- firstIndex p size m))
    else
        Threads.For(outer, size * inner, Action<int, int>(fun lo hi ->
            for o in lo .. hi - 1 do
                let mutable i = 0
                // 16 columns at a time: running maximum and its row index, replaced only by a strictly better value
                if Vector512.IsHardwareAccelerated then
                    while i + 16 <= inner do
                        let mutable m = Vector512.Create(x, o * size * inner + i)
                        let mutable a = Vector512<int>.Zero
                        for s in 1 .. size - 1 do
                            let v = Vector512.Create(x, (o * size + s) * inner + i)
                            let better = Vector512.GreaterThan(v, m) ||| Vector512.AndNot(Vector512.IsNaN v, Vector512.IsNaN m)
                            m <- Vector512.ConditionalSelect(better, v, m)
                            a <- Vector512.ConditionalSelect(better.AsInt32(), Vector512.Create s, a)
                        m.CopyTo(out, o * inner + i)
                        a.CopyTo(arg, o * inner + i)
                        i <- i + 16
                elif Vector256.IsHardwareAccelerated then
                    while i + 8 <= inner do
                        let mutable m = Vector256.Create(x, o * size * inner + i)
                        let mutable a = Vector256<int>.Zero
                        for s in 1 .. size - 1 do
                            let v = Vector256.Create(x, (o * size + s) * inner + i)
                            let better = Vector256.GreaterThan(v, m) ||| Vector256.AndNot(Vector256.IsNaN v, Vector256.IsNaN m)
                            m <- Vector256.ConditionalSelect(better, v, m)
                            a <- Vector256.ConditionalSelect(better.AsInt32(), Vector256.Create s, a)
                        m.CopyTo(out, o * inner + i)
                        a.CopyTo(arg, o * inner + i)
                        i <- i + 8
                while i < inner do
                    let mutable m = x.[o * size * inner + i]
                    let mutable a = 0
                    for s in 1 .. size - 1 do
                        let v = x.[(o * size + s) * inner + i]
                        if beats v m then
                            m <- v
                            a <- s
                    out.[o * inner + i] <- m
                    arg.[o * inner + i] <- a
                    i <- i + 1))
    out, arg

/// The largest element of x and the index of its first occurrence (NaN counts as largest), from fixed 64k blocks
/// combined in block order.
let maxIndex (x: float32[]) =
    Threads.Reduce<struct (float32 * int)>(x.Length, 65536,
        Func<int, int, struct (float32 * int)>(fun lo hi ->
            use p = fixed x
            let m = maxRange (ptr p lo) (hi - lo)
            struct (m, lo + firstIndex (ptr p lo) (hi - lo) m)),
        Func<_, _, _>(fun (struct (am, ai) as acc) (struct (bm, _) as b) -> if ai < 0 || beats bm am then b else acc),
        struct (Single.NegativeInfinity, -1))
