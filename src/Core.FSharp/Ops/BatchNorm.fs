/// Batch normalisation (Ioffe & Szegedy 2015) over channel axis 1 of [N,C] or [N,C,H,W] (any rank >= 2), with
/// PyTorch's semantics: training normalises with the biased batch variance and updates the running variance with
/// the unbiased one, new = (1 - momentum) old + momentum batch. The running statistics are an explicit value passed
/// in and returned (equinox style), never hidden state.
///
/// The training backward is the fused closed form (m values per channel, x^ = (x - mu) / sigma):
///   dbeta = sum g,  dgamma = sum g x^,  dx = gamma / sigma (g - dbeta / m - x^ dgamma / m)
/// in one reduction pass and one elementwise pass, not a chain of small ops. Per-channel sums run in double over the
/// batch in sample order (each channel has one owning thread), so results do not depend on the thread count.
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
        let mean = channelSums outer c inner x x (fun pa _ off _ -> float (Simd.sumRange (ptr pa off) inner)) |> Array.map (fun s -> s / m)
        let meanF = Array.map float32 mean
        let var = channelSums outer c inner x x (fun pa _ off ch -> sqDevRange (ptr pa off) inner meanF.[ch]) |> Array.map (fun s -> s / m)
        meanF, var

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
        let y = Array.zeroCreate<float32> x.Numel
        perSegment outer c inner x.Data x.Data y (fun px _ py off ch ->
            normRange (ptr px off) (ptr py off) inner mean.[ch] scale.[ch] beta.Data.[ch])
        let unbias = float m / float (m - 1)
        let mom = float momentum
        let stats =
            { Mean = Tensor.Wrap([| c |], Array.init c (fun ch -> float32 ((1.0 - mom) * float running.Mean.Data.[ch] + mom * float mean.[ch])))
              Var = Tensor.Wrap([| c |], Array.init c (fun ch -> float32 ((1.0 - mom) * float running.Var.Data.[ch] + mom * var.[ch] * unbias))) }
        let out =
            Tensor.Make(Array.copy x.Shape, y, "batchNorm", [| x; gamma; beta |], fun g ->
                // per channel: sum g and sum g (x - mu)
                let sg = channelSums outer c inner g.Data g.Data (fun pg _ off _ -> float (Simd.sumRange (ptr pg off) inner))
                let sgx = channelSums outer c inner g.Data x.Data (fun pg px off ch -> dotDevRange (ptr pg off) (ptr px off) inner mean.[ch])
                let dx =
                    if not x.RequiresGrad then null
                    else
                        let fm = float m
                        let a = Array.init c (fun ch -> float gamma.Data.[ch] * float invStd.[ch])
                        let b = Array.init c (fun ch -> float32 (a.[ch] * float invStd.[ch] * float invStd.[ch] * sgx.[ch] / fm))
                        let cc = Array.init c (fun ch -> float32 (a.[ch] * sg.[ch] / fm))
                        let a = Array.map float32 a
                        let dx = Array.zeroCreate<float32> x.Numel
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
        let y = Array.zeroCreate<float32> x.Numel
        perSegment outer c inner x.Data x.Data y (fun px _ py off ch ->
            normRange (ptr px off) (ptr py off) inner mean.[ch] scale.[ch] beta.Data.[ch])
        Tensor.Make(Array.copy x.Shape, y, "batchNormEval", [| x; gamma; beta |], fun g ->
            let dx =
                if not x.RequiresGrad then null
                else
                    let dx = Array.zeroCreate<float32> x.Numel
                    perSegment outer c inner g.Data g.Data dx (fun pg _ pd off ch ->
                        normRange (ptr pg off) (ptr pd off) inner 0.0f scale.[ch] 0.0f)
                    Tensor.Wrap(x.Shape, dx)
            let dgamma =
                if not gamma.RequiresGrad then null
                else
                    let sgx = channelSums outer c inner g.Data x.Data (fun pg px off ch -> dotDevRange (ptr pg off) (ptr px off) inner mean.[ch])
                    Tensor.Wrap(gamma.Shape, Array.init c (fun ch -> float32 (sgx.[ch] * float invStd.[ch])))
            let dbeta =
                if not beta.RequiresGrad then null
                else
                    let sg = channelSums outer c inner g.Data g.Data (fun pg _ off _ -> float (Simd.sumRange (ptr pg off) inner))
                    Tensor.Wrap(beta.Shape, Array.map float32 sg)
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
                Threads.For(outer * c, inner, Action<int, int>(fun lo hi ->
                    for t in lo .. hi - 1 do Span<float32>(dx, t * inner, inner).Fill(g.Data.[t % c] / fm)))
                [| Tensor.Wrap(x.Shape, dx) |])
        let varT =
            Tensor.Make([| c |], Array.map float32 var, "batchVar", [| x |], fun g ->
                // d var_c / dx = 2 (x - mean_c) / m (the mean's own dependence cancels: sum (x - mean) = 0)
                let s = Array.init c (fun ch -> 2.0f * g.Data.[ch] / fm)
                let dx = Array.zeroCreate<float32> x.Numel
                perSegment outer c inner x.Data x.Data dx (fun px _ pd off ch ->
                    normRange (ptr px off) (ptr pd off) inner mean.[ch] s.[ch] 0.0f)
                [| Tensor.Wrap(x.Shape, dx) |])
        meanT, varT

    /// A fresh layer for `channels` channels: gamma = 1, beta = 0, running mean 0, running variance 1 (PyTorch's).
    let init (channels: int) : BatchNormParams * BatchNormStats =
        { Gamma = Tensor.ones [| channels |]; Beta = Tensor.zeros [| channels |] },
        { Mean = Tensor.zeros [| channels |]; Var = Tensor.ones [| channels |] }

    /// `train` when training (returning the updated statistics), `eval` otherwise (returning them unchanged).
    let apply (training: bool) (momentum: float32) (eps: float32) (p: BatchNormParams) (running: BatchNormStats) (x: Tensor) : Tensor * BatchNormStats =
        if training then train momentum eps p.Gamma p.Beta running x
        else eval eps p.Gamma p.Beta running x, running
