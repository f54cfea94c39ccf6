/// Raw-array kernels for sparse matrices in CSR-like form and the segment/edge operations GNNs are built from.
/// Every kernel is "one output row = one thread, entries summed in stored order", so results never depend on the
/// thread count; reverse passes read a transposed structure (Csr.transposePlan) instead of scattering with
/// atomics. A "row list" below is (ptr, idx): output row o gathers input rows idx.[p] for ptr.[o] <= p < ptr.[o+1].
module GcnKd.Kernels.SparseKernels

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open GcnKd

let inline private fptr (p: nativeptr<float32>) (i: int) = NativePtr.add p i

/// Stable counting sort of the items `within` by key.[item] in [0, buckets): bucket pointer (buckets + 1) and the
/// items in bucket order. O(items + buckets).
let countingSort (buckets: int) (key: int[]) (within: int[]) =
    let ptr = Array.zeroCreate<int> (buckets + 1)
    for e in within do ptr.[key.[e] + 1] <- ptr.[key.[e] + 1] + 1
    for i in 0 .. buckets - 1 do ptr.[i + 1] <- ptr.[i + 1] + ptr.[i]
    let next = Array.copy ptr
    let order = Array.zeroCreate<int> within.Length
    for e in within do
        let k = key.[e]
        order.[next.[k]] <- e
        next.[k] <- next.[k] + 1
    ptr, order

/// Run body(lo, hi) over output rows [0, rows) in chunks balanced by stored entries (plus one per row), so a few
/// high-degree rows do not leave a thread idle. Each row lies in exactly one chunk.
let forRows (rows: int) (ptr: int[]) (costPerEntry: int) (body: int -> int -> unit) =
    if rows > 0 then
        let weight i = int64 ptr.[i] + int64 i
        let total = weight rows
        let chunks = max 1 (min rows (8 * Threads.Count))
        let bounds = Array.zeroCreate<int> (chunks + 1)
        bounds.[chunks] <- rows
        for c in 1 .. chunks - 1 do
            let target = total * int64 c / int64 chunks
            // smallest i >= bounds[c-1] with weight i >= target
            let mutable lo = bounds.[c - 1]
            let mutable hi = rows
            while lo < hi do
                let mid = (lo + hi) >>> 1
                if weight mid >= target then hi <- mid else lo <- mid + 1
            bounds.[c] <- lo
        let cost = int (min 1_000_000_000L (max 1L (total * int64 (max 1 costPerEntry) / int64 chunks)))
        Threads.For(chunks, cost, Action<int, int>(fun clo chi ->
            for c in clo .. chi - 1 do
                if bounds.[c + 1] > bounds.[c] then body bounds.[c] bounds.[c + 1]))

