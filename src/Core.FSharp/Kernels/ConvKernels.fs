/// 2-D convolution and pooling kernels on NCHW float32 storage.
///
/// Convolution is im2col + GEMM (Chellapilla et al. 2006): a group of G samples is unrolled into a column matrix
/// col [C*kh*kw, G*OH*OW] (zeros where the window hangs over the padding), so the forward is one product
/// W [O, C*kh*kw] x col, and the two backwards are dW += dY_g x col^T and dcol = W^T x dY_g followed by col2im.
/// Batching G samples into one product keeps the GEMM wide enough to pay for itself on LeNet-sized layers
/// (OH*OW = 64 for LeNet's second convolution). G depends on the shapes only, the column buffers come from the
/// shared ArrayPool, and every unroll / fold / scatter task owns a disjoint (sample, channel) slice and walks it in a
/// fixed order, so results are bit-identical for any thread count. The weight gradient sums over groups in batch
/// order (GEMM with beta = 1), within a group in the GEMM's fixed k order.
module GcnKd.Kernels.ConvKernels

#nowarn "9"

open System
open System.Buffers
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd

/// Geometry of one convolution: input [N,C,H,W], weight [O,C,KH,KW], output [N,O,OH,OW].
[<Struct>]
type ConvGeom =
    { N: int; C: int; H: int; W: int; O: int; KH: int; KW: int; Stride: int; Pad: int; OH: int; OW: int }
    member g.Ckk = g.C * g.KH * g.KW
    member g.Ohw = g.OH * g.OW

/// Output extent of a window sweep: floor((size + 2 pad - kernel) / stride) + 1, or <= 0 when the window does not fit.
let outSize (size: int) (kernel: int) (stride: int) (pad: int) =
    let span = size + 2 * pad - kernel
    if span < 0 then 0 else span / stride + 1

let geom n c h w o kh kw stride pad =
    { N = n; C = c; H = h; W = w; O = o; KH = kh; KW = kw; Stride = stride; Pad = pad
      OH = outSize h kh stride pad; OW = outSize w kw stride pad }

/// Upper bound on a column buffer (floats): 2M floats = 8 MB, i.e. 145 samples per product for LeNet-5 conv1 and
/// 65 for conv2.
[<Literal>]
let private MaxColFloats = 2097152

/// Samples per GEMM: as many as fit the column budget (a function of the shapes only).
let groupSize (g: ConvGeom) = max 1 (min g.N (MaxColFloats / max 1 (g.Ckk * g.Ohw)))

/// The range [lo, hi) of output positions along one axis whose input coordinate o*stride - pad + k lies in [0, size).
let inline private validRange (size: int) (outN: int) (stride: int) (pad: int) (k: int) =
    let lo = if pad - k <= 0 then 0 else (pad - k + stride - 1) / stride
    let last = size - 1 + pad - k
    let hi = if last < 0 then 0 else min outN (last / stride + 1)
    let lo = min lo hi
    struct (lo, hi)

/// Unroll samples n0 .. n0+cnt-1 into col [Ckk, cnt*Ohw] (row (c, ki, kj), column (sample, oh, ow)).
let private im2col (g: ConvGeom) (x: float32[]) (n0: int) (cnt: int) (col: float32[]) =
    let ld = cnt * g.Ohw
    Threads.For(cnt * g.C, g.KH * g.KW * g.Ohw, Action<int, int>(fun lo hi ->
        let cs = Span<float32>(col)
        let xs = ReadOnlySpan<float32>(x)
        for t in lo .. hi - 1 do
            let s, c = t / g.C, t % g.C
            let plane = ((n0 + s) * g.C + c) * g.H * g.W
            for ki in 0 .. g.KH - 1 do
                let struct (ohLo, ohHi) = validRange g.H g.OH g.Stride g.Pad ki
                for kj in 0 .. g.KW - 1 do
                    let struct (owLo, owHi) = validRange g.W g.OW g.Stride g.Pad kj
                    let rowBase = ((c * g.KH + ki) * g.KW + kj) * ld + s * g.Ohw
                    cs.Slice(rowBase, ohLo * g.OW).Clear()
                    cs.Slice(rowBase + ohHi * g.OW, (g.OH - ohHi) * g.OW).Clear()
                    for oh in ohLo .. ohHi - 1 do
                        let dst = rowBase + oh * g.OW
                        let src = plane + (oh * g.Stride - g.Pad + ki) * g.W - g.Pad + kj
                        cs.Slice(dst, owLo).Clear()
                        cs.Slice(dst + owHi, g.OW - owHi).Clear()
                        if g.Stride = 1 then
                            xs.Slice(src + owLo, owHi - owLo).CopyTo(cs.Slice(dst + owLo, owHi - owLo))
                        else
                            for ow in owLo .. owHi - 1 do cs.[dst + ow] <- xs.[src + ow * g.Stride]))

