/// The inner pieces of the GEMM (Kernels/Gemm.fs drives them): register-blocked micro-kernels and the packing of
/// operand panels. A micro-kernel computes an MR x NR tile of C = sum over p of L[:, p] (x) R[p, :], broadcasting
/// the L ("left") elements against vectors of R. The packing routines lay panels out in the order the kernels read
/// them, absorbing transposes.
module internal GcnKd.Kernels.GemmKernels

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

/// Rows of a micro-tile (broadcast side). 6 x 64 uses 24 zmm accumulators + 4 B vectors + 1 broadcast = 29 of 32.
[<Literal>]
let MR = 6
/// Lanes of a micro-tile: 4 x Vector512, or 2 x Vector256 on machines without accelerated 512-bit vectors.
let NR = if Vector512.IsHardwareAccelerated then 64 else 16

let inline pAdd (p: nativeptr<float32>) (i: int) = NativePtr.add p i

/// The 6 x 64 micro-kernel: acc = sum_p L[:, p] (x) R[p, :], then dst = acc (overwrite) or dst += acc, rows of dst
/// ldd apart. R rows are rstride apart (64 for a packed panel, or a row of R itself read in place); L is read through
/// strides (row r, step p at
/// lp[r*lrs + p*lks]: a packed panel has lrs = 1, lks = MR). Rows at or past h repeat row h-1 (never read out of
/// bounds; the caller discards them).
let kernel512 (kc: int) (lp: nativeptr<float32>) (lrs: int) (lks: int) (h: int) (rp: nativeptr<float32>) (rstride: int) (dst: nativeptr<float32>) (ldd: int) (overwrite: bool) =
    let mutable c00 = Vector512<float32>.Zero
    let mutable c01 = Vector512<float32>.Zero
    let mutable c02 = Vector512<float32>.Zero
    let mutable c03 = Vector512<float32>.Zero
    let mutable c10 = Vector512<float32>.Zero
    let mutable c11 = Vector512<float32>.Zero
    let mutable c12 = Vector512<float32>.Zero
    let mutable c13 = Vector512<float32>.Zero
    let mutable c20 = Vector512<float32>.Zero
    let mutable c21 = Vector512<float32>.Zero
    let mutable c22 = Vector512<float32>.Zero
    let mutable c23 = Vector512<float32>.Zero
    let mutable c30 = Vector512<float32>.Zero
    let mutable c31 = Vector512<float32>.Zero
    let mutable c32 = Vector512<float32>.Zero
    let mutable c33 = Vector512<float32>.Zero
    let mutable c40 = Vector512<float32>.Zero
    let mutable c41 = Vector512<float32>.Zero
    let mutable c42 = Vector512<float32>.Zero
    let mutable c43 = Vector512<float32>.Zero
    let mutable c50 = Vector512<float32>.Zero
    let mutable c51 = Vector512<float32>.Zero
    let mutable c52 = Vector512<float32>.Zero
    let mutable c53 = Vector512<float32>.Zero
    let mutable l0 = lp
    let mutable l1 = pAdd lp ((min 1 (h - 1)) * lrs)
    let mutable l2 = pAdd lp ((min 2 (h - 1)) * lrs)
    let mutable l3 = pAdd lp ((min 3 (h - 1)) * lrs)
    let mutable l4 = pAdd lp ((min 4 (h - 1)) * lrs)
    let mutable l5 = pAdd lp ((min 5 (h - 1)) * lrs)
    let mutable r = rp
    let mutable p = 0
    while p < kc do
        let b0 = Vector512.Load r
        let b1 = Vector512.Load(pAdd r 16)
        let b2 = Vector512.Load(pAdd r 32)
        let b3 = Vector512.Load(pAdd r 48)
        let a0 = Vector512.Create(NativePtr.read l0)
        c00 <- Vector512.FusedMultiplyAdd(a0, b0, c00)
        c01 <- Vector512.FusedMultiplyAdd(a0, b1, c01)
        c02 <- Vector512.FusedMultiplyAdd(a0, b2, c02)
        c03 <- Vector512.FusedMultiplyAdd(a0, b3, c03)
        let a1 = Vector512.Create(NativePtr.read l1)
        c10 <- Vector512.FusedMultiplyAdd(a1, b0, c10)
        c11 <- Vector512.FusedMultiplyAdd(a1, b1, c11)
        c12 <- Vector512.FusedMultiplyAdd(a1, b2, c12)
        c13 <- Vector512.FusedMultiplyAdd(a1, b3, c13)
        let a2 = Vector512.Create(NativePtr.read l2)
        c20 <- Vector512.FusedMultiplyAdd(a2, b0, c20)
        c21 <- Vector512.FusedMultiplyAdd(a2, b1, c21)
        c22 <- Vector512.FusedMultiplyAdd(a2, b2, c22)
        c23 <- Vector512.FusedMultiplyAdd(a2, b3, c23)
        let a3 = Vector512.Create(NativePtr.read l3)
        c30 <- Vector512.FusedMultiplyAdd(a3, b0, c30)
        c31 <- Vector512.FusedMultiplyAdd(a3, b1, c31)
        c32 <- Vector512.FusedMultiplyAdd(a3, b2, c32)
        c33 <- Vector512.FusedMultiplyAdd(a3, b3, c33)
        let a4 = Vector512.Create(NativePtr.read l4)
        c40 <- Vector512.FusedMultiplyAdd(a4, b0, c40)
        c41 <- Vector512.FusedMultiplyAdd(a4, b1, c41)
        c42 <- Vector512.FusedMultiplyAdd(a4, b2, c42)
        c43 <- Vector512.FusedMultiplyAdd(a4, b3, c43)
        let a5 = Vector512.Create(NativePtr.read l5)
        c50 <- Vector512.FusedMultiplyAdd(a5, b0, c50)
        c51 <- Vector512.FusedMultiplyAdd(a5, b1, c51)
        c52 <- Vector512.FusedMultiplyAdd(a5, b2, c52)
        c53 <- Vector512.FusedMultiplyAdd(a5, b3, c53)
        l0 <- pAdd l0 lks
        l1 <- pAdd l1 lks
        l2 <- pAdd l2 lks
        l3 <- pAdd l3 lks
        l4 <- pAdd l4 lks
        l5 <- pAdd l5 lks
        r <- pAdd r rstride
        p <- p + 1
    let inline put (row: int) (v: int) (x: Vector512<float32>) =
        let d = pAdd dst (row * ldd + v * 16)
        if overwrite then Vector512.Store(x, d) else Vector512.Store(Vector512.Load d + x, d)
    put 0 0 c00; put 0 1 c01; put 0 2 c02; put 0 3 c03
    put 1 0 c10; put 1 1 c11; put 1 2 c12; put 1 3 c13
    put 2 0 c20; put 2 1 c21; put 2 2 c22; put 2 3 c23
    put 3 0 c30; put 3 1 c31; put 3 2 c32; put 3 3 c33
    put 4 0 c40; put 4 1 c41; put 4 2 c42; put 4 3 c43
    put 5 0 c50; put 5 1 c51; put 5 2 c52; put 5 3 c53

