/// Training losses as fused kernels: each loss is one op on the tape whose forward computes the scalar in a single
/// row-parallel (or block-parallel) pass and whose backward writes the input cotangent in one more pass, so no
/// softmax or sigmoid intermediate is ever materialised as a tensor. Everything is numerically stable: softmax
/// losses go through the per-row log-partition (max subtracted), BCE through max(x,0) - x y + log1p(exp(-|x|)).
/// Row and block boundaries never depend on the thread count, and sums over rows are taken in a fixed order.
/// Also the plain metrics (accuracy, micro-F1) that read the same logits.
[<RequireQualifiedAccess>]
module GcnKd.Loss

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd.Kernels

// ---------------------------------------------------------------------------------------------------------------
// Row kernels: loops over [0, n) with a Vector512 body, a Vector256 body and a scalar tail. `f512 i` yields the 16
// terms starting at i (and so on), so a row always splits the same way into vector and scalar parts.

let inline private ld512 (p: nativeptr<float32>) (i: int) = Vector512.Load(NativePtr.add p i)
let inline private ld256 (p: nativeptr<float32>) (i: int) = Vector256.Load(NativePtr.add p i)

/// Sum of the terms over [0, n): vector lanes first, the lanes then summed, then the scalar tail.
let inline private sumOver (n: int) ([<InlineIfLambda>] f512: int -> Vector512<float32>)
                           ([<InlineIfLambda>] f256: int -> Vector256<float32>) ([<InlineIfLambda>] f1: int -> float32) =
    let mutable i = 0
    let mutable acc = 0.0f
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable v = Vector512<float32>.Zero
        while i + 16 <= n do
            v <- v + f512 i
            i <- i + 16
        acc <- Vector512.Sum v
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable v = Vector256<float32>.Zero
        while i + 8 <= n do
            v <- v + f256 i
            i <- i + 8
        acc <- Vector256.Sum v
    while i < n do
        acc <- acc + f1 i
        i <- i + 1
    acc

/// Run a store body for every position of [0, n) (16 or 8 at a time, then one at a time).
let inline private forEach (n: int) ([<InlineIfLambda>] b512: int -> unit) ([<InlineIfLambda>] b256: int -> unit)
                           ([<InlineIfLambda>] b1: int -> unit) =
    let mutable i = 0
    if Vector512.IsHardwareAccelerated then
        while i + 16 <= n do
            b512 i
            i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        while i + 8 <= n do
            b256 i
            i <- i + 8
    while i < n do
        b1 i
        i <- i + 1

/// Maximum of p[0..n), n >= 1.
let private rowMax (p: nativeptr<float32>) (n: int) =
    let mutable i = 0
    let mutable m = Single.NegativeInfinity
    if Vector512.IsHardwareAccelerated && n >= 16 then
        let mutable v = ld512 p 0
        i <- 16
        while i + 16 <= n do
            v <- Vector512.Max(v, ld512 p i)
            i <- i + 16
        for l in 0 .. 15 do m <- max m (v.GetElement l)
    elif Vector256.IsHardwareAccelerated && n >= 8 then
        let mutable v = ld256 p 0
        i <- 8
        while i + 8 <= n do
            v <- Vector256.Max(v, ld256 p i)
            i <- i + 8
        for l in 0 .. 7 do m <- max m (v.GetElement l)
    while i < n do
        m <- max m (NativePtr.get p i)
        i <- i + 1
    m

/// The log-partition of a row at temperature 1/scale (scale > 0), as the pair (m, log sum_i exp(p[i] scale - m))
/// with m the scaled row maximum. The pair is kept apart rather than added: log softmax_j = (z_j - m) - logS
/// then only rounds at the scale of z_j - m, not at the scale of m (which can be ~100). The max is taken on the
/// unscaled row, which is exact because rounding x * scale is monotone in x.
let private rowLogPartition (p: nativeptr<float32>) (n: int) (scale: float32) =
    let m = rowMax p n * scale
    let vs, vm = Vector512.Create scale, Vector512.Create m
    let ws, wm = Vector256.Create scale, Vector256.Create m
    let s =
        sumOver n (fun i -> Vector512.Exp(ld512 p i * vs - vm))
                  (fun i -> Vector256.Exp(ld256 p i * ws - wm))
                  (fun i -> MathF.Exp(NativePtr.get p i * scale - m))
    struct (m, MathF.Log s)

/// Sum of a float32 array in a fixed order, in double.
let private sumOrdered (xs: float32[]) =
    let mutable s = 0.0
    for x in xs do s <- s + float x
    s

