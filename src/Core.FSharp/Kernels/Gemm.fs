/// Dense single-precision matrix multiply, row-major, tightly packed operands:
/// C[m,n] = op(A) op(B) + beta * C, with op(A) m x k (A stored k x m when transA) and op(B) k x n (B stored n x k
/// when transB).
///
/// Design (GotoBLAS / BLIS: Goto & van de Geijn 2008; Van Zee & van de Geijn 2015): a register-blocked micro-kernel
/// (Kernels/GemmKernels.fs) computes MR x NR tiles of C with FMAs, broadcasting one operand element by element (the
/// "L" side, MR = 6 rows) against vectors of the other (the "R" side, NR = 64 lanes = 4 zmm). R is packed into
/// contiguous micro-panels per k-block of KC (a 16 x 16 register transpose absorbs a transposed R), or read in place
/// when its rows are contiguous and few L rows would reuse a copy; L is read in place when its rows run along k,
/// else each work item packs its rows. Normally L = op(A) and R = op(B); the roles swap (tiles of C^T =
/// op(B)^T op(A)^T, lanes along m) when a cost estimate says so, typically for a narrow n with a transposed A
/// (weight gradients X^T G). Narrow outputs with op(A) rows along k (X W with 16 hidden units) use a dot-product
/// kernel vectorised along k instead, which wastes no lanes. Work items (tiles of C) run in parallel via Threads.For.
///
/// Determinism: each element of C is computed by exactly one micro-kernel call per k-block (the dot kernel: one call
/// over all of k), which sums over p in a fixed order from zero, and the k-block partial sums are added into C in
/// block order. Tiles, blocks, the path and the kernel depend only on the shapes (and the hardware), never on the
/// thread count, so results are bit-identical for any `Threads.Count`.
module GcnKd.Kernels.Gemm

#nowarn "9"

open System
open System.Buffers
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd
open GcnKd.Kernels.GemmKernels

/// Depth of a k-block: an L micro-panel (MR x KC, 6 KiB) stays in L1 while R micro-panels stream from L2.
[<Literal>]
let KC = 256
/// L rows per parallel work item (a multiple of MR) when L is read in place ...
[<Literal>]
let MB = 72
/// ... and when the item packs them (longer row segments per stored row; the packed block, 288 KiB, fits L2).
[<Literal>]
let MBP = 288
/// R columns per parallel work item: one k-block of them (KC x VB, 512 KiB) stays in L2 across the item's L rows.
[<Literal>]
let VB = 512
/// Work items wanted per parallel region (for load balance); items get narrower than VB to reach it.
[<Literal>]
let private MinItems = 16
/// R columns packed at a time (a multiple of VB).
[<Literal>]
let RC = 4096
/// At most this many L rows (R reused by few micro-panels) lets contiguous R panels be read in place, unpacked.
[<Literal>]
let private InPlaceRRows = 48
/// Floats of packed R per pass over k (16 MiB); only a huge k x n needs more than one pass.
[<Literal>]
let private RBudget = 4194304

/// Below this many multiply-adds the packing is not worth it.
[<Literal>]
let private TinyWork = 1024

/// d[0..w) = s[0..w) (first k-block) or d[0..w) += s[0..w): a row of an edge tile.
let private storeRow (s: nativeptr<float32>) (d: nativeptr<float32>) (w: int) (first: bool) =
    let mutable q = 0
    if Vector512.IsHardwareAccelerated then
        while q + 16 <= w do
            let v = Vector512.Load(pAdd s q)
            Vector512.Store((if first then v else Vector512.Load(pAdd d q) + v), pAdd d q)
            q <- q + 16
    elif Vector256.IsHardwareAccelerated then
        while q + 8 <= w do
            let v = Vector256.Load(pAdd s q)
            Vector256.Store((if first then v else Vector256.Load(pAdd d q) + v), pAdd d q)
            q <- q + 8
    while q < w do
        let v = NativePtr.get s q
        NativePtr.set d q (if first then v else NativePtr.get d q + v)
        q <- q + 1