/// out[0..d) = sum_{p in [lo, hi)} w[p * ws] * B[idx[p] * ldb + 0..d), entries in order, each element a chain of
/// FMAs (so the vector and scalar paths agree bit for bit). Accumulators stay in registers: tiles of 256 columns
/// (16 x Vector512, half the register file) over all entries, then 128, 64, 16, then scalars.
let private accumRow (pb: nativeptr<float32>) (ldb: int) (pIdx: nativeptr<int>) (pW: nativeptr<float32>) (ws: int)
                     (lo: int) (hi: int) (pOut: nativeptr<float32>) (d: int) =
    let mutable c = 0
    if Vector512.IsHardwareAccelerated then
        while c + 256 <= d do
            let mutable a0 = Vector512<float32>.Zero
            let mutable a1 = Vector512<float32>.Zero
            let mutable a2 = Vector512<float32>.Zero
            let mutable a3 = Vector512<float32>.Zero
            let mutable a4 = Vector512<float32>.Zero
            let mutable a5 = Vector512<float32>.Zero
            let mutable a6 = Vector512<float32>.Zero
            let mutable a7 = Vector512<float32>.Zero
            let mutable a8 = Vector512<float32>.Zero
            let mutable a9 = Vector512<float32>.Zero
            let mutable a10 = Vector512<float32>.Zero
            let mutable a11 = Vector512<float32>.Zero
            let mutable a12 = Vector512<float32>.Zero
            let mutable a13 = Vector512<float32>.Zero
            let mutable a14 = Vector512<float32>.Zero
            let mutable a15 = Vector512<float32>.Zero
            let mutable p = lo
            while p < hi do
                let w = Vector512.Create(NativePtr.get pW (p * ws))
                let r = fptr pb (NativePtr.get pIdx p * ldb + c)
                a0 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 0), w, a0)
                a1 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 16), w, a1)
                a2 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 32), w, a2)
                a3 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 48), w, a3)
                a4 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 64), w, a4)
                a5 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 80), w, a5)
                a6 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 96), w, a6)
                a7 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 112), w, a7)
                a8 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 128), w, a8)
                a9 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 144), w, a9)
                a10 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 160), w, a10)
                a11 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 176), w, a11)
                a12 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 192), w, a12)
                a13 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 208), w, a13)
                a14 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 224), w, a14)
                a15 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 240), w, a15)
                p <- p + 1
            let o = fptr pOut c
            Vector512.Store(a0, fptr o 0)
            Vector512.Store(a1, fptr o 16)
            Vector512.Store(a2, fptr o 32)
            Vector512.Store(a3, fptr o 48)
            Vector512.Store(a4, fptr o 64)
            Vector512.Store(a5, fptr o 80)
            Vector512.Store(a6, fptr o 96)
            Vector512.Store(a7, fptr o 112)
            Vector512.Store(a8, fptr o 128)
            Vector512.Store(a9, fptr o 144)
            Vector512.Store(a10, fptr o 160)
            Vector512.Store(a11, fptr o 176)
            Vector512.Store(a12, fptr o 192)
            Vector512.Store(a13, fptr o 208)
            Vector512.Store(a14, fptr o 224)
            Vector512.Store(a15, fptr o 240)
            c <- c + 256
        while c + 128 <= d do
            let mutable a0 = Vector512<float32>.Zero
            let mutable a1 = Vector512<float32>.Zero
            let mutable a2 = Vector512<float32>.Zero
            let mutable a3 = Vector512<float32>.Zero
            let mutable a4 = Vector512<float32>.Zero
            let mutable a5 = Vector512<float32>.Zero
            let mutable a6 = Vector512<float32>.Zero
            let mutable a7 = Vector512<float32>.Zero
            let mutable p = lo
            while p < hi do
                let w = Vector512.Create(NativePtr.get pW (p * ws))
                let r = fptr pb (NativePtr.get pIdx p * ldb + c)
                a0 <- Vector512.FusedMultiplyAdd(Vector512.Load r, w, a0)
                a1 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 16), w, a1)
                a2 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 32), w, a2)
                a3 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 48), w, a3)
                a4 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 64), w, a4)
                a5 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 80), w, a5)
                a6 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 96), w, a6)
                a7 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 112), w, a7)
                p <- p + 1
            let o = fptr pOut c
            Vector512.Store(a0, o)
            Vector512.Store(a1, fptr o 16)
            Vector512.Store(a2, fptr o 32)
            Vector512.Store(a3, fptr o 48)
            Vector512.Store(a4, fptr o 64)
            Vector512.Store(a5, fptr o 80)
            Vector512.Store(a6, fptr o 96)
            Vector512.Store(a7, fptr o 112)
            c <- c + 128
        if c + 64 <= d then
            let mutable a0 = Vector512<float32>.Zero
            let mutable a1 = Vector512<float32>.Zero
            let mutable a2 = Vector512<float32>.Zero
            let mutable a3 = Vector512<float32>.Zero
            let mutable p = lo
            while p < hi do
                let w = Vector512.Create(NativePtr.get pW (p * ws))
                let r = fptr pb (NativePtr.get pIdx p * ldb + c)
                a0 <- Vector512.FusedMultiplyAdd(Vector512.Load r, w, a0)
                a1 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 16), w, a1)
                a2 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 32), w, a2)
                a3 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 48), w, a3)
                p <- p + 1
            let o = fptr pOut c
            Vector512.Store(a0, o)
            Vector512.Store(a1, fptr o 16)
            Vector512.Store(a2, fptr o 32)
            Vector512.Store(a3, fptr o 48)
            c <- c + 64
        while c + 16 <= d do
            let mutable a0 = Vector512<float32>.Zero
            let mutable p = lo
            while p < hi do
                let w = Vector512.Create(NativePtr.get pW (p * ws))
                a0 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr pb (NativePtr.get pIdx p * ldb + c)), w, a0)
                p <- p + 1
            Vector512.Store(a0, fptr pOut c)
            c <- c + 16
    // also the 8-wide remainder under AVX-512 (GAT heads of width 8)
    if Vector256.IsHardwareAccelerated then
        while c + 8 <= d do
            let mutable a0 = Vector256<float32>.Zero
            let mutable p = lo
            while p < hi do
                let w = Vector256.Create(NativePtr.get pW (p * ws))
                a0 <- Vector256.FusedMultiplyAdd(Vector256.Load(fptr pb (NativePtr.get pIdx p * ldb + c)), w, a0)
                p <- p + 1
            Vector256.Store(a0, fptr pOut c)
            c <- c + 8
    while c < d do
        let mutable a = 0.0f
        let mutable p = lo
        while p < hi do
            a <- MathF.FusedMultiplyAdd(NativePtr.get pb (NativePtr.get pIdx p * ldb + c), NativePtr.get pW (p * ws), a)
            p <- p + 1
        NativePtr.set pOut c a
        c <- c + 1