/// Sum over [0, n) of blocks computed by `block lo hi` (fixed 8192-element blocks combined in block order).
let private blockSum (n: int) (block: int -> int -> float32) =
    Threads.Reduce<float>(n, 8192, Func<int, int, float>(fun lo hi -> float (block lo hi)), Func<float, float, float>(fun a b -> a + b), 0.0)

let private checkRows (op: string) (what: string) (t: Tensor) =
    if t.Rank <> 2 then invalidArg what (sprintf "%s: %s must be [rows; classes], got shape %s" op what (Shape.describe t.Shape))
    if t.Shape.[0] = 0 || t.Shape.[1] = 0 then
        invalidArg what (sprintf "%s: %s of shape %s is empty; the loss is a mean over rows" op what (Shape.describe t.Shape))

let private checkSame (op: string) (a: Tensor) (bName: string) (b: Tensor) =
    if a.Shape <> b.Shape then
        invalidArg bName (sprintf "%s: %s must have the shape of the first argument %s, got %s" op bName (Shape.describe a.Shape) (Shape.describe b.Shape))
    if a.Numel = 0 then invalidArg bName (sprintf "%s: inputs of shape %s are empty; the loss is a mean" op (Shape.describe a.Shape))

// ---------------------------------------------------------------------------------------------------------------
// Cross entropy

/// Mean over rows of -log softmax(logits)[label]: logits [N, C], labels in [0, C). As torch.nn.functional.
/// cross_entropy with reduction 'mean'. Row loss (m - x_label) + logS; backward (softmax - onehot) / N.
let crossEntropy (logits: Tensor) (labels: int[]) : Tensor =
    checkRows "crossEntropy" "logits" logits
    let n, c = logits.Shape.[0], logits.Shape.[1]
    if labels.Length <> n then
        invalidArg "labels" (sprintf "crossEntropy: %d labels given for %d rows of logits %s" labels.Length n (Shape.describe logits.Shape))
    for r in 0 .. n - 1 do
        let l = labels.[r]
        if l < 0 || l >= c then
            invalidArg "labels" (sprintf "crossEntropy: label %d at row %d is outside the %d classes [0, %d)" l r c c)
    let x = logits.Data
    let rowMaxes = Array.zeroCreate<float32> n
    let rowLogS = Array.zeroCreate<float32> n
    let rowLoss = Array.zeroCreate<float32> n
    Threads.For(n, 24 * c, Action<int, int>(fun lo hi ->
        use px = fixed x
        for r in lo .. hi - 1 do
            let pr = NativePtr.add px (r * c)
            let struct (m, ls) = rowLogPartition pr c 1.0f
            rowMaxes.[r] <- m
            rowLogS.[r] <- ls
            rowLoss.[r] <- (m - NativePtr.get pr labels.[r]) + ls))
    let value = float32 (sumOrdered rowLoss / float n)
    Tensor.Make([||], [| value |], "crossEntropy", [| logits |], fun g ->
        let scale = g.Item0 / float32 n
        let dx = Array.zeroCreate<float32> x.Length
        Threads.For(n, 16 * c, Action<int, int>(fun lo hi ->
            use px = fixed x
            use pd = fixed dx
            let vs, ws = Vector512.Create scale, Vector256.Create scale
            for r in lo .. hi - 1 do
                let pr, po = NativePtr.add px (r * c), NativePtr.add pd (r * c)
                let m, ls = rowMaxes.[r], rowLogS.[r]
                let vm, wm, vl, wl = Vector512.Create m, Vector256.Create m, Vector512.Create ls, Vector256.Create ls
                forEach c (fun i -> Vector512.Store(Vector512.Exp(ld512 pr i - vm - vl) * vs, NativePtr.add po i))
                          (fun i -> Vector256.Store(Vector256.Exp(ld256 pr i - wm - wl) * ws, NativePtr.add po i))
                          (fun i -> NativePtr.set po i (MathF.Exp(NativePtr.get pr i - m - ls) * scale))
                let l = labels.[r]
                NativePtr.set po l (NativePtr.get po l - scale)))
        [| Tensor.Wrap(logits.Shape, dx) |])

// ---------------------------------------------------------------------------------------------------------------
// Knowledge-distillation KL divergence