/// The 6 x 16 micro-kernel on 256-bit vectors (12 ymm accumulators + 2 + 1 of 16 registers).
let kernel256 (kc: int) (lp: nativeptr<float32>) (lrs: int) (lks: int) (h: int) (rp: nativeptr<float32>) (rstride: int) (dst: nativeptr<float32>) (ldd: int) (overwrite: bool) =
    let mutable c00 = Vector256<float32>.Zero
    let mutable c01 = Vector256<float32>.Zero
    let mutable c10 = Vector256<float32>.Zero
    let mutable c11 = Vector256<float32>.Zero
    let mutable c20 = Vector256<float32>.Zero
    let mutable c21 = Vector256<float32>.Zero
    let mutable c30 = Vector256<float32>.Zero
    let mutable c31 = Vector256<float32>.Zero
    let mutable c40 = Vector256<float32>.Zero
    let mutable c41 = Vector256<float32>.Zero
    let mutable c50 = Vector256<float32>.Zero
    let mutable c51 = Vector256<float32>.Zero
    let mutable l0 = lp
    let mutable l1 = pAdd lp ((min 1 (h - 1)) * lrs)
    let mutable l2 = pAdd lp ((min 2 (h - 1)) * lrs)
    let mutable l3 = pAdd lp ((min 3 (h - 1)) * lrs)
    let mutable l4 = pAdd lp ((min 4 (h - 1)) * lrs)
    let mutable l5 = pAdd lp ((min 5 (h - 1)) * lrs)
    let mutable r = rp
    let mutable p = 0
    while p < kc do
        let b0 = Vector256.Load r
        let b1 = Vector256.Load(pAdd r 8)
        let a0 = Vector256.Create(NativePtr.read l0)
        c00 <- Vector256.FusedMultiplyAdd(a0, b0, c00)
        c01 <- Vector256.FusedMultiplyAdd(a0, b1, c01)
        let a1 = Vector256.Create(NativePtr.read l1)
        c10 <- Vector256.FusedMultiplyAdd(a1, b0, c10)
        c11 <- Vector256.FusedMultiplyAdd(a1, b1, c11)
        let a2 = Vector256.Create(NativePtr.read l2)
        c20 <- Vector256.FusedMultiplyAdd(a2, b0, c20)
        c21 <- Vector256.FusedMultiplyAdd(a2, b1, c21)
        let a3 = Vector256.Create(NativePtr.read l3)
        c30 <- Vector256.FusedMultiplyAdd(a3, b0, c30)
        c31 <- Vector256.FusedMultiplyAdd(a3, b1, c31)
        let a4 = Vector256.Create(NativePtr.read l4)
        c40 <- Vector256.FusedMultiplyAdd(a4, b0, c40)
        c41 <- Vector256.FusedMultiplyAdd(a4, b1, c41)
        let a5 = Vector256.Create(NativePtr.read l5)
        c50 <- Vector256.FusedMultiplyAdd(a5, b0, c50)
        c51 <- Vector256.FusedMultiplyAdd(a5, b1, c51)
        l0 <- pAdd l0 lks
        l1 <- pAdd l1 lks
        l2 <- pAdd l2 lks
        l3 <- pAdd l3 lks
        l4 <- pAdd l4 lks
        l5 <- pAdd l5 lks
        r <- pAdd r rstride
        p <- p + 1
    let inline put (row: int) (v: int) (x: Vector256<float32>) =
        let d = pAdd dst (row * ldd + v * 8)
        if overwrite then Vector256.Store(x, d) else Vector256.Store(Vector256.Load d + x, d)
    put 0 0 c00; put 0 1 c01; put 1 0 c10; put 1 1 c11; put 2 0 c20; put 2 1 c21
    put 3 0 c30; put 3 1 c31; put 4 0 c40; put 4 1 c41; put 5 0 c50; put 5 1 c51

