/// Optimisers as pure functions over parameter trees: `step` takes the state, parameters and gradients and returns
/// new parameters and a new state, leaving its inputs untouched. The state is itself a tree (a step counter and
/// moment trees shaped like the parameters), so it is checkpointed like the parameters (`Tree.leaves`).
/// The update rules are PyTorch 1.13's (torch.optim.SGD / Adam / AdamW, dampening 0, no amsgrad), including where
/// weight decay enters; each parameter tensor is updated by one fused SIMD pass that reads parameter, gradient and
/// moments once and writes the new values, in parallel over 16-element blocks for large tensors.
namespace GcnKd

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd.Kernels

/// SGD with momentum (torch.optim.SGD, dampening 0): d = g + wd p; buf = momentum buf + d;
/// d = d + momentum buf (Nesterov) or buf; p = p - lr d. Momentum 0 keeps no buffer.
type SgdConfig = { Momentum: float32; Nesterov: bool; WeightDecay: float32 }

/// Adam's constants (Kingma & Ba 2015, Alg. 1). For Adam the weight decay is L2 (added to the gradient); for
/// AdamW it is decoupled (Loshchilov & Hutter 2019): p = p (1 - lr wd) before the Adam update.
type AdamConfig = { Beta1: float32; Beta2: float32; Eps: float32; WeightDecay: float32 }

type OptimizerConfig =
    | Sgd of SgdConfig
    | Adam of AdamConfig
    | AdamW of AdamConfig

/// Optimiser state, a tree: `Step` (a rank-0 tensor, the number of steps taken), `FirstMoment` (SGD's momentum
/// buffer or Adam's exp_avg) and `SecondMoment` (Adam's exp_avg_sq), shaped like the parameters, when the
/// optimiser keeps them. Leaf names: "Step", "FirstMoment.<param>", "SecondMoment.<param>".
type OptState<'P> = { Step: Tensor; FirstMoment: 'P option; SecondMoment: 'P option }