/// Mean over rows of KL(p || q) with p = softmax(teacher / T), q = softmax(student / T), both [N, C]
/// (Hinton et al. 2015, eq. 2 without the T^2 factor, which the caller applies). As torch.nn.functional.kl_div(
/// log_softmax(s/T), softmax(t/T), reduction='batchmean'). Gradients flow to whichever argument requires them:
/// d/ds = (q - p) / (N T), d/dt = p (log p - log q - KL_row) / (N T).
///
/// Precision: log p_j - log q_j and KL_row are both of the order of the logits (~100 for saturated rows), and
/// their difference in the teacher gradient cancels. Everything is therefore taken relative to a pivot class k
/// (the teacher's arg-max): with D_j = (zt_j - zt_k) - (zs_j - zs_k) and K = sum_j p_j D_j,
/// log p_j - log q_j - KL = D_j - K and KL = (max zs - zs_k) + (logS_s - logS_t) + K, where the partition
/// functions cancel exactly and D_k = 0; the dominant class's gradient -p_k K is then accurate in float32.
let klDiv (temperature: float32) (teacherLogits: Tensor) (studentLogits: Tensor) : Tensor =
    if not (temperature > 0.0f) || Single.IsInfinity temperature then
        invalidArg "temperature" (sprintf "klDiv: temperature must be a positive finite number, got %g" temperature)
    checkRows "klDiv" "teacherLogits" teacherLogits
    if studentLogits.Shape <> teacherLogits.Shape then
        invalidArg "studentLogits" (sprintf "klDiv: studentLogits must have the teacher's shape %s, got %s" (Shape.describe teacherLogits.Shape) (Shape.describe studentLogits.Shape))
    let n, c = teacherLogits.Shape.[0], teacherLogits.Shape.[1]
    let t, s = teacherLogits.Data, studentLogits.Data
    let inv = 1.0f / temperature
    // per row: teacher max and log-sum, student max and log-sum, student's scaled logit at the pivot, K
    let mT, lsT = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
    let mS, lsS = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
    let zsPivot, rowK = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
    let rowKl = Array.zeroCreate<float32> n
    Threads.For(n, 40 * c, Action<int, int>(fun lo hi ->
        use pt = fixed t
        use ps = fixed s
        let vi, wi = Vector512.Create inv, Vector256.Create inv
        for r in lo .. hi - 1 do
            let tr, sr = NativePtr.add pt (r * c), NativePtr.add ps (r * c)
            let struct (a, la) = rowLogPartition tr c inv
            let struct (b, lb) = rowLogPartition sr c inv
            let mutable k = 0
            while k < c - 1 && NativePtr.get tr k * inv <> a do k <- k + 1
            let zk = NativePtr.get sr k * inv
            let va, vl, vz = Vector512.Create a, Vector512.Create la, Vector512.Create zk
            let wa, wl, wz = Vector256.Create a, Vector256.Create la, Vector256.Create zk
            let kk =
                sumOver c (fun i -> let d = ld512 tr i * vi - va in Vector512.Exp(d - vl) * (d - (ld512 sr i * vi - vz)))
                          (fun i -> let d = ld256 tr i * wi - wa in Vector256.Exp(d - wl) * (d - (ld256 sr i * wi - wz)))
                          (fun i -> let d = NativePtr.get tr i * inv - a in MathF.Exp(d - la) * (d - (NativePtr.get sr i * inv - zk)))
            mT.[r] <- a
            lsT.[r] <- la
            mS.[r] <- b
            lsS.[r] <- lb
            zsPivot.[r] <- zk
            rowK.[r] <- kk
            rowKl.[r] <- (b - zk) + (lb - la) + kk))
    let value = float32 (sumOrdered rowKl / float n)
    Tensor.Make([||], [| value |], "klDiv", [| teacherLogits; studentLogits |], fun g ->
        let scale = g.Item0 / (float32 n * temperature)
        let dt = if teacherLogits.RequiresGrad then Array.zeroCreate<float32> t.Length else null
        let ds = if studentLogits.RequiresGrad then Array.zeroCreate<float32> s.Length else null
        Threads.For(n, 40 * c, Action<int, int>(fun lo hi ->
            use pt = fixed t
            use ps = fixed s
            use pdt = fixed dt
            use pds = fixed ds
            let vi, wi = Vector512.Create inv, Vector256.Create inv
            let vc, wc = Vector512.Create scale, Vector256.Create scale
            for r in lo .. hi - 1 do
                let tr, sr = NativePtr.add pt (r * c), NativePtr.add ps (r * c)
                let a, la, b, lb = mT.[r], lsT.[r], mS.[r], lsS.[r]
                let va, vla, vb, vlb = Vector512.Create a, Vector512.Create la, Vector512.Create b, Vector512.Create lb
                let wa, wla, wb, wlb = Vector256.Create a, Vector256.Create la, Vector256.Create b, Vector256.Create lb
                if not (isNull ds) then
                    // q_j - p_j
                    let o = NativePtr.add pds (r * c)
                    forEach c
                        (fun i -> Vector512.Store((Vector512.Exp(ld512 sr i * vi - vb - vlb) - Vector512.Exp(ld512 tr i * vi - va - vla)) * vc, NativePtr.add o i))
                        (fun i -> Vector256.Store((Vector256.Exp(ld256 sr i * wi - wb - wlb) - Vector256.Exp(ld256 tr i * wi - wa - wla)) * wc, NativePtr.add o i))
                        (fun i -> NativePtr.set o i ((MathF.Exp(NativePtr.get sr i * inv - b - lb) - MathF.Exp(NativePtr.get tr i * inv - a - la)) * scale))
                if not (isNull dt) then
                    // p_j (D_j - K)
                    let o = NativePtr.add pdt (r * c)
                    let zk, kk = zsPivot.[r], rowK.[r]
                    let vz, vk, wz, wk = Vector512.Create zk, Vector512.Create kk, Vector256.Create zk, Vector256.Create kk
                    forEach c
                        (fun i ->
                            let d = ld512 tr i * vi - va
                            Vector512.Store(Vector512.Exp(d - vla) * (d - (ld512 sr i * vi - vz) - vk) * vc, NativePtr.add o i))
                        (fun i ->
                            let d = ld256 tr i * wi - wa
                            Vector256.Store(Vector256.Exp(d - wla) * (d - (ld256 sr i * wi - wz) - wk) * wc, NativePtr.add o i))
                        (fun i ->
                            let d = NativePtr.get tr i * inv - a
                            NativePtr.set o i (MathF.Exp(d - la) * (d - (NativePtr.get sr i * inv - zk) - kk) * scale))))
        [| (if isNull dt then null else Tensor.Wrap(teacherLogits.Shape, dt))
           (if isNull ds then null else Tensor.Wrap(studentLogits.Shape, ds)) |])