/// Rows of a transposed L requested ahead of the one being packed.
[<Literal>]
let private PrefetchRows = 8

/// Distance between packed L micro-panels: MR*kc floats plus one cache line, so that the panels written side by
/// side by packL do not all fall into the same few L1 sets (MR*KC*4 = 6 KiB is a multiple of the set stride).
let inline lPanelStride (kc: int) = MR * kc + 16

/// Pack rows [i0, i0+h) x k-range [p0, p0+kc) of an L whose columns are contiguous (lrs = 1, e.g. op(A) = A^T)
/// into MR-row micro-panels dst[q*lPanelStride + p*MR + r], zero-padding rows past h. The loop runs p-outer so each
/// stored row (one page apart from the next) is visited once per block; interior copies move 8 floats (the 2 extra
/// land in the next p's slot, which is written afterwards). `rowsTotal` bounds reads.
let packL (l: nativeptr<float32>) (lks: int) (rowsTotal: int) (i0: int) (h: int) (p0: int) (kc: int) (dst: nativeptr<float32>) =
    let panels = (h + MR - 1) / MR
    let ps = lPanelStride kc
    for p in 0 .. kc - 1 do
        let s = pAdd l (i0 + (p0 + p) * lks)
        // each stored row gives only a short segment, too short for the hardware prefetchers to ramp up:
        // request the segment PrefetchRows rows ahead
        if Sse.IsSupported && p + PrefetchRows < kc then
            let ahead = pAdd s (PrefetchRows * lks)
            let mutable o = 0
            while o < h do
                Sse.Prefetch0(NativePtr.toVoidPtr (pAdd ahead o))
                o <- o + 16
        for q in 0 .. panels - 1 do
            let d = pAdd dst (q * ps + p * MR)
            let r0 = q * MR
            if r0 + MR <= h && p < kc - 1 && i0 + r0 + 8 <= rowsTotal then
                Vector256.Store(Vector256.Load(pAdd s r0), d)
            else
                for r in 0 .. MR - 1 do NativePtr.set d r (if r0 + r < h then NativePtr.get s (r0 + r) else 0.0f)

