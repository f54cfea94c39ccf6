/// Batch normalisation (Ioffe & Szegedy 2015) over channel axis 1 of [N,C] or [N,C,H,W] (any rank >= 2), with
/// PyTorch's semantics: training normalises with the biased batch variance and updates the running variance with
/// the unbiased one, new = (1 - momentum) old + momentum batch. The running statistics are an explicit value passed
/// in and returned (equinox style), never hidden state.
///
/// The training backward is the fused closed form (m values per channel, x^ = (x - mu) / sigma):
///   dbeta = sum g,  dgamma = sum g x^,  dx = gamma / sigma (g - dbeta / m - x^ dgamma / m)
/// in one reduction pass and one elementwise pass, not a chain of small ops. Per-channel sums run in double. For
/// [N, C, ...] each channel has one owning thread and walks the samples in order; for [N, C] (inner size 1) the
/// passes go row-major with channels on the vector lanes, over fixed 256-row blocks combined in block order. Either
/// way results do not depend on the thread count.
namespace GcnKd

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd.Kernels

/// Running statistics of a batch-norm layer, per channel [C]: state, not parameters (no gradient flows into them).
type BatchNormStats = { Mean: Tensor; Var: Tensor }

/// The learned affine transform of a batch-norm layer, per channel [C].
type BatchNormParams = { Gamma: Tensor; Beta: Tensor }