// ---------------------------------------------------------------------------------------------------------------
// Binary cross entropy with logits

/// log(1 + e) for e in [0, 1], accurate when e is tiny (Goldberg's trick: log(u) e / (u - 1) with u = 1 + e).
let inline private log1p512 (e: Vector512<float32>) =
    let u = Vector512<float32>.One + e
    Vector512.ConditionalSelect(Vector512.Equals(u, Vector512<float32>.One), e, Vector512.Log u * e / (u - Vector512<float32>.One))
let inline private log1p256 (e: Vector256<float32>) =
    let u = Vector256<float32>.One + e
    Vector256.ConditionalSelect(Vector256.Equals(u, Vector256<float32>.One), e, Vector256.Log u * e / (u - Vector256<float32>.One))
let inline private log1p1 (e: float32) = let u = 1.0f + e in if u = 1.0f then e else MathF.Log u * e / (u - 1.0f)

/// Mean of the elementwise binary cross entropy between sigmoid(logits) and targets in [0, 1] (soft targets
/// allowed), any shape, in the stable form max(x, 0) - x y + log(1 + exp(-|x|)). As torch.nn.functional.
/// binary_cross_entropy_with_logits. Backward: (sigmoid(x) - y) / n for the logits, -x / n for the targets.
let bceWithLogits (logits: Tensor) (targets: Tensor) : Tensor =
    checkSame "bceWithLogits" logits "targets" targets
    let x, y = logits.Data, targets.Data
    let n = x.Length
    let total =
        blockSum n (fun lo hi ->
            use px = fixed x
            use py = fixed y
            let bx, by = NativePtr.add px lo, NativePtr.add py lo
            sumOver (hi - lo)
                (fun i -> let v = ld512 bx i in Vector512.Max(v, Vector512<float32>.Zero) - v * ld512 by i + log1p512 (Vector512.Exp(-(Vector512.Abs v))))
                (fun i -> let v = ld256 bx i in Vector256.Max(v, Vector256<float32>.Zero) - v * ld256 by i + log1p256 (Vector256.Exp(-(Vector256.Abs v))))
                (fun i -> let v = NativePtr.get bx i in max v 0.0f - v * NativePtr.get by i + log1p1 (MathF.Exp(-(abs v)))))
    Tensor.Make([||], [| float32 (total / float n) |], "bceWithLogits", [| logits; targets |], fun g ->
        let scale = g.Item0 / float32 n
        let vc, wc = Vector512.Create scale, Vector256.Create scale
        let dx =
            if not logits.RequiresGrad then null
            else
                // sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) otherwise, e = exp(-|x|): never overflows
                Simd.zip x y
                    (fun v t ->
                        let e = Vector512.Exp(-(Vector512.Abs v))
                        let r = Vector512<float32>.One / (Vector512<float32>.One + e)
                        (Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, Vector512<float32>.Zero), r, e * r) - t) * vc)
                    (fun v t ->
                        let e = Vector256.Exp(-(Vector256.Abs v))
                        let r = Vector256<float32>.One / (Vector256<float32>.One + e)
                        (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float32>.Zero), r, e * r) - t) * wc)
                    (fun v t ->
                        let e = MathF.Exp(-(abs v))
                        let r = 1.0f / (1.0f + e)
                        ((if v >= 0.0f then r else e * r) - t) * scale)
        let dy =
            if not targets.RequiresGrad then null
            else Simd.map x (fun v -> -(v * vc)) (fun v -> -(v * wc)) (fun v -> -(v * scale))
        [| (if isNull dx then null else Tensor.Wrap(logits.Shape, dx))
           (if isNull dy then null else Tensor.Wrap(targets.Shape, dy)) |])