/// Multi-head rows with narrow heads (d < 64, heads <= 16, GAT's 8 x 8): one vector spans
/// several heads, so each lane picks its head's weight from the entry's weights with a lane -> head permutation
/// (`laneHead`). Same per-element FMA chain as accumRow, so the result is identical to the head-by-head path.
/// `pW` must stay readable 16 floats past the last entry's weights.
let private accumRowHeads (pb: nativeptr<float32>) (width: int) (pIdx: nativeptr<int>) (pW: nativeptr<float32>) (heads: int)
                          (lo: int) (hi: int) (pOut: nativeptr<float32>) (pHead: nativeptr<int>) =
    let mutable c = 0
    while c + 64 <= width do
        let k0 = Vector512.Load(NativePtr.add pHead c)
        let k1 = Vector512.Load(NativePtr.add pHead (c + 16))
        let k2 = Vector512.Load(NativePtr.add pHead (c + 32))
        let k3 = Vector512.Load(NativePtr.add pHead (c + 48))
        let mutable a0 = Vector512<float32>.Zero
        let mutable a1 = Vector512<float32>.Zero
        let mutable a2 = Vector512<float32>.Zero
        let mutable a3 = Vector512<float32>.Zero
        for p in lo .. hi - 1 do
            let wv = Vector512.Load(fptr pW (p * heads))
            let r = fptr pb (NativePtr.get pIdx p * width + c)
            a0 <- Vector512.FusedMultiplyAdd(Vector512.Load r, Avx512F.PermuteVar16x32(wv, k0), a0)
            a1 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 16), Avx512F.PermuteVar16x32(wv, k1), a1)
            a2 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 32), Avx512F.PermuteVar16x32(wv, k2), a2)
            a3 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr r 48), Avx512F.PermuteVar16x32(wv, k3), a3)
        let o = fptr pOut c
        Vector512.Store(a0, o)
        Vector512.Store(a1, fptr o 16)
        Vector512.Store(a2, fptr o 32)
        Vector512.Store(a3, fptr o 48)
        c <- c + 64
    while c + 16 <= width do
        let k0 = Vector512.Load(NativePtr.add pHead c)
        let mutable a0 = Vector512<float32>.Zero
        for p in lo .. hi - 1 do
            let wv = Avx512F.PermuteVar16x32(Vector512.Load(fptr pW (p * heads)), k0)
            a0 <- Vector512.FusedMultiplyAdd(Vector512.Load(fptr pb (NativePtr.get pIdx p * width + c)), wv, a0)
        Vector512.Store(a0, fptr pOut c)
        c <- c + 16
    while c < width do
        let hh = NativePtr.get pHead c
        let mutable a = 0.0f
        for p in lo .. hi - 1 do
            a <- MathF.FusedMultiplyAdd(NativePtr.get pb (NativePtr.get pIdx p * width + c), NativePtr.get pW (p * heads + hh), a)
        NativePtr.set pOut c a
        c <- c + 1