/// 16 x 16 transpose in registers (unpack 32-bit, unpack 64-bit, two rounds of 128-bit lane shuffles): reads 16
/// rows of 16 floats (src + t*lds), writes the 16 columns as rows (dst + c*ldd).
let private transpose16 (src: nativeptr<float32>) (lds: int) (dst: nativeptr<float32>) (ldd: int) =
    let inline ld t = Vector512.Load(pAdd src (t * lds))
    let inline lo (a: Vector512<float32>) (b: Vector512<float32>) = Avx512F.UnpackLow(a, b)
    let inline hi (a: Vector512<float32>) (b: Vector512<float32>) = Avx512F.UnpackHigh(a, b)
    let inline lo2 (a: Vector512<float32>) (b: Vector512<float32>) = Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle()
    let inline hi2 (a: Vector512<float32>) (b: Vector512<float32>) = Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle()
    let inline sh (a: Vector512<float32>) (b: Vector512<float32>) (ctl: byte) = Avx512F.Shuffle4x128(a, b, ctl)
    // stage 1: t[2i] / t[2i+1] interleave rows 2i and 2i+1
    let r0, r1, r2, r3 = ld 0, ld 1, ld 2, ld 3
    let t0, t1, t2, t3 = lo r0 r1, hi r0 r1, lo r2 r3, hi r2 r3
    let r4, r5, r6, r7 = ld 4, ld 5, ld 6, ld 7
    let t4, t5, t6, t7 = lo r4 r5, hi r4 r5, lo r6 r7, hi r6 r7
    let r8, r9, r10, r11 = ld 8, ld 9, ld 10, ld 11
    let t8, t9, t10, t11 = lo r8 r9, hi r8 r9, lo r10 r11, hi r10 r11
    let r12, r13, r14, r15 = ld 12, ld 13, ld 14, ld 15
    let t12, t13, t14, t15 = lo r12 r13, hi r12 r13, lo r14 r15, hi r14 r15
    // stage 2: u[4i + c], 128-bit lane L = column 4L + c of rows 4i..4i+3
    let u0, u1, u2, u3 = lo2 t0 t2, hi2 t0 t2, lo2 t1 t3, hi2 t1 t3
    let u4, u5, u6, u7 = lo2 t4 t6, hi2 t4 t6, lo2 t5 t7, hi2 t5 t7
    let u8, u9, u10, u11 = lo2 t8 t10, hi2 t8 t10, lo2 t9 t11, hi2 t9 t11
    let u12, u13, u14, u15 = lo2 t12 t14, hi2 t12 t14, lo2 t13 t15, hi2 t13 t15
    // stage 3: gather lane L of u[c], u[4+c], u[8+c], u[12+c] into output row 4L + c
    let inline finish (c: int) (a: Vector512<float32>) (b: Vector512<float32>) (e: Vector512<float32>) (f: Vector512<float32>) =
        let v0 = sh a b 0x88uy
        let v1 = sh a b 0xDDuy
        let w0 = sh e f 0x88uy
        let w1 = sh e f 0xDDuy
        Vector512.Store(sh v0 w0 0x88uy, pAdd dst (c * ldd))
        Vector512.Store(sh v1 w1 0x88uy, pAdd dst ((4 + c) * ldd))
        Vector512.Store(sh v0 w0 0xDDuy, pAdd dst ((8 + c) * ldd))
        Vector512.Store(sh v1 w1 0xDDuy, pAdd dst ((12 + c) * ldd))
    finish 0 u0 u4 u8 u12
    finish 1 u1 u5 u9 u13
    finish 2 u2 u6 u10 u14
    finish 3 u3 u7 u11 u15