[<RequireQualifiedAccess>]
module BatchNorm =

    let inline private ptr (p: nativeptr<float32>) (i: int) = NativePtr.add p i

    /// sum (x - mu)^2 over x[0..n)
    let private sqDevRange (x: nativeptr<float32>) (n: int) (mu: float32) =
        let mutable i = 0
        let mutable acc = 0.0f
        if Vector512.IsHardwareAccelerated && n >= 16 then
            let vm = Vector512.Create mu
            let mutable v = Vector512<float32>.Zero
            while i + 16 <= n do
                let d = Vector512.Load(ptr x i) - vm
                v <- Vector512.FusedMultiplyAdd(d, d, v)
                i <- i + 16
            acc <- Vector512.Sum v
        elif Vector256.IsHardwareAccelerated && n >= 8 then
            let vm = Vector256.Create mu
            let mutable v = Vector256<float32>.Zero
            while i + 8 <= n do
                let d = Vector256.Load(ptr x i) - vm
                v <- Vector256.FusedMultiplyAdd(d, d, v)
                i <- i + 8
            acc <- Vector256.Sum v
        while i < n do
            let d = NativePtr.get x i - mu
            acc <- acc + d * d
            i <- i + 1
        float acc

    /// sum g (x - mu) over [0..n)
    let private dotDevRange (g: nativeptr<float32>) (x: nativeptr<float32>) (n: int) (mu: float32) =
        let mutable i = 0
        let mutable acc = 0.0f
        if Vector512.IsHardwareAccelerated && n >= 16 then
            let vm = Vector512.Create mu
            let mutable v = Vector512<float32>.Zero
            while i + 16 <= n do
                v <- Vector512.FusedMultiplyAdd(Vector512.Load(ptr g i), Vector512.Load(ptr x i) - vm, v)
                i <- i + 16
            acc <- Vector512.Sum v
        elif Vector256.IsHardwareAccelerated && n >= 8 then
            let vm = Vector256.Create mu
            let mutable v = Vector256<float32>.Zero
            while i + 8 <= n do
                v <- Vector256.FusedMultiplyAdd(Vector256.Load(ptr g i), Vector256.Load(ptr x i) - vm, v)
                i <- i + 8
            acc <- Vector256.Sum v
        while i < n do
            acc <- acc + NativePtr.get g i * (NativePtr.get x i - mu)
            i <- i + 1
        float acc

    /// y[0..n) = (x - mu) s + t
    let private normRange (x: nativeptr<float32>) (y: nativeptr<float32>) (n: int) (mu: float32) (s: float32) (t: float32) =
        let mutable i = 0
        if Vector512.IsHardwareAccelerated then
            let vm, vs, vt = Vector512.Create mu, Vector512.Create s, Vector512.Create t
            while i + 16 <= n do
                Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(ptr x i) - vm, vs, vt), ptr y i)
                i <- i + 16
        elif Vector256.IsHardwareAccelerated then
            let vm, vs, vt = Vector256.Create mu, Vector256.Create s, Vector256.Create t
            while i + 8 <= n do
                Vector256.Store(Vector256.FusedMultiplyAdd(Vector256.Load(ptr x i) - vm, vs, vt), ptr y i)
                i <- i + 8
        while i < n do
            NativePtr.set y i (MathF.FusedMultiplyAdd(NativePtr.get x i - mu, s, t))
            i <- i + 1

    /// dx[0..n) = a g - (b (x - mu) + c)
    let private dxRange (g: nativeptr<float32>) (x: nativeptr<float32>) (dx: nativeptr<float32>) (n: int) (a: float32) (b: float32) (mu: float32) (c: float32) =
        let mutable i = 0
        if Vector512.IsHardwareAccelerated then
            let va, vb, vm, vc = Vector512.Create a, Vector512.Create b, Vector512.Create mu, Vector512.Create c
            while i + 16 <= n do
                let r = Vector512.FusedMultiplyAdd(Vector512.Load(ptr x i) - vm, vb, vc)
                Vector512.Store(Vector512.FusedMultiplyAdd(va, Vector512.Load(ptr g i), -r), ptr dx i)
                i <- i + 16
        elif Vector256.IsHardwareAccelerated then
            let va, vb, vm, vc = Vector256.Create a, Vector256.Create b, Vector256.Create mu, Vector256.Create c
            while i + 8 <= n do
                let r = Vector256.FusedMultiplyAdd(Vector256.Load(ptr x i) - vm, vb, vc)
                Vector256.Store(Vector256.FusedMultiplyAdd(va, Vector256.Load(ptr g i), -r), ptr dx i)
                i <- i + 8
        while i < n do
            let r = MathF.FusedMultiplyAdd(NativePtr.get x i - mu, b, c)
            NativePtr.set dx i (MathF.FusedMultiplyAdd(a, NativePtr.get g i, -r))
            i <- i + 1

    /// Per channel, the sum over samples (in order) of seg(pa, pb, offset, channel) over the channel's segment of
    /// each sample. Threads own disjoint channel ranges; samples are walked in the outer loop so [N, C] inputs are
    /// read row by row.
    let inline private channelSums (outer: int) (c: int) (inner: int) (a: float32[]) (b: float32[])
                                   ([<InlineIfLambda>] seg: nativeptr<float32> -> nativeptr<float32> -> int -> int -> float) =
        let acc = Array.zeroCreate<float> c
        Threads.For(c, outer * inner, Action<int, int>(fun lo hi ->
            use pa = fixed a
            use pb = fixed b
            for n in 0 .. outer - 1 do
                for ch in lo .. hi - 1 do
                    acc.[ch] <- acc.[ch] + seg pa pb ((n * c + ch) * inner) ch))
        acc

    /// Over every (sample, channel) segment in parallel: body(pa, pb, pout, offset, channel).
    let inline private perSegment (outer: int) (c: int) (inner: int) (a: float32[]) (b: float32[]) (out: float32[])
                                   ([<InlineIfLambda>] body: nativeptr<float32> -> nativeptr<float32> -> nativeptr<float32> -> int -> int -> unit) =
        Threads.For(outer * c, 4 * inner, Action<int, int>(fun lo hi ->
            use pa = fixed a
            use pb = fixed b
            use po = fixed out
            for t in lo .. hi - 1 do body pa pb po (t * inner) (t % c)))

    // ---- [N, C] fast path (inner = 1): row-major passes, channels along the vector lanes ----

    /// Rows per block of a per-channel reduction over [N, C]. Fixed (never derived from the thread count), so the
    /// block partials and their in-order combination are the same on any number of threads.
    [<Literal>]
    let private RowBlock = 256

    /// Per-channel sums over the rows of a row-major [n, c] matrix a (b the same shape, mu [c]), in double:
    ///   s1 = sum (a - mu)^2 if sq else sum a;   s2 = sum a (b - mu) if dot (else null).
    /// Each block of RowBlock rows accumulates its own partials (lanes = 16 channels, widened to two double
    /// vectors); blocks run in parallel and are combined serially in block order.
    let inline private rowSums (n: int) (c: int) (a: float32[]) (b: float32[]) (mu: float32[]) (sq: bool) (dot: bool) =
        let nb = (n + RowBlock - 1) / RowBlock
        let p1 = Array.zeroCreate<float> (nb * c)
        let p2 = Array.zeroCreate<float> (if dot then nb * c else 0)
        let cv = if Vector512.IsHardwareAccelerated then c - c % 16 else 0
        Threads.For(nb, RowBlock * c * (if dot then 4 else 2), Action<int, int>(fun lo hi ->
            use pa = fixed a
            use pb = fixed b
            use pm = fixed mu
            use q1 = fixed p1
            use q2 = fixed p2
            for blk in lo .. hi - 1 do
                let r0 = blk * RowBlock
                let r1 = min n (r0 + RowBlock)
                let o = blk * c
                let mutable j = 0
                while j < cv do
                    let vm = Vector512.Load(ptr pm j)
                    let mutable s1l = Vector512<float>.Zero
                    let mutable s1h = Vector512<float>.Zero
                    let mutable s2l = Vector512<float>.Zero
                    let mutable s2h = Vector512<float>.Zero
                    for r in r0 .. r1 - 1 do
                        let va = Vector512.Load(ptr pa (r * c + j))
                        if sq then
                            let d = va - vm
                            let dl, dh = Vector512.WidenLower d, Vector512.WidenUpper d
                            s1l <- Vector512.FusedMultiplyAdd(dl, dl, s1l)
                            s1h <- Vector512.FusedMultiplyAdd(dh, dh, s1h)
                        else
                            s1l <- s1l + Vector512.WidenLower va
                            s1h <- s1h + Vector512.WidenUpper va
                        if dot then
                            let d = Vector512.Load(ptr pb (r * c + j)) - vm
                            s2l <- Vector512.FusedMultiplyAdd(Vector512.WidenLower va, Vector512.WidenLower d, s2l)
                            s2h <- Vector512.FusedMultiplyAdd(Vector512.WidenUpper va, Vector512.WidenUpper d, s2h)
                    Vector512.Store(s1l, NativePtr.add q1 (o + j))
                    Vector512.Store(s1h, NativePtr.add q1 (o + j + 8))
                    if dot then
                        Vector512.Store(s2l, NativePtr.add q2 (o + j))
                        Vector512.Store(s2h, NativePtr.add q2 (o + j + 8))
                    j <- j + 16
                for ch in cv .. c - 1 do
                    let m = NativePtr.get pm ch
                    let mutable s1 = 0.0
                    let mutable s2 = 0.0
                    for r in r0 .. r1 - 1 do
                        let va = NativePtr.get pa (r * c + ch)
                        if sq then
                            let d = float (va - m)
                            s1 <- s1 + d * d
                        else s1 <- s1 + float va
                        if dot then s2 <- s2 + float va * float (NativePtr.get pb (r * c + ch) - m)
                    NativePtr.set q1 (o + ch) s1
                    if dot then NativePtr.set q2 (o + ch) s2))
        let combine (p: float[]) =
            let s = Array.zeroCreate<float> c
            for blk in 0 .. nb - 1 do
                for ch in 0 .. c - 1 do s.[ch] <- s.[ch] + p.[blk * c + ch]
            s
        combine p1, (if dot then combine p2 else null)

    /// out[r, ch] = (a[r, ch] - mu[ch]) s[ch] + t[ch] over a row-major [n, c] (the arithmetic of normRange).
    let private rowsAffine (n: int) (c: int) (a: float32[]) (mu: float32[]) (s: float32[]) (t: float32[]) (out: float32[]) =
        let cv = if Vector512.IsHardwareAccelerated then c - c % 16 else 0
        Threads.For(n, 4 * c, Action<int, int>(fun lo hi ->
            use pa = fixed a
            use pm = fixed mu
            use ps = fixed s
            use pt = fixed t
            use po = fixed out
            for r in lo .. hi - 1 do
                let row = r * c
                let mutable j = 0
                while j < cv do
                    let v = Vector512.FusedMultiplyAdd(Vector512.Load(ptr pa (row + j)) - Vector512.Load(ptr pm j), Vector512.Load(ptr ps j), Vector512.Load(ptr pt j))
                    Vector512.Store(v, ptr po (row + j))
                    j <- j + 16
                for ch in cv .. c - 1 do
                    NativePtr.set po (row + ch) (MathF.FusedMultiplyAdd(NativePtr.get pa (row + ch) - NativePtr.get pm ch, NativePtr.get ps ch, NativePtr.get pt ch))))

    /// dx[r, ch] = a[ch] g - (b[ch] (x - mu[ch]) + cc[ch]) over a row-major [n, c] (the arithmetic of dxRange).
    let private rowsDx (n: int) (c: int) (g: float32[]) (x: float32[]) (a: float32[]) (b: float32[]) (mu: float32[]) (cc: float32[]) (dx: float32[]) =
        let cv = if Vector512.IsHardwareAccelerated then c - c % 16 else 0
        Threads.For(n, 6 * c, Action<int, int>(fun lo hi ->
            use pg = fixed g
            use px = fixed x
            use pa = fixed a
            use pb = fixed b
            use pm = fixed mu
            use pc = fixed cc
            use pd = fixed dx
            for r in lo .. hi - 1 do
                let row = r * c
                let mutable j = 0
                while j < cv do
                    let q = Vector512.FusedMultiplyAdd(Vector512.Load(ptr px (row + j)) - Vector512.Load(ptr pm j), Vector512.Load(ptr pb j), Vector512.Load(ptr pc j))
                    Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(ptr pa j), Vector512.Load(ptr pg (row + j)), -q), ptr pd (row + j))
                    j <- j + 16
                for ch in cv .. c - 1 do
                    let q = MathF.FusedMultiplyAdd(NativePtr.get px (row + ch) - NativePtr.get pm ch, NativePtr.get pb ch, NativePtr.get pc ch)
                    NativePtr.set pd (row + ch) (MathF.FusedMultiplyAdd(NativePtr.get pa ch, NativePtr.get pg (row + ch), -q))))

    /// (N, C, inner) of x, checking that x has a channel axis.
    let private layout (op: string) (x: Tensor) =
        if x.Rank < 2 then
            invalidArg "x" (sprintf "%s: x must be [N, C] or [N, C, H, W] (channel axis 1), got shape %s" op (Shape.describe x.Shape))
        let outer, c, inner = Shape.aroundAxis x.Shape 1
        outer, c, inner

    let private checkChannels (op: string) (c: int) (x: Tensor) (name: string) (t: Tensor) =
        if t.Shape <> [| c |] then
            invalidArg name (sprintf "%s: %s must have shape [%d] (the channels of x %s), got %s"
                                 op name c (Shape.describe x.Shape) (Shape.describe t.Shape))

    /// Biased per-channel mean and variance in double (two passes: mean, then squared deviations).
    let private moments (outer: int) (c: int) (inner: int) (x: float32[]) =
        let m = float (outer * inner)
        if inner = 1 then
            let zero = Array.zeroCreate<float32> c
            let meanF = fst (rowSums outer c x x zero false false) |> Array.map (fun s -> float32 (s / m))
            meanF, fst (rowSums outer c x x meanF true false) |> Array.map (fun s -> s / m)
        else
        let mean = channelSums outer c inner x x (fun pa _ off _ -> float (Simd.sumRange (ptr pa off) inner)) |> Array.map (fun s -> s / m)
        let meanF = Array.map float32 mean
        let var = channelSums outer c inner x x (fun pa _ off ch -> sqDevRange (ptr pa off) inner meanF.[ch]) |> Array.map (fun s -> s / m)
        meanF, var

    /// Per channel (sum g, sum g (x - mu)), both in double: the reductions of every batch-norm backward.
    let private gradSums (outer: int) (c: int) (inner: int) (g: float32[]) (x: float32[]) (mu: float32[]) =
        if inner = 1 then rowSums outer c g x mu false true
        else
            channelSums outer c inner g g (fun pg _ off _ -> float (Simd.sumRange (ptr pg off) inner)),
            channelSums outer c inner g x (fun pg px off ch -> dotDevRange (ptr pg off) (ptr px off) inner mu.[ch])

    /// y = (x - mu[ch]) s[ch] + t[ch] per channel, into a fresh array.
    let private affine (outer: int) (c: int) (inner: int) (x: float32[]) (mu: float32[]) (s: float32[]) (t: float32[]) =
        // every element is written below, so skip zeroing the (possibly large) output
        let y = GC.AllocateUninitializedArray<float32> x.Length
        if inner = 1 then rowsAffine outer c x mu s t y
        else
            perSegment outer c inner x x y (fun px _ py off ch ->
                normRange (ptr px off) (ptr py off) inner mu.[ch] s.[ch] t.[ch])
        y

    /// Normalise with the batch's statistics; returns y and the updated running statistics.
    let train (momentum: float32) (eps: float32) (gamma: Tensor) (beta: Tensor) (running: BatchNormStats) (x: Tensor) : Tensor * BatchNormStats =
        let op = "BatchNorm.train"
        let outer, c, inner = layout op x
        checkChannels op c x "gamma" gamma
        checkChannels op c x "beta" beta
        checkChannels op c x "running.Mean" running.Mean
        checkChannels op c x "running.Var" running.Var
        let m = outer * inner
        if m < 2 then
            invalidArg "x" (sprintf "%s: expected more than 1 value per channel when training, got x of shape %s" op (Shape.describe x.Shape))
        let mean, var = moments outer c inner x.Data
        let invStd = var |> Array.map (fun v -> float32 (1.0 / sqrt (v + float eps)))
        let scale = Array.init c (fun ch -> gamma.Data.[ch] * invStd.[ch])
        let y = affine outer c inner x.Data mean scale beta.Data
        let unbias = float m / float (m - 1)
        let mom = float momentum
        let stats =
            { Mean = Tensor.Wrap([| c |], Array.init c (fun ch -> float32 ((1.0 - mom) * float running.Mean.Data.[ch] + mom * float mean.[ch])))
              Var = Tensor.Wrap([| c |], Array.init c (fun ch -> float32 ((1.0 - mom) * float running.Var.Data.[ch] + mom * var.[ch] * unbias))) }
        let out =
            Tensor.Make(Array.copy x.Shape, y, "batchNorm", [| x; gamma; beta |], fun g ->
                // per channel: sum g and sum g (x - mu)
                let sg, sgx = gradSums outer c inner g.Data x.Data mean
                let dx =
                    if not x.RequiresGrad then null
                    else
                        let fm = float m
                        let a = Array.init c (fun ch -> float gamma.Data.[ch] * float invStd.[ch])
                        let b = Array.init c (fun ch -> float32 (a.[ch] * float invStd.[ch] * float invStd.[ch] * sgx.[ch] / fm))
                        let cc = Array.init c (fun ch -> float32 (a.[ch] * sg.[ch] / fm))
                        let a = Array.map float32 a
                        let dx = GC.AllocateUninitializedArray<float32> x.Numel
                        if inner = 1 then rowsDx outer c g.Data x.Data a b mean cc dx
                        else
                            perSegment outer c inner g.Data x.Data dx (fun pg px pd off ch ->
                                dxRange (ptr pg off) (ptr px off) (ptr pd off) inner a.[ch] b.[ch] mean.[ch] cc.[ch])
                        Tensor.Wrap(x.Shape, dx)
                [| dx
                   (if gamma.RequiresGrad then Tensor.Wrap(gamma.Shape, Array.init c (fun ch -> float32 (sgx.[ch] * float invStd.[ch]))) else null)
                   (if beta.RequiresGrad then Tensor.Wrap(beta.Shape, Array.map float32 sg) else null) |])
        out, stats

    /// Normalise with the running statistics (inference): y = (x - mean) / sqrt(var + eps) gamma + beta.
    let eval (eps: float32) (gamma: Tensor) (beta: Tensor) (running: BatchNormStats) (x: Tensor) : Tensor =
        let op = "BatchNorm.eval"
        let outer, c, inner = layout op x
        checkChannels op c x "gamma" gamma
        checkChannels op c x "beta" beta
        checkChannels op c x "running.Mean" running.Mean
        checkChannels op c x "running.Var" running.Var
        let mean = running.Mean.Data
        let invStd = running.Var.Data |> Array.map (fun v -> float32 (1.0 / sqrt (float v + float eps)))
        let scale = Array.init c (fun ch -> gamma.Data.[ch] * invStd.[ch])
        let y = affine outer c inner x.Data mean scale beta.Data
        Tensor.Make(Array.copy x.Shape, y, "batchNormEval", [| x; gamma; beta |], fun g ->
            let dx =
                if not x.RequiresGrad then null
                else
                    let zero = Array.zeroCreate<float32> c
                    Tensor.Wrap(x.Shape, affine outer c inner g.Data zero scale zero)
            let sg, sgx =
                if gamma.RequiresGrad || beta.RequiresGrad then gradSums outer c inner g.Data x.Data mean else null, null
            let dgamma =
                if not gamma.RequiresGrad then null
                else Tensor.Wrap(gamma.Shape, Array.init c (fun ch -> float32 (sgx.[ch] * float invStd.[ch])))
            let dbeta = if not beta.RequiresGrad then null else Tensor.Wrap(beta.Shape, Array.map float32 sg)
            [| dx; dgamma; dbeta |])

    /// Differentiable per-channel batch mean and biased variance, each [C] (the statistics `train` normalises with).
    let batchStats (x: Tensor) : Tensor * Tensor =
        let outer, c, inner = layout "BatchNorm.batchStats" x
        let m = outer * inner
        if m < 1 then invalidArg "x" (sprintf "BatchNorm.batchStats: x of shape %s has no values per channel" (Shape.describe x.Shape))
        let mean, var = moments outer c inner x.Data
        let fm = float32 m
        let meanT =
            Tensor.Make([| c |], Array.copy mean, "batchMean", [| x |], fun g ->
                // d mean_c / dx = 1/m on channel c
                let dx = Array.zeroCreate<float32> x.Numel
                if inner = 1 then
                    let row = Array.init c (fun ch -> g.Data.[ch] / fm)
                    Threads.For(outer, c, Action<int, int>(fun lo hi ->
                        for r in lo .. hi - 1 do row.AsSpan().CopyTo(Span<float32>(dx, r * c, c))))
                else
                    Threads.For(outer * c, inner, Action<int, int>(fun lo hi ->
                        for t in lo .. hi - 1 do Span<float32>(dx, t * inner, inner).Fill(g.Data.[t % c] / fm)))
                [| Tensor.Wrap(x.Shape, dx) |])
        let varT =
            Tensor.Make([| c |], Array.map float32 var, "batchVar", [| x |], fun g ->
                // d var_c / dx = 2 (x - mean_c) / m (the mean's own dependence cancels: sum (x - mean) = 0)
                let s = Array.init c (fun ch -> 2.0f * g.Data.[ch] / fm)
                [| Tensor.Wrap(x.Shape, affine outer c inner x.Data mean s (Array.zeroCreate c)) |])
        meanT, varT

    /// A fresh layer for `channels` channels: gamma = 1, beta = 0, running mean 0, running variance 1 (PyTorch's).
    let init (channels: int) : BatchNormParams * BatchNormStats =
        { Gamma = Tensor.ones [| channels |]; Beta = Tensor.zeros [| channels |] },
        { Mean = Tensor.zeros [| channels |]; Var = Tensor.ones [| channels |] }

    /// `train` when training (returning the updated statistics), `eval` otherwise (returning them unchanged).
    let apply (training: bool) (momentum: float32) (eps: float32) (p: BatchNormParams) (running: BatchNormStats) (x: Tensor) : Tensor * BatchNormStats =
        if training then train momentum eps p.Gamma p.Beta running x
        else eval eps p.Gamma p.Beta running x, running