/// Fold dcol [Ckk, cnt*Ohw] back onto dx for samples n0 .. n0+cnt-1 (adjoint of im2col: overlapping windows add).
/// Each task owns one (sample, channel) plane and adds in (ki, kj, oh, ow) order.
let private col2im (g: ConvGeom) (dcol: float32[]) (n0: int) (cnt: int) (dx: float32[]) =
    let ld = cnt * g.Ohw
    Threads.For(cnt * g.C, g.KH * g.KW * g.Ohw, Action<int, int>(fun lo hi ->
        use pc = fixed dcol
        use px = fixed dx
        for t in lo .. hi - 1 do
            let s, c = t / g.C, t % g.C
            let plane = ((n0 + s) * g.C + c) * g.H * g.W
            for ki in 0 .. g.KH - 1 do
                let struct (ohLo, ohHi) = validRange g.H g.OH g.Stride g.Pad ki
                for kj in 0 .. g.KW - 1 do
                    let struct (owLo, owHi) = validRange g.W g.OW g.Stride g.Pad kj
                    let rowBase = ((c * g.KH + ki) * g.KW + kj) * ld + s * g.Ohw
                    for oh in ohLo .. ohHi - 1 do
                        let src = rowBase + oh * g.OW
                        let dst = plane + (oh * g.Stride - g.Pad + ki) * g.W - g.Pad + kj
                        if g.Stride = 1 then
                            Simd.axpyRange 1.0f (Simd.ptr pc (src + owLo)) (Simd.ptr px (dst + owLo)) (owHi - owLo)
                        else
                            for ow in owLo .. owHi - 1 do
                                let i = dst + ow * g.Stride
                                NativePtr.set px i (NativePtr.get px i + NativePtr.get pc (src + ow))))

/// y [N,O,OH,OW] = conv(x, w) + bias (bias may be null).
let conv2dForward (g: ConvGeom) (x: float32[]) (w: float32[]) (bias: float32[]) =
    let y = GC.AllocateUninitializedArray<float32>(g.N * g.O * g.Ohw) // every element is written below
    let gs = groupSize g
    let col = ArrayPool<float32>.Shared.Rent(g.Ckk * gs * g.Ohw)
    let tmp = ArrayPool<float32>.Shared.Rent(g.O * gs * g.Ohw)
    try
        for n0 in 0 .. gs .. g.N - 1 do
            let cnt = min gs (g.N - n0)
            let ld = cnt * g.Ohw
            im2col g x n0 cnt col
            Gemm.gemm false false g.O ld g.Ckk w 0 col 0 0.0f tmp 0
            // scatter [O, cnt*Ohw] into NCHW, adding the bias
            Threads.For(cnt * g.O, g.Ohw, Action<int, int>(fun lo hi ->
                use pt = fixed tmp
                use py = fixed y
                let ohw = g.Ohw
                for t in lo .. hi - 1 do
                    let s, o = t / g.O, t % g.O
                    let b = if isNull bias then 0.0f else bias.[o]
                    let vb, wb = Vector512.Create b, Vector256.Create b
                    Simd.mapRange (Simd.ptr pt (o * ld + s * ohw)) (Simd.ptr py (((n0 + s) * g.O + o) * ohw)) 0 ohw
                        (fun v -> v + vb) (fun v -> v + wb) (fun v -> v + b)))
    finally
        ArrayPool<float32>.Shared.Return col
        ArrayPool<float32>.Shared.Return tmp
    y