/// Pack k-range [p0, p0+kc) x columns [j0, j0+w) of R (element (p, j) at r[p*rks + j*rcs]) into a micro-panel
/// dst[p*nr + c], zero-padding columns past w.
let packR (r: nativeptr<float32>) (rks: int) (rcs: int) (p0: int) (kc: int) (j0: int) (w: int) (nr: int) (dst: nativeptr<float32>) =
    if rcs = 1 && w = nr then
        for p in 0 .. kc - 1 do
            let s = pAdd r ((p0 + p) * rks + j0)
            let d = pAdd dst (p * nr)
            if nr = 64 then
                Vector512.Store(Vector512.Load s, d)
                Vector512.Store(Vector512.Load(pAdd s 16), pAdd d 16)
                Vector512.Store(Vector512.Load(pAdd s 32), pAdd d 32)
                Vector512.Store(Vector512.Load(pAdd s 48), pAdd d 48)
            else
                for q in 0 .. nr - 1 do NativePtr.set d q (NativePtr.get s q)
    elif rcs = 1 then
        for p in 0 .. kc - 1 do
            let s = pAdd r ((p0 + p) * rks + j0)
            let d = pAdd dst (p * nr)
            for q in 0 .. nr - 1 do NativePtr.set d q (if q < w then NativePtr.get s q else 0.0f)
    else
        // columns of R are contiguous along p (rks = 1 after a transpose): transpose 16 x 16 blocks
        let full16 = if rks = 1 && Avx512F.IsSupported then kc / 16 * 16 else 0
        let mutable q0 = 0
        while q0 < nr do
            if q0 + 16 <= w && full16 > 0 then
                let mutable pb = 0
                while pb < full16 do
                    transpose16 (pAdd r ((p0 + pb) + (j0 + q0) * rcs)) rcs (pAdd dst (pb * nr + q0)) nr
                    pb <- pb + 16
            let pStart = if q0 + 16 <= w then full16 else 0
            // the remaining p (and partial column groups) in 16-row strips, scalar
            let mutable pb = pStart
            while pb < kc do
                let pe = min kc (pb + 16)
                for q in q0 .. min nr (q0 + 16) - 1 do
                    if q < w then
                        let s = pAdd r ((j0 + q) * rcs + p0 * rks)
                        for p in pb .. pe - 1 do NativePtr.set dst (p * nr + q) (NativePtr.get s (p * rks))
                    else
                        for p in pb .. pe - 1 do NativePtr.set dst (p * nr + q) 0.0f
                pb <- pe
            q0 <- q0 + 16

/// Rows and columns of a dot-kernel tile.
[<Literal>]
let DR = 6
[<Literal>]
let DC = 4