// ---------------------------------------------------------------------------------------------------------------
// Mean squared error

/// mean((a - b)^2) over all elements of two tensors of the same shape (torch mse_loss, reduction 'mean').
let mse (a: Tensor) (b: Tensor) : Tensor =
    checkSame "mse" a "b" b
    let x, y = a.Data, b.Data
    let n = x.Length
    let total =
        blockSum n (fun lo hi ->
            use px = fixed x
            use py = fixed y
            let bx, by = NativePtr.add px lo, NativePtr.add py lo
            sumOver (hi - lo)
                (fun i -> let d = ld512 bx i - ld512 by i in d * d)
                (fun i -> let d = ld256 bx i - ld256 by i in d * d)
                (fun i -> let d = NativePtr.get bx i - NativePtr.get by i in d * d))
    Tensor.Make([||], [| float32 (total / float n) |], "mse", [| a; b |], fun g ->
        let scale = 2.0f * g.Item0 / float32 n
        let part (sign: float32) =
            let ss = scale * sign
            let vs, ws = Vector512.Create ss, Vector256.Create ss
            Simd.zip x y (fun u v -> (u - v) * vs) (fun u v -> (u - v) * ws) (fun u v -> (u - v) * ss)
        [| (if a.RequiresGrad then Tensor.Wrap(a.Shape, part 1.0f) else null)
           (if b.RequiresGrad then Tensor.Wrap(b.Shape, part -1.0f) else null) |])

// ---------------------------------------------------------------------------------------------------------------
// Metrics (plain values, no gradient)

/// Fraction of rows whose arg-max logit (the first one on ties, as torch.argmax) equals the label.
let accuracy (logits: Tensor) (labels: int[]) : float =
    checkRows "accuracy" "logits" logits
    let n, c = logits.Shape.[0], logits.Shape.[1]
    if labels.Length <> n then
        invalidArg "labels" (sprintf "accuracy: %d labels given for %d rows of logits %s" labels.Length n (Shape.describe logits.Shape))
    let x = logits.Data
    let mutable correct = 0
    for r in 0 .. n - 1 do
        let mutable best = 0
        for j in 1 .. c - 1 do
            if x.[r * c + j] > x.[r * c + best] then best <- j
        if best = labels.[r] then correct <- correct + 1
    float correct / float n

/// Micro-averaged F1 of multi-label predictions (logit > 0) against 0/1 targets of the same shape:
/// 2 TP / (2 TP + FP + FN), pooled over every (row, label) pair; 0 when there is nothing to score.
let microF1 (logits: Tensor) (targets: Tensor) : float =
    checkSame "microF1" logits "targets" targets
    let mutable tp = 0L
    let mutable fp = 0L
    let mutable fn = 0L
    for i in 0 .. logits.Numel - 1 do
        let p = logits.Data.[i] > 0.0f
        let t = targets.Data.[i] > 0.5f
        if p && t then tp <- tp + 1L
        elif p then fp <- fp + 1L
        elif t then fn <- fn + 1L
    let d = 2L * tp + fp + fn
    if d = 0L then 0.0 else float (2L * tp) / float d