/// Gradients of the input (if needX) and of the weight (if needW) from dy [N,O,OH,OW]; null where not needed.
let conv2dBackward (g: ConvGeom) (x: float32[]) (w: float32[]) (dy: float32[]) (needX: bool) (needW: bool) =
    let dx = if needX then Array.zeroCreate<float32> (g.N * g.C * g.H * g.W) else null
    // dw is overwritten by the first group's product (beta = 0); zeroed only when there is no group
    let dw = if not needW then null elif g.N > 0 then GC.AllocateUninitializedArray<float32>(g.O * g.Ckk) else Array.zeroCreate (g.O * g.Ckk)
    if needX || needW then
        let gs = groupSize g
        let col = ArrayPool<float32>.Shared.Rent(g.Ckk * gs * g.Ohw)
        let dyg = ArrayPool<float32>.Shared.Rent(g.O * gs * g.Ohw)
        try
            for n0 in 0 .. gs .. g.N - 1 do
                let cnt = min gs (g.N - n0)
                let ld = cnt * g.Ohw
                // gather dY for the group as [O, cnt*Ohw]
                Threads.For(cnt * g.O, g.Ohw, Action<int, int>(fun lo hi ->
                    for t in lo .. hi - 1 do
                        let s, o = t / g.O, t % g.O
                        Array.Copy(dy, ((n0 + s) * g.O + o) * g.Ohw, dyg, o * ld + s * g.Ohw, g.Ohw)))
                if needW then
                    // dW [O, Ckk] (+)= dY_g [O, ld] x col^T, col stored [Ckk, ld]
                    im2col g x n0 cnt col
                    Gemm.gemm false true g.O g.Ckk ld dyg 0 col 0 (if n0 = 0 then 0.0f else 1.0f) dw 0
                if needX then
                    // dcol [Ckk, ld] = W^T x dY_g, W stored [O, Ckk]
                    Gemm.gemm true false g.Ckk ld g.O w 0 dyg 0 0.0f col 0
                    col2im g col n0 cnt dx
            finally
            ArrayPool<float32>.Shared.Return col
            ArrayPool<float32>.Shared.Return dyg
    struct (dx, dw)

/// dBias[o] = sum over samples (in order) of the sum over the output plane.
let conv2dBackwardBias (g: ConvGeom) (dy: float32[]) =
    let db = Array.zeroCreate<float32> g.O
    Threads.For(g.O, g.N * g.Ohw, Action<int, int>(fun lo hi ->
        use p = fixed dy
        for o in lo .. hi - 1 do
            let mutable acc = 0.0
            for n in 0 .. g.N - 1 do
                acc <- acc + float (Simd.sumRange (Simd.ptr p ((n * g.O + o) * g.Ohw)) g.Ohw)
            db.[o] <- float32 acc))
    db

// ---------------------------------------------------------------------------------------------------------------
// Pooling over `planes` = N*C independent H x W planes, square window `k`, stride `s`, no padding (floor mode).

// Each plane is handled by a plain function of native pointers and int arguments (kept in registers, unlike
// closure fields), called from the parallel loop.

let private maxPlane (x: nativeptr<float32>) (y: nativeptr<float32>) (arg: nativeptr<int>) (h: int) (w: int) (k: int) (s: int) (oh: int) (ow: int) =
    for i in 0 .. oh - 1 do
        for j in 0 .. ow - 1 do
            let first = (i * s) * w + j * s
            let mutable best = NativePtr.get x first
            let mutable bi = first
            for a in 0 .. k - 1 do
                let row = first + a * w
                for b in 0 .. k - 1 do
                    let v = NativePtr.get x (row + b)
                    // PyTorch's rule: a larger value or a NaN takes over (a chosen NaN yields only to another NaN)
                    if v > best || v <> v then
                        best <- v
                        bi <- row + b
            NativePtr.set y (i * ow + j) best
            NativePtr.set arg (i * ow + j) bi