/// Multi-head SpMM over a row list: out[o, hh*d + j] = sum_p w[p*heads + hh] * b[idx[p], hh*d + j] with
/// d = width / heads (out is rows x width, b has rows of `width`). heads = 1 is the plain C = A B. `w = null`
/// means unit weights (a segment sum).
let spmm (rows: int) (ptr: int[]) (idx: int[]) (w: float32[]) (heads: int) (b: float32[]) (width: int) : float32[] =
    // every element is stored below (empty rows store zero accumulators), so skip the allocator's zeroing
    let out = GC.AllocateUninitializedArray<float32> (rows * width)
    let w = if isNull w then Array.create (max 1 (idx.Length * heads)) 1.0f else w
    let d = width / heads
    if width > 0 && heads > 1 && heads <= 16 && d < 64 && Avx512F.IsSupported then
        let wPad = Array.append w (Array.zeroCreate 16)
        let laneHead = Array.init width (fun c -> c / d)
        forRows rows ptr (width + 2) (fun lo hi ->
            use pb = fixed b
            use pIdx = fixed idx
            use pW = fixed wPad
            use pOut = fixed out
            use pHead = fixed laneHead
            for o in lo .. hi - 1 do
                accumRowHeads pb width pIdx pW heads ptr.[o] ptr.[o + 1] (fptr pOut (o * width)) pHead)
    elif width > 0 then
        forRows rows ptr (width + 2) (fun lo hi ->
            use pb = fixed b
            use pIdx = fixed idx
            use pW = fixed w
            use pOut = fixed out
            for o in lo .. hi - 1 do
                for hh in 0 .. heads - 1 do
                    accumRow (fptr pb (hh * d)) width pIdx (fptr pW hh) heads ptr.[o] ptr.[o + 1] (fptr pOut (o * width + hh * d)) d)
    out

/// Reduce f over the columns [0, d) of two rows x and y: dot, squared distance, L1 distance.
let inline private rowReduce (x: nativeptr<float32>) (y: nativeptr<float32>) (d: int)
                             ([<InlineIfLambda>] f512: Vector512<float32> -> Vector512<float32> -> Vector512<float32> -> Vector512<float32>)
                             ([<InlineIfLambda>] f256: Vector256<float32> -> Vector256<float32> -> Vector256<float32> -> Vector256<float32>)
                             ([<InlineIfLambda>] fs: float32 -> float32 -> float32 -> float32) =
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && d >= 16 then
        let mutable v = Vector512<float32>.Zero
        while i + 16 <= d do
            v <- f512 v (Vector512.Load(fptr x i)) (Vector512.Load(fptr y i))
            i <- i + 16
        acc <- Vector512.Sum v
    elif Vector256.IsHardwareAccelerated && d >= 8 then
        let mutable v = Vector256<float32>.Zero
        while i + 8 <= d do
            v <- f256 v (Vector256.Load(fptr x i)) (Vector256.Load(fptr y i))
            i <- i + 8
        acc <- Vector256.Sum v
    while i < d do
        acc <- fs acc (NativePtr.get x i) (NativePtr.get y i)
        i <- i + 1
    acc

/// Per-entry reduction of a destination row against a source row, per head: out[e*heads + hh] =
/// f(xDst[row(e), head hh], xSrc[col(e), head hh]) with rows of `width` = heads * d.
let inline private edgeReduce (rows: int) (ptr: int[]) (col: int[]) (xDst: float32[]) (xSrc: float32[]) (width: int) (heads: int)
                              ([<InlineIfLambda>] f512) ([<InlineIfLambda>] f256) ([<InlineIfLambda>] fs) =
    let out = Array.zeroCreate<float32> (col.Length * heads)
    let d = width / heads
    forRows rows ptr (2 * width + 2) (fun lo hi ->
        use px = fixed xDst
        use py = fixed xSrc
        for i in lo .. hi - 1 do
            for e in ptr.[i] .. ptr.[i + 1] - 1 do
                for hh in 0 .. heads - 1 do
                    out.[e * heads + hh] <- rowReduce (fptr px (i * width + hh * d)) (fptr py (col.[e] * width + hh * d)) d f512 f256 fs)
    out

/// out[e*heads + hh] = <xDst[row(e)], xSrc[col(e)]> over head hh's columns.
let edgeDot rows ptr col xDst xSrc width heads =
    edgeReduce rows ptr col xDst xSrc width heads
        (fun v a b -> Vector512.FusedMultiplyAdd(a, b, v)) (fun v a b -> Vector256.FusedMultiplyAdd(a, b, v))
        (fun s a b -> MathF.FusedMultiplyAdd(a, b, s))