/// The blocked product on generic strided views: C (rows x cols, element (i, j) at c[i*crs + j*ccs]) (+)= L R,
/// L rows x k (strides lrs, lks), R k x cols (strides rks, rcs). `overwrite` = the first k-block replaces C.
/// Per block of RC columns and pass of k-blocks: one parallel region packs R (every panel of every k-block), a
/// second runs the work items (tiles of C), each looping over the pass's k-blocks in order. Two barriers per pass
/// (one pass for all but huge k x n) keep a descheduled thread on a shared machine from stalling many short
/// regions, and a work item's C tile stays in L2 across its k-blocks.
let private blocked (l: float32[]) (lOff: int) (lrs: int) (lks: int)
                    (r: float32[]) (rOff: int) (rks: int) (rcs: int)
                    (c: float32[]) (cOff: int) (crs: int) (ccs: int)
                    (rows: int) (cols: int) (k: int) (overwrite: bool) =
    // L rows contiguous along k (lks = 1): the kernel reads them in place (6 sequential streams). Otherwise each step
    // p is a stored row apart (a page for large m): each item packs its rows per k-block, streaming row segments
    // of MBP floats.
    let packLeft = lks <> 1
    if packLeft && lrs <> 1 then invalidArg "lrs" "gemm: L must have a unit stride along rows or along k"
    let nr = NR
    let use512 = nr = 64
    let mb = if packLeft then MBP else MB
    // R rows contiguous and few L rows to reuse a packed copy: the kernel reads full R panels in place
    let inPlaceR = rcs = 1 && rows <= InPlaceRRows
    let ncMax = (min RC cols + nr - 1) / nr * nr
    let kbPerPass = max 1 (min ((k + KC - 1) / KC) (RBudget / (KC * ncMax)))
    let rBuf = ArrayPool<float32>.Shared.Rent(min k (kbPerPass * KC) * ncMax)
    try
        let mutable jc = 0
        while jc < cols do
            let nc = min RC (cols - jc)
            let ncPad = (nc + nr - 1) / nr * nr
            let rPanels = ncPad / nr
            let mutable pass0 = 0
            while pass0 < k do
                let passK = min (kbPerPass * KC) (k - pass0)
                let nKb = (passK + KC - 1) / KC
                let jc0, ps0 = jc, pass0
                // 1. pack R: k-block b, panel q at rBuf[b*KC*ncPad + q*nr*kc_b] (only partial panels when in place)
                Threads.For(nKb * rPanels, KC * nr, Action<int, int>(fun lo hi ->
                    use pr = fixed r
                    use prb = fixed rBuf
                    for t in lo .. hi - 1 do
                        let kb, q = t / rPanels, t % rPanels
                        let kc = min KC (passK - kb * KC)
                        let j0 = q * nr
                        if not inPlaceR || j0 + nr > nc then
                            packR (pAdd pr rOff) rks rcs (ps0 + kb * KC) kc (jc0 + j0) (min nr (nc - j0)) nr
                                  (pAdd prb (kb * KC * ncPad + q * nr * kc))))
                // 2. work items of mb x VB tiles of C, each over all k-blocks of the pass
                // items group whole micro-tiles, so their size never changes a result; few rows -> narrower items
                let nIb = (rows + mb - 1) / mb
                let vbw =
                    if nIb * ((nc + VB - 1) / VB) >= MinItems then VB
                    else max nr ((nc * nIb + MinItems * nr - 1) / (MinItems * nr) * nr)
                let nVb = (nc + vbw - 1) / vbw
                Threads.For(nIb * nVb, int (min (int64 mb * int64 vbw * int64 passK) (int64 Int32.MaxValue)), Action<int, int>(fun lo hi ->
                    let lBuf = if packLeft then ArrayPool<float32>.Shared.Rent(mb / MR * lPanelStride KC) else null
                    try
                        use pl = fixed l
                        use pr = fixed r
                        use plb = fixed lBuf
                        use prb = fixed rBuf
                        use pcc = fixed c
                        let tmp = NativePtr.stackalloc<float32> (MR * 64)
                        for item in lo .. hi - 1 do
                            let ib, vb = item / nVb, item % nVb
                            let i0 = ib * mb
                            let i1 = min rows (i0 + mb)
                            let j1 = min nc ((vb + 1) * vbw)
                            for kb in 0 .. nKb - 1 do
                                let pc = ps0 + kb * KC
                                let kc = min KC (passK - kb * KC)
                                let first = overwrite && pc = 0
                                if packLeft then packL (pAdd pl lOff) lks rows i0 (i1 - i0) pc kc plb
                                let rBlock = pAdd prb (kb * KC * ncPad)
                                let mutable i = i0
                                while i < i1 do
                                    let h = min MR (i1 - i)
                                    let lpan, prs, pks, ph =
                                        if packLeft then pAdd plb ((i - i0) / MR * lPanelStride kc), 1, MR, MR
                                        else pAdd pl (lOff + i * lrs + pc * lks), lrs, lks, h
                                    let mutable j = vb * vbw
                                    while j < j1 do
                                        let w = min nr (nc - j)
                                        let rpan, rstride =
                                            if inPlaceR && w = nr then pAdd pr (rOff + pc * rks + jc0 + j), rks
                                            else pAdd rBlock (j * kc), nr
                                        let origin = cOff + i * crs + (jc0 + j) * ccs
                                        if ccs = 1 && h = MR && w = nr then
                                            if use512 then kernel512 kc lpan prs pks ph rpan rstride (pAdd pcc origin) crs first
                                            else kernel256 kc lpan prs pks ph rpan rstride (pAdd pcc origin) crs first
                                        else
                                            if use512 then kernel512 kc lpan prs pks ph rpan rstride tmp nr true
                                            else kernel256 kc lpan prs pks ph rpan rstride tmp nr true
                                            if ccs = 1 then
                                                // edge tile: the valid part of each row
                                                for rr in 0 .. h - 1 do
                                                    storeRow (pAdd tmp (rr * nr)) (pAdd pcc (origin + rr * crs)) w first
                                            else
                                                // C^T (lanes strided): each row of C once
                                                for q in 0 .. w - 1 do
                                                    let d = pAdd pcc (origin + q * ccs)
                                                    for rr in 0 .. h - 1 do
                                                        let v = NativePtr.get tmp (rr * nr + q)
                                                        NativePtr.set d (rr * crs) (if first then v else NativePtr.get d (rr * crs) + v)
                                        j <- j + nr
                                    i <- i + MR
                    finally
                        if packLeft then ArrayPool<float32>.Shared.Return lBuf))
                pass0 <- pass0 + passK
            jc <- jc + nc
    finally
        ArrayPool<float32>.Shared.Return rBuf