/// Max pooling. Returns the output and, per output element, the index within its plane of the chosen input
/// (for the backward).
let maxPoolForward (planes: int) (h: int) (w: int) (k: int) (s: int) (x: float32[]) =
    let oh, ow = outSize h k s 0, outSize w k s 0
    let y = GC.AllocateUninitializedArray<float32>(planes * oh * ow)
    let arg = GC.AllocateUninitializedArray<int>(planes * oh * ow)
    Threads.For(planes, oh * ow * k * k, Action<int, int>(fun lo hi ->
        use px = fixed x
        use py = fixed y
        use pa = fixed arg
        for pl in lo .. hi - 1 do
            maxPlane (NativePtr.add px (pl * h * w)) (NativePtr.add py (pl * oh * ow)) (NativePtr.add pa (pl * oh * ow)) h w k s oh ow))
    y, arg

/// Max-pool backward: each output's cotangent goes to its chosen input (added, as windows may overlap).
let maxPoolBackward (planes: int) (h: int) (w: int) (oh: int) (ow: int) (arg: int[]) (dy: float32[]) =
    let dx = Array.zeroCreate<float32> (planes * h * w)
    Threads.For(planes, oh * ow, Action<int, int>(fun lo hi ->
        use px = fixed dx
        use py = fixed dy
        use pa = fixed arg
        for pl in lo .. hi - 1 do
            let dxp = NativePtr.add px (pl * h * w)
            let o0 = pl * oh * ow
            for o in o0 .. o0 + oh * ow - 1 do
                let i = NativePtr.get pa o
                NativePtr.set dxp i (NativePtr.get dxp i + NativePtr.get py o)))
    dx

let private avgPlane (x: nativeptr<float32>) (y: nativeptr<float32>) (w: int) (k: int) (s: int) (oh: int) (ow: int) (inv: float32) =
    for i in 0 .. oh - 1 do
        for j in 0 .. ow - 1 do
            let first = (i * s) * w + j * s
            let mutable acc = 0.0f
            for a in 0 .. k - 1 do
                let row = first + a * w
                for b in 0 .. k - 1 do acc <- acc + NativePtr.get x (row + b)
            NativePtr.set y (i * ow + j) (acc * inv)

/// Average pooling: the mean of each k x k window.
let avgPoolForward (planes: int) (h: int) (w: int) (k: int) (s: int) (x: float32[]) =
    let oh, ow = outSize h k s 0, outSize w k s 0
    let y = GC.AllocateUninitializedArray<float32>(planes * oh * ow)
    let inv = 1.0f / float32 (k * k)
    Threads.For(planes, oh * ow * k * k, Action<int, int>(fun lo hi ->
        use px = fixed x
        use py = fixed y
        for pl in lo .. hi - 1 do
            avgPlane (NativePtr.add px (pl * h * w)) (NativePtr.add py (pl * oh * ow)) w k s oh ow inv))
    y

let private avgPlaneBack (dy: nativeptr<float32>) (dx: nativeptr<float32>) (w: int) (k: int) (s: int) (oh: int) (ow: int) (inv: float32) =
    for i in 0 .. oh - 1 do
        for j in 0 .. ow - 1 do
            let v = NativePtr.get dy (i * ow + j) * inv
            let first = (i * s) * w + j * s
            for a in 0 .. k - 1 do
                let row = first + a * w
                for b in 0 .. k - 1 do NativePtr.set dx (row + b) (NativePtr.get dx (row + b) + v)

/// Average-pool backward: each output's cotangent, divided by k^2, is added to its whole window.
let avgPoolBackward (planes: int) (h: int) (w: int) (k: int) (s: int) (dy: float32[]) =
    let oh, ow = outSize h k s 0, outSize w k s 0
    let dx = Array.zeroCreate<float32> (planes * h * w)
    let inv = 1.0f / float32 (k * k)
    Threads.For(planes, oh * ow * k * k, Action<int, int>(fun lo hi ->
        use py = fixed dy
        use px = fixed dx
        for pl in lo .. hi - 1 do
            avgPlaneBack (NativePtr.add py (pl * oh * ow)) (NativePtr.add px (pl * h * w)) w k s oh ow inv))
    dx