/// out[e] = ||xDst[row(e)] - xSrc[col(e)]||^2.
let edgeSqDist rows ptr col xDst xSrc width =
    edgeReduce rows ptr col xDst xSrc width 1
        (fun v a b -> let t = a - b in Vector512.FusedMultiplyAdd(t, t, v)) (fun v a b -> let t = a - b in Vector256.FusedMultiplyAdd(t, t, v))
        (fun s a b -> let t = a - b in MathF.FusedMultiplyAdd(t, t, s))

/// out[e] = ||xDst[row(e)] - xSrc[col(e)]||_1.
let edgeL1 rows ptr col xDst xSrc width =
    edgeReduce rows ptr col xDst xSrc width 1
        (fun v a b -> v + Vector512.Abs(a - b)) (fun v a b -> v + Vector256.Abs(a - b)) (fun s a b -> s + abs (a - b))

/// out[e, :] = xDst[row(e), :] + xSrc[col(e), :].
let edgeSum (rows: int) (ptr: int[]) (col: int[]) (xDst: float32[]) (xSrc: float32[]) (width: int) =
    let out = Array.zeroCreate<float32> (col.Length * width)
    forRows rows ptr (2 * width + 2) (fun lo hi ->
        use px = fixed xDst
        use py = fixed xSrc
        use po = fixed out
        for i in lo .. hi - 1 do
            for e in ptr.[i] .. ptr.[i + 1] - 1 do
                Simd.zipRange (fptr px (i * width)) (fptr py (col.[e] * width)) (fptr po (e * width)) 0 width
                    (fun a b -> a + b) (fun a b -> a + b) (fun a b -> a + b))
    out

/// out[o, :] = sum_p w[p] * f(self[o, :] - other[idx[p], :]): the reverse of the distance ops (f = identity for
/// the squared distance, sign for L1), exact per entry rather than split into two products that could cancel.
let inline private diffAccum (rows: int) (ptr: int[]) (idx: int[]) (w: float32[]) (self: float32[]) (other: float32[]) (width: int)
                             ([<InlineIfLambda>] f512: Vector512<float32> -> Vector512<float32>)
                             ([<InlineIfLambda>] f256: Vector256<float32> -> Vector256<float32>)
                             ([<InlineIfLambda>] fs: float32 -> float32) =
    let out = Array.zeroCreate<float32> (rows * width)
    forRows rows ptr (3 * width + 2) (fun lo hi ->
        use ps = fixed self
        use pq = fixed other
        use po = fixed out
        for o in lo .. hi - 1 do
            let s = fptr ps (o * width)
            let mutable c = 0
            if Vector512.IsHardwareAccelerated then
                while c + 16 <= width do
                    let sv = Vector512.Load(fptr s c)
                    let mutable acc = Vector512<float32>.Zero
                    for p in ptr.[o] .. ptr.[o + 1] - 1 do
                        acc <- Vector512.FusedMultiplyAdd(f512 (sv - Vector512.Load(fptr pq (idx.[p] * width + c))), Vector512.Create w.[p], acc)
                    Vector512.Store(acc, fptr po (o * width + c))
                    c <- c + 16
            elif Vector256.IsHardwareAccelerated then
                while c + 8 <= width do
                    let sv = Vector256.Load(fptr s c)
                    let mutable acc = Vector256<float32>.Zero
                    for p in ptr.[o] .. ptr.[o + 1] - 1 do
                        acc <- Vector256.FusedMultiplyAdd(f256 (sv - Vector256.Load(fptr pq (idx.[p] * width + c))), Vector256.Create w.[p], acc)
                    Vector256.Store(acc, fptr po (o * width + c))
                    c <- c + 8
            while c < width do
                let sv = NativePtr.get s c
                let mutable acc = 0.0f
                for p in ptr.[o] .. ptr.[o + 1] - 1 do
                    acc <- MathF.FusedMultiplyAdd(fs (sv - NativePtr.get pq (idx.[p] * width + c)), w.[p], acc)
                NativePtr.set po (o * width + c) acc
                c <- c + 1)
    out

/// out[o, :] = sum_p w[p] * (self[o, :] - other[idx[p], :]).
let diffSum rows ptr idx w self other width =
    diffAccum rows ptr idx w self other width id id id