/// C (m x n) (+)= L M^T for narrow C through the dot-product kernel: L = op(A) read in place (rows lrs apart,
/// contiguous along k), M = op(B)^T with rows contiguous along k (B itself when transB, else a transposed copy,
/// small since n is). Parallel over blocks of whole 6-row tiles; each C element is one kernel's full sum over k.
let private dotProduct (a: float32[]) (aOff: int) (lrs: int) (b: float32[]) (bOff: int) (transB: bool)
                       (m: int) (n: int) (k: int) (c: float32[]) (cOff: int) (overwrite: bool) =
    let mBuf = if transB then null else ArrayPool<float32>.Shared.Rent(n * k)
    try
        let mArr, mOff =
            if transB then b, bOff
            else
                // M[j, p] = B[p, j], in 16-row strips of B so reads and writes stay within a few pages
                let mutable p0 = 0
                while p0 < k do
                    let p1 = min k (p0 + 16)
                    for j in 0 .. n - 1 do
                        for p in p0 .. p1 - 1 do mBuf.[j * k + p] <- b.[bOff + p * n + j]
                    p0 <- p1
                mBuf, 0
        let rowsPerItem = max DR (min 96 ((m + MinItems * DR - 1) / (MinItems * DR) * DR))
        Threads.For((m + rowsPerItem - 1) / rowsPerItem, rowsPerItem * n * k, Action<int, int>(fun lo hi ->
            use pa = fixed a
            use pm = fixed mArr
            use pc = fixed c
            let sums = NativePtr.stackalloc<float32> (DR * DC)
            for item in lo .. hi - 1 do
                let i1 = min m ((item + 1) * rowsPerItem)
                let mutable i = item * rowsPerItem
                while i < i1 do
                    let h = min DR (i1 - i)
                    let mutable j = 0
                    while j < n do
                        dotKernel k (pAdd pa (aOff + i * lrs)) lrs h (pAdd pm (mOff + j * k)) k (min DC (n - j))
                                  (pAdd pc (cOff + i * n + j)) n overwrite sums
                        j <- j + DC
                    i <- i + DR))
    finally
        if not transB then ArrayPool<float32>.Shared.Return mBuf

/// Plain loops for tiny products (and machines without accelerated vectors): sum over p in order.
let private naive (transA: bool) (transB: bool) (m: int) (n: int) (k: int)
                  (a: float32[]) (aOff: int) (b: float32[]) (bOff: int) (overwrite: bool) (c: float32[]) (cOff: int) =
    let ars, acs = if transA then 1, m else k, 1
    let brs, bcs = if transB then 1, k else n, 1
    Threads.For(m, n * k, Action<int, int>(fun lo hi ->
        for i in lo .. hi - 1 do
            for j in 0 .. n - 1 do
                let mutable s = 0.0f
                for p in 0 .. k - 1 do
                    s <- s + a.[aOff + i * ars + p * acs] * b.[bOff + p * brs + j * bcs]
                let o = cOff + i * n + j
                c.[o] <- if overwrite then s else c.[o] + s))