[<RequireQualifiedAccess>]
module Optim =
    /// torch.optim.SGD defaults (plain gradient descent).
    let defaultSgd = Sgd { Momentum = 0.0f; Nesterov = false; WeightDecay = 0.0f }
    /// torch.optim.Adam's betas and eps with an L2 weight decay.
    let adam (weightDecay: float32) = Adam { Beta1 = 0.9f; Beta2 = 0.999f; Eps = 1e-8f; WeightDecay = weightDecay }
    /// torch.optim.Adam defaults.
    let defaultAdam = adam 0.0f
    /// torch.optim.AdamW defaults (weight decay 0.01).
    let defaultAdamW = AdamW { Beta1 = 0.9f; Beta2 = 0.999f; Eps = 1e-8f; WeightDecay = 0.01f }

    let private checkAdam (name: string) (c: AdamConfig) =
        let inUnit (what: string) (v: float32) =
            if not (v >= 0.0f && v < 1.0f) then invalidArg what (sprintf "%s: %s must be in [0, 1), got %g" name what v)
        inUnit "Beta1" c.Beta1
        inUnit "Beta2" c.Beta2
        if not (c.Eps >= 0.0f) then invalidArg "Eps" (sprintf "%s: Eps must be >= 0, got %g" name c.Eps)
        if not (c.WeightDecay >= 0.0f) then invalidArg "WeightDecay" (sprintf "%s: WeightDecay must be >= 0, got %g" name c.WeightDecay)

    /// Reject configurations torch rejects, naming the field.
    let validate (cfg: OptimizerConfig) =
        match cfg with
        | Sgd c ->
            if not (c.Momentum >= 0.0f) then invalidArg "Momentum" (sprintf "SGD: Momentum must be >= 0, got %g" c.Momentum)
            if not (c.WeightDecay >= 0.0f) then invalidArg "WeightDecay" (sprintf "SGD: WeightDecay must be >= 0, got %g" c.WeightDecay)
            if c.Nesterov && c.Momentum = 0.0f then invalidArg "Nesterov" "SGD: Nesterov momentum needs Momentum > 0"
        | Adam c -> checkAdam "Adam" c
        | AdamW c -> checkAdam "AdamW" c

    /// The state before the first step: step 0 and zero moments for the optimisers that keep them.
    let init (cfg: OptimizerConfig) (parameters: 'P) : OptState<'P> =
        validate cfg
        let zeros () = Some (Tree.map (fun _ (t: Tensor) -> Tensor.zeros t.Shape) parameters)
        match cfg with
        | Sgd c -> { Step = Tensor.scalar 0.0f; FirstMoment = (if c.Momentum > 0.0f then zeros () else None); SecondMoment = None }
        | Adam _ | AdamW _ -> { Step = Tensor.scalar 0.0f; FirstMoment = zeros (); SecondMoment = zeros () }

    // ---- fused per-tensor kernels ----

    let inline private ld512 (p: nativeptr<float32>) (i: int) = Vector512.Load(NativePtr.add p i)
    let inline private ld256 (p: nativeptr<float32>) (i: int) = Vector256.Load(NativePtr.add p i)
    let inline private st512 (v: Vector512<float32>) (p: nativeptr<float32>) (i: int) = Vector512.Store(v, NativePtr.add p i)
    let inline private st256 (v: Vector256<float32>) (p: nativeptr<float32>) (i: int) = Vector256.Store(v, NativePtr.add p i)

    /// SGD on one tensor: returns (p', buf') (buf' null without momentum).
    let private sgdTensor (c: SgdConfig) (lr: float32) (p: float32[]) (g: float32[]) (buf: float32[]) =
        let n = p.Length
        let p2 = Array.zeroCreate<float32> n
        let hasMomentum = not (isNull buf)
        let b2 = if hasMomentum then Array.zeroCreate<float32> n else null
        let wd, mo, nest = c.WeightDecay, c.Momentum, c.Nesterov
        Simd.forBlocks n 8 (fun lo hi ->
            use pp = fixed p
            use pg = fixed g
            use pb = fixed buf
            use pp2 = fixed p2
            use pb2 = fixed b2
            let mutable i = lo
            if Vector512.IsHardwareAccelerated then
                let vwd, vmo, vlr = Vector512.Create wd, Vector512.Create mo, Vector512.Create lr
                while i + 16 <= hi do
                    let pv = ld512 pp i
                    let mutable d = Vector512.FusedMultiplyAdd(vwd, pv, ld512 pg i)
                    if hasMomentum then
                        let b = Vector512.FusedMultiplyAdd(vmo, ld512 pb i, d)
                        st512 b pb2 i
                        d <- if nest then Vector512.FusedMultiplyAdd(vmo, b, d) else b
                    st512 (pv - vlr * d) pp2 i
                    i <- i + 16
            elif Vector256.IsHardwareAccelerated then
                let vwd, vmo, vlr = Vector256.Create wd, Vector256.Create mo, Vector256.Create lr
                while i + 8 <= hi do
                    let pv = ld256 pp i
                    let mutable d = Vector256.FusedMultiplyAdd(vwd, pv, ld256 pg i)
                    if hasMomentum then
                        let b = Vector256.FusedMultiplyAdd(vmo, ld256 pb i, d)
                        st256 b pb2 i
                        d <- if nest then Vector256.FusedMultiplyAdd(vmo, b, d) else b
                    st256 (pv - vlr * d) pp2 i
                    i <- i + 8
            while i < hi do
                let pv = NativePtr.get pp i
                let mutable d = MathF.FusedMultiplyAdd(wd, pv, NativePtr.get pg i)
                if hasMomentum then
                    let b = MathF.FusedMultiplyAdd(mo, NativePtr.get pb i, d)
                    NativePtr.set pb2 i b
                    d <- if nest then MathF.FusedMultiplyAdd(mo, b, d) else b
                NativePtr.set pp2 i (pv - lr * d)
                i <- i + 1)
        p2, b2

    /// Per-step scalars of an Adam update (computed in double, as torch does in Python).
    [<Struct>]
    type private AdamStep =
        { L2: float32         // added to the gradient: wd (Adam) or 0 (AdamW)
          Decay: float32      // parameter factor before the update: 1 - lr wd (AdamW) or 1 (Adam)
          B1: float32; C1: float32; B2: float32; C2: float32
          Bc2Sqrt: float32; Eps: float32; StepSize: float32 }

    /// One Adam/AdamW update of one tensor: g' = g + L2 p; p1 = Decay p; m = b1 m + (1 - b1) g';
    /// v = b2 v + (1 - b2) g'^2; p = p1 - stepSize m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    let private adamTensor (k: AdamStep) (p: float32[]) (g: float32[]) (m: float32[]) (v: float32[]) =
        let n = p.Length
        let p2, m2, v2 = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
        Simd.forBlocks n 16 (fun lo hi ->
            use pp = fixed p
            use pg = fixed g
            use pm = fixed m
            use pv = fixed v
            use pp2 = fixed p2
            use pm2 = fixed m2
            use pv2 = fixed v2
            let mutable i = lo
            if Vector512.IsHardwareAccelerated then
                let l2, dec, b1, c1 = Vector512.Create k.L2, Vector512.Create k.Decay, Vector512.Create k.B1, Vector512.Create k.C1
                let b2, c2, bc, eps, ss = Vector512.Create k.B2, Vector512.Create k.C2, Vector512.Create k.Bc2Sqrt, Vector512.Create k.Eps, Vector512.Create k.StepSize
                while i + 16 <= hi do
                    let x = ld512 pp i
                    let gr = Vector512.FusedMultiplyAdd(l2, x, ld512 pg i)
                    let mm = Vector512.FusedMultiplyAdd(c1, gr, ld512 pm i * b1)
                    let vv = Vector512.FusedMultiplyAdd(c2, gr * gr, ld512 pv i * b2)
                    st512 mm pm2 i
                    st512 vv pv2 i
                    st512 (x * dec - ss * (mm / (Vector512.Sqrt vv / bc + eps))) pp2 i
                    i <- i + 16
            elif Vector256.IsHardwareAccelerated then
                let l2, dec, b1, c1 = Vector256.Create k.L2, Vector256.Create k.Decay, Vector256.Create k.B1, Vector256.Create k.C1
                let b2, c2, bc, eps, ss = Vector256.Create k.B2, Vector256.Create k.C2, Vector256.Create k.Bc2Sqrt, Vector256.Create k.Eps, Vector256.Create k.StepSize
                while i + 8 <= hi do
                    let x = ld256 pp i
                    let gr = Vector256.FusedMultiplyAdd(l2, x, ld256 pg i)
                    let mm = Vector256.FusedMultiplyAdd(c1, gr, ld256 pm i * b1)
                    let vv = Vector256.FusedMultiplyAdd(c2, gr * gr, ld256 pv i * b2)
                    st256 mm pm2 i
                    st256 vv pv2 i
                    st256 (x * dec - ss * (mm / (Vector256.Sqrt vv / bc + eps))) pp2 i
                    i <- i + 8
            while i < hi do
                let x = NativePtr.get pp i
                let gr = MathF.FusedMultiplyAdd(k.L2, x, NativePtr.get pg i)
                let mm = MathF.FusedMultiplyAdd(k.C1, gr, NativePtr.get pm i * k.B1)
                let vv = MathF.FusedMultiplyAdd(k.C2, gr * gr, NativePtr.get pv i * k.B2)
                NativePtr.set pm2 i mm
                NativePtr.set pv2 i vv
                NativePtr.set pp2 i (x * k.Decay - k.StepSize * (mm / (MathF.Sqrt vv / k.Bc2Sqrt + k.Eps)))
                i <- i + 1)
        p2, m2, v2

    /// A float32 hyper-parameter as the decimal the user wrote (float32 keeps 7 significant digits), so that the
    /// double-precision scalars (1 - 0.999^t) match torch, whose hyper-parameters are Python doubles.
    let private asWritten (x: float32) =
        if Single.IsFinite x && abs x < 1e20f then float (decimal x) else float x

    // ---- the tree-level step ----

    let private leavesOf (what: string) (reference: (string * Tensor)[]) (tree: 'P) =
        let ls = Tree.leaves tree
        if ls.Length <> reference.Length then
            invalidArg what (sprintf "Optim.step: %s has %d tensors, the parameters have %d" what ls.Length reference.Length)
        Array.iteri2 (fun i (name, (p: Tensor)) (_, (t: Tensor)) ->
            if t.Shape <> p.Shape then
                invalidArg what (sprintf "Optim.step: %s '%s' has shape %s, the parameter has %s" what name (Shape.describe t.Shape) (Shape.describe p.Shape))) reference ls
        ls |> Array.map (fun (_, t) -> t.Data)

    let private moment (what: string) (m: 'P option) =
        match m with
        | Some t -> t
        | None -> invalidArg "state" (sprintf "Optim.step: the state has no %s; it was initialised for another optimiser (use Optim.init with this configuration)" what)

    /// One optimisation step at learning rate `lr`: the new parameters and the new state.
    let step (cfg: OptimizerConfig) (lr: float32) (state: OptState<'P>) (parameters: 'P) (grads: 'P) : 'P * OptState<'P> =
        validate cfg
        if not (lr >= 0.0f) || Single.IsInfinity lr then invalidArg "lr" (sprintf "Optim.step: lr must be a finite number >= 0, got %g" lr)
        let ps = Tree.leaves parameters
        let pd = ps |> Array.map (fun (_, t) -> t.Data)
        let gd = leavesOf "gradient" ps grads
        let t = state.Step.Item0 + 1.0f
        let rebuild (arrays: float32[][]) = Tree.withLeaves parameters (Array.map2 (fun (_, (p: Tensor)) a -> Tensor.Wrap(p.Shape, a)) ps arrays)
        match cfg with
        | Sgd c ->
            let bufs =
                if c.Momentum > 0.0f then leavesOf "momentum buffer" ps (moment "momentum buffer" state.FirstMoment)
                else Array.create ps.Length null
            let out = Array.init ps.Length (fun i -> sgdTensor c lr pd.[i] gd.[i] bufs.[i])
            let newBufs = if c.Momentum > 0.0f then Some (rebuild (Array.map snd out)) else None
            rebuild (Array.map fst out), { Step = Tensor.scalar t; FirstMoment = newBufs; SecondMoment = None }
        | Adam c | AdamW c ->
            let decoupled = match cfg with AdamW _ -> true | _ -> false
            let md = leavesOf "first moment" ps (moment "first moment" state.FirstMoment)
            let vd = leavesOf "second moment" ps (moment "second moment" state.SecondMoment)
            let lrD, wdD = asWritten lr, asWritten c.WeightDecay
            let b1, b2 = asWritten c.Beta1, asWritten c.Beta2
            let k =
                { L2 = (if decoupled then 0.0f else c.WeightDecay)
                  Decay = (if decoupled then float32 (1.0 - lrD * wdD) else 1.0f)
                  B1 = c.Beta1; C1 = float32 (1.0 - b1); B2 = c.Beta2; C2 = float32 (1.0 - b2)
                  Bc2Sqrt = float32 (sqrt (1.0 - Math.Pow(b2, float t)))
                  Eps = c.Eps
                  StepSize = float32 (lrD / (1.0 - Math.Pow(b1, float t))) }
            let out = Array.init ps.Length (fun i -> adamTensor k pd.[i] gd.[i] md.[i] vd.[i])
            let p2 = rebuild (out |> Array.map (fun (p, _, _) -> p))
            let m2 = rebuild (out |> Array.map (fun (_, m, _) -> m))
            let v2 = rebuild (out |> Array.map (fun (_, _, v) -> v))
            p2, { Step = Tensor.scalar t; FirstMoment = Some m2; SecondMoment = Some v2 }