/// out[o, :] = sum_p w[p] * sign(self[o, :] - other[idx[p], :]) (sign 0 at 0).
let signDiffSum rows ptr idx w self other width =
    let z512, o512 = Vector512<float32>.Zero, Vector512<float32>.One
    let z256, o256 = Vector256<float32>.Zero, Vector256<float32>.One
    diffAccum rows ptr idx w self other width
        (fun t -> Vector512.ConditionalSelect(Vector512.GreaterThan(t, z512), o512, z512) - Vector512.ConditionalSelect(Vector512.LessThan(t, z512), o512, z512))
        (fun t -> Vector256.ConditionalSelect(Vector256.GreaterThan(t, z256), o256, z256) - Vector256.ConditionalSelect(Vector256.LessThan(t, z256), o256, z256))
        (fun t -> if t > 0.0f then 1.0f elif t < 0.0f then -1.0f else 0.0f)

/// Per group o of the row list, column-wise maximum of rows idx[p] and the first row attaining it (empty group:
/// value 0, argmax -1). Rows are scanned in stored order and replaced only on a strictly greater value.
let segmentMax (groups: int) (ptr: int[]) (idx: int[]) (x: float32[]) (width: int) =
    let out = Array.zeroCreate<float32> (groups * width)
    let arg = Array.create (groups * width) -1
    forRows groups ptr (2 * width + 2) (fun lo hi ->
        use px = fixed x
        use po = fixed out
        use pa = fixed arg
        for o in lo .. hi - 1 do
            let p0, p1 = ptr.[o], ptr.[o + 1]
            if p1 > p0 then
                let mutable c = 0
                if Vector512.IsHardwareAccelerated then
                    while c + 16 <= width do
                        let mutable m = Vector512.Load(fptr px (idx.[p0] * width + c))
                        let mutable a = Vector512.Create idx.[p0]
                        for p in p0 + 1 .. p1 - 1 do
                            let v = Vector512.Load(fptr px (idx.[p] * width + c))
                            let gt = Vector512.GreaterThan(v, m)
                            m <- Vector512.ConditionalSelect(gt, v, m)
                            a <- Vector512.ConditionalSelect(gt.AsInt32(), Vector512.Create idx.[p], a)
                        Vector512.Store(m, fptr po (o * width + c))
                        Vector512.Store(a, NativePtr.add pa (o * width + c))
                        c <- c + 16
                while c < width do
                    let mutable m = NativePtr.get px (idx.[p0] * width + c)
                    let mutable a = idx.[p0]
                    for p in p0 + 1 .. p1 - 1 do
                        let v = NativePtr.get px (idx.[p] * width + c)
                        if v > m then
                            m <- v
                            a <- idx.[p]
                    NativePtr.set po (o * width + c) m
                    NativePtr.set pa (o * width + c) a
                    c <- c + 1)
    out, arg

/// Softmax over the entries of each row, per head: scores and result are [nnz, heads] in row-list order;
/// max-subtracted; an empty row has nothing to normalise.
let segmentSoftmax (rows: int) (ptr: int[]) (scores: float32[]) (heads: int) =
    let out = Array.zeroCreate<float32> scores.Length
    forRows rows ptr (20 * heads) (fun lo hi ->
        for i in lo .. hi - 1 do
            let p0, p1 = ptr.[i], ptr.[i + 1]
            for hh in 0 .. heads - 1 do
                let mutable m = Single.NegativeInfinity
                for p in p0 .. p1 - 1 do m <- max m scores.[p * heads + hh]
                let mutable s = 0.0f
                for p in p0 .. p1 - 1 do
                    let v = MathF.Exp(scores.[p * heads + hh] - m)
                    out.[p * heads + hh] <- v
                    s <- s + v
                let inv = 1.0f / s
                for p in p0 .. p1 - 1 do out.[p * heads + hh] <- out.[p * heads + hh] * inv)
    out

/// Reverse of segmentSoftmax: ds = y * (g - sum_row(g * y)), per head.
let segmentSoftmaxBackward (rows: int) (ptr: int[]) (y: float32[]) (g: float32[]) (heads: int) =
    let out = Array.zeroCreate<float32> y.Length
    forRows rows ptr (6 * heads) (fun lo hi ->
        for i in lo .. hi - 1 do
            let p0, p1 = ptr.[i], ptr.[i + 1]
            for hh in 0 .. heads - 1 do
                let mutable s = 0.0f
                for p in p0 .. p1 - 1 do s <- MathF.FusedMultiplyAdd(g.[p * heads + hh], y.[p * heads + hh], s)
                for p in p0 .. p1 - 1 do
                    let k = p * heads + hh
                    out.[k] <- y.[k] * (g.[k] - s))
    out