/// C = beta * C over the m x n block at cOff.
let private scale (beta: float32) (m: int) (n: int) (c: float32[]) (cOff: int) =
    let total = m * n
    Simd.forBlocks total 1 (fun lo hi ->
        for i in lo .. hi - 1 do
            let o = cOff + i
            c.[o] <- if beta = 0.0f then 0.0f else beta * c.[o])

/// C[m,n] = op(A) op(B) + beta * C (beta = 0 never reads C, so C may hold garbage).
let gemm (transA: bool) (transB: bool) (m: int) (n: int) (k: int)
         (a: float32[]) (aOff: int) (b: float32[]) (bOff: int) (beta: float32) (c: float32[]) (cOff: int) =
    if m < 0 || n < 0 || k < 0 then invalidArg "m" (sprintf "gemm: negative size m=%d n=%d k=%d" m n k)
    let need (rows: int) (cols: int) (off: int) (arr: float32[]) = off < 0 || int64 off + int64 rows * int64 cols > int64 arr.Length
    if need m k aOff a then invalidArg "a" (sprintf "gemm: A needs %d values from offset %d, has %d" (int64 m * int64 k) aOff a.Length)
    if need k n bOff b then invalidArg "b" (sprintf "gemm: B needs %d values from offset %d, has %d" (int64 k * int64 n) bOff b.Length)
    if need m n cOff c then invalidArg "c" (sprintf "gemm: C needs %d values from offset %d, has %d" (int64 m * int64 n) cOff c.Length)
    if m = 0 || n = 0 then ()
    elif k = 0 then (if beta <> 1.0f then scale beta m n c cOff)
    else
        // beta other than 0 and 1: scale first, then accumulate
        if beta <> 0.0f && beta <> 1.0f then scale beta m n c cOff
        let overwrite = beta = 0.0f
        if int64 m * int64 n * int64 k <= int64 TinyWork || not Vector256.IsHardwareAccelerated then
            naive transA transB m n k a aOff b bOff overwrite c cOff
        else
            let ars, acs = if transA then 1, m else k, 1
            let brs, bcs = if transB then 1, k else n, 1
            // Orientation by estimated cycles (shapes only, so never thread-dependent), weights fitted to timings on
            // an AVX-512 Zen machine: padded FMA work at 32 lanes per cycle; per element, packing a transposed L 1
            // (strided reads), packing R 0.5 (copy) or 1.4 (transpose; both a round trip through L3 for big R),
            // scattering C^T tiles 2.4 per k-block. Typically: direct, unless direct must pack a transposed L
            // against a narrow n (weight gradients X^T G), where the swap turns that pack into a copy.
            let nr = NR
            let pad x q = float ((x + q - 1) / q * q)
            let kBlocks = float ((k + KC - 1) / KC)
            let cost rows cols lks rcs transposedC =
                pad rows MR * pad cols nr * float k / 32.0
                + (if lks <> 1 then 1.0 * float rows * float k else 0.0)
                + (if rcs = 1 then 0.5 else 1.4) * float k * float cols
                + (if transposedC then 2.4 * float rows * float cols * kBlocks else 0.0)
            let direct = cost m n acs bcs false
            // swapped: L = op(B)^T (k-stride brs), R = op(A)^T (column stride ars)
            let swapped = cost n m brs ars true
            // dot-product kernel (needs op(A) rows along k): no padded lanes, but a 16-lane sum per C element
            let dot =
                if transA || not Vector512.IsHardwareAccelerated then Double.PositiveInfinity
                else pad m DR * pad n DC * pad k 16 / 32.0 + 8.0 * float m * float n + (if transB then 0.0 else 1.4 * float k * float n)
            if dot < min direct swapped then
                dotProduct a aOff k b bOff transB m n k c cOff overwrite
            elif swapped < direct then
                // C^T (n x m, element (j, i) at c[i*n + j]) = op(B)^T op(A)^T
                blocked b bOff bcs brs a aOff acs ars c cOff 1 n n m k overwrite
            else
                blocked a aOff ars acs b bOff brs bcs c cOff n 1 m n k overwrite