/// The 6 x 4 dot-product micro-kernel for narrow outputs: C[r, c] = sum_p L[r, p] M[c, p] with both L rows and M rows
/// contiguous along p (lp + r*lrs, mp + c*mrs), vectorised along p (24 zmm accumulators of 16 lanes, 4 M vectors
/// and 1 L vector live), so no lanes are wasted when C has only a few columns. The lanes are summed at the end
/// (Vector512.Sum, a fixed tree) and the p past the last multiple of 16 are added in order. Rows at or past h and
/// columns at or past w repeat the last valid one; only the valid h x w sums are stored (= or +=, dst rows ldd
/// apart).
let dotKernel (k: int) (lp: nativeptr<float32>) (lrs: int) (h: int) (mp: nativeptr<float32>) (mrs: int) (w: int)
              (dst: nativeptr<float32>) (ldd: int) (overwrite: bool) (sums: nativeptr<float32>) =
    let inline lrow r = pAdd lp ((min r (h - 1)) * lrs)
    let inline mrow c = pAdd mp ((min c (w - 1)) * mrs)
    let l0, l1, l2, l3, l4, l5 = lrow 0, lrow 1, lrow 2, lrow 3, lrow 4, lrow 5
    let m0, m1, m2, m3 = mrow 0, mrow 1, mrow 2, mrow 3
    let mutable c00 = Vector512<float32>.Zero
    let mutable c01 = Vector512<float32>.Zero
    let mutable c02 = Vector512<float32>.Zero
    let mutable c03 = Vector512<float32>.Zero
    let mutable c10 = Vector512<float32>.Zero
    let mutable c11 = Vector512<float32>.Zero
    let mutable c12 = Vector512<float32>.Zero
    let mutable c13 = Vector512<float32>.Zero
    let mutable c20 = Vector512<float32>.Zero
    let mutable c21 = Vector512<float32>.Zero
    let mutable c22 = Vector512<float32>.Zero
    let mutable c23 = Vector512<float32>.Zero
    let mutable c30 = Vector512<float32>.Zero
    let mutable c31 = Vector512<float32>.Zero
    let mutable c32 = Vector512<float32>.Zero
    let mutable c33 = Vector512<float32>.Zero
    let mutable c40 = Vector512<float32>.Zero
    let mutable c41 = Vector512<float32>.Zero
    let mutable c42 = Vector512<float32>.Zero
    let mutable c43 = Vector512<float32>.Zero
    let mutable c50 = Vector512<float32>.Zero
    let mutable c51 = Vector512<float32>.Zero
    let mutable c52 = Vector512<float32>.Zero
    let mutable c53 = Vector512<float32>.Zero
    let k16 = k / 16 * 16
    let mutable p = 0
    while p < k16 do
        let b0 = Vector512.Load(pAdd m0 p)
        let b1 = Vector512.Load(pAdd m1 p)
        let b2 = Vector512.Load(pAdd m2 p)
        let b3 = Vector512.Load(pAdd m3 p)
        let a = Vector512.Load(pAdd l0 p)
        c00 <- Vector512.FusedMultiplyAdd(a, b0, c00)
        c01 <- Vector512.FusedMultiplyAdd(a, b1, c01)
        c02 <- Vector512.FusedMultiplyAdd(a, b2, c02)
        c03 <- Vector512.FusedMultiplyAdd(a, b3, c03)
        let a = Vector512.Load(pAdd l1 p)
        c10 <- Vector512.FusedMultiplyAdd(a, b0, c10)
        c11 <- Vector512.FusedMultiplyAdd(a, b1, c11)
        c12 <- Vector512.FusedMultiplyAdd(a, b2, c12)
        c13 <- Vector512.FusedMultiplyAdd(a, b3, c13)
        let a = Vector512.Load(pAdd l2 p)
        c20 <- Vector512.FusedMultiplyAdd(a, b0, c20)
        c21 <- Vector512.FusedMultiplyAdd(a, b1, c21)
        c22 <- Vector512.FusedMultiplyAdd(a, b2, c22)
        c23 <- Vector512.FusedMultiplyAdd(a, b3, c23)
        let a = Vector512.Load(pAdd l3 p)
        c30 <- Vector512.FusedMultiplyAdd(a, b0, c30)
        c31 <- Vector512.FusedMultiplyAdd(a, b1, c31)
        c32 <- Vector512.FusedMultiplyAdd(a, b2, c32)
        c33 <- Vector512.FusedMultiplyAdd(a, b3, c33)
        let a = Vector512.Load(pAdd l4 p)
        c40 <- Vector512.FusedMultiplyAdd(a, b0, c40)
        c41 <- Vector512.FusedMultiplyAdd(a, b1, c41)
        c42 <- Vector512.FusedMultiplyAdd(a, b2, c42)
        c43 <- Vector512.FusedMultiplyAdd(a, b3, c43)
        let a = Vector512.Load(pAdd l5 p)
        c50 <- Vector512.FusedMultiplyAdd(a, b0, c50)
        c51 <- Vector512.FusedMultiplyAdd(a, b1, c51)
        c52 <- Vector512.FusedMultiplyAdd(a, b2, c52)
        c53 <- Vector512.FusedMultiplyAdd(a, b3, c53)
        p <- p + 16
    let inline put (i: int) (v: Vector512<float32>) = NativePtr.set sums i (Vector512.Sum v)
    put 0 c00; put 1 c01; put 2 c02; put 3 c03
    put 4 c10; put 5 c11; put 6 c12; put 7 c13
    put 8 c20; put 9 c21; put 10 c22; put 11 c23
    put 12 c30; put 13 c31; put 14 c32; put 15 c33
    put 16 c40; put 17 c41; put 18 c42; put 19 c43
    put 20 c50; put 21 c51; put 22 c52; put 23 c53
    for r in 0 .. h - 1 do
        let lr = lrow r
        let d = pAdd dst (r * ldd)
        for c in 0 .. w - 1 do
            let mc = mrow c
            let mutable s = NativePtr.get sums (r * DC + c)
            for q in k16 .. k - 1 do s <- s + NativePtr.get lr q * NativePtr.get mc q
            NativePtr.set d c (if overwrite then s else NativePtr.get d c + s)
