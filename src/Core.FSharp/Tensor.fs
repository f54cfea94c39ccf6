namespace GcnKd

open System
open System.Runtime.Intrinsics
open GcnKd.Kernels

/// The record of one differentiation: nodes in creation order. A tape lives inside one `Autodiff` call and is
/// dropped when the call returns; registration is locked, so a forward pass may fan out over threads.
[<Sealed; AllowNullLiteral>]
type Tape() =
    let nodes = ResizeArray<Node>()
    member _.Count = nodes.Count
    member internal _.Register(n: Node) =
        lock nodes (fun () ->
            n.Id <- nodes.Count
            nodes.Add n)
    member internal _.Item(i: int) = nodes.[i]

/// One recorded operation: its inputs and its backward rule (output cotangent -> input cotangents, null where an
/// input needs none). A leaf (a differentiated parameter) has no inputs and no rule.
and [<Sealed; AllowNullLiteral>] Node internal (tape: Tape, op: string, inputs: Tensor[], backward: Tensor -> Tensor[]) =
    member val Id = -1 with get, set
    member _.Tape = tape
    member _.Op = op
    member _.Inputs = inputs
    member _.Backward = backward

/// A dense float32 tensor, row-major, rank 0 to 4. Immutable by contract: no operation writes into the storage of
/// an existing tensor. A tensor created inside a differentiation carries the node that produced it.
and [<Sealed; AllowNullLiteral>] Tensor internal (shape: int[], data: float32[], node: Node) =
    do
        if Shape.numel shape <> data.Length then
            invalidArg "data" (sprintf "tensor of shape %s needs %d values, got %d" (Shape.describe shape) (Shape.numel shape) data.Length)

    member _.Shape = shape
    /// The storage. Read freely; never write into it (tensors share storage, e.g. through reshape).
    member _.Data = data
    member _.Node = node
    member _.RequiresGrad = not (isNull node)
    member _.Rank = shape.Length
    member _.Numel = data.Length

    /// The value of a one-element tensor.
    member _.Item0 =
        if data.Length <> 1 then invalidOp (sprintf "Item0: tensor of shape %s is not a single value" (Shape.describe shape))
        data.[0]

    member _.Item
        with get (idx: int[]) =
            if idx.Length <> shape.Length then invalidArg "idx" "index rank differs from tensor rank"
            let st = Shape.strides shape
            let mutable off = 0
            for i in 0 .. idx.Length - 1 do
                if idx.[i] < 0 || idx.[i] >= shape.[i] then invalidArg "idx" "index out of range"
                off <- off + idx.[i] * st.[i]
            data.[off]

    member _.ToArray() = Array.copy data

    override _.ToString() =
        let preview = data |> Seq.truncate 8 |> Seq.map (sprintf "%g") |> String.concat ", "
        sprintf "Tensor%s [%s%s]%s" (Shape.describe shape) preview (if data.Length > 8 then ", ..." else "")
                (if isNull node then "" else " (" + node.Op + ")")

    /// A tensor that does not take part in any differentiation (same storage).
    member t.Detach() = if isNull node then t else Tensor(shape, data, null)

    /// Wrap storage without copying; the caller hands over ownership.
    static member internal Wrap(shape: int[], data: float32[]) = Tensor(shape, data, null)

    /// The hook every differentiable operation goes through: the result of `op` on `inputs`, recorded on the
    /// inputs' tape when any of them is being differentiated. `backward` maps the output cotangent to one cotangent
    /// per input (null for inputs that need none: check `RequiresGrad`).
    static member Make(shape: int[], data: float32[], op: string, inputs: Tensor[], backward: Tensor -> Tensor[]) =
        let mutable tape: Tape = null
        for x in inputs do
            if not (isNull x.Node) then
                if isNull tape then tape <- x.Node.Tape
                elif not (obj.ReferenceEquals(tape, x.Node.Tape)) then
                    invalidOp (sprintf "%s: inputs come from two different differentiations; detach one of them" op)
        if isNull tape then Tensor(shape, data, null)
        else
            let n = Node(tape, op, inputs, backward)
            tape.Register n
            Tensor(shape, data, n)

    /// A new leaf on a tape: the start of a differentiation.
    static member internal Leaf(tape: Tape, t: Tensor) =
        let n = Node(tape, "leaf", [||], Unchecked.defaultof<_>)
        tape.Register n
        Tensor(t.Shape, t.Data, n)

    // ---- arithmetic with broadcasting: the operators live on the type so that F# resolves them ----

    static member Add(a: Tensor, b: Tensor) =
        let s, d = Broadcast.binary a.Shape a.Data b.Shape b.Data (fun x y -> x + y) (fun x y -> x + y) (fun x y -> x + y)
        Tensor.Make(s, d, "add", [| a; b |], fun g ->
            [| (if a.RequiresGrad then Tensor.Wrap(a.Shape, Broadcast.reduceTo g.Shape g.Data a.Shape) else null)
               (if b.RequiresGrad then Tensor.Wrap(b.Shape, Broadcast.reduceTo g.Shape g.Data b.Shape) else null) |])

    static member Sub(a: Tensor, b: Tensor) =
        let s, d = Broadcast.binary a.Shape a.Data b.Shape b.Data (fun x y -> x - y) (fun x y -> x - y) (fun x y -> x - y)
        Tensor.Make(s, d, "sub", [| a; b |], fun g ->
            [| (if a.RequiresGrad then Tensor.Wrap(a.Shape, Broadcast.reduceTo g.Shape g.Data a.Shape) else null)
               (if b.RequiresGrad then
                    let r = Broadcast.reduceTo g.Shape g.Data b.Shape
                    Tensor.Wrap(b.Shape, Simd.map r (fun v -> -v) (fun v -> -v) (fun v -> -v))
                else null) |])

    static member Mul(a: Tensor, b: Tensor) =
        let s, d = Broadcast.binary a.Shape a.Data b.Shape b.Data (fun x y -> x * y) (fun x y -> x * y) (fun x y -> x * y)
        Tensor.Make(s, d, "mul", [| a; b |], fun g ->
            let part (x: Tensor) (other: Tensor) =
                let gs, gd = Broadcast.binary g.Shape g.Data other.Shape other.Data (fun x y -> x * y) (fun x y -> x * y) (fun x y -> x * y)
                Tensor.Wrap(x.Shape, Broadcast.reduceTo gs gd x.Shape)
            [| (if a.RequiresGrad then part a b else null)
               (if b.RequiresGrad then part b a else null) |])

    static member Div(a: Tensor, b: Tensor) =
        let s, d = Broadcast.binary a.Shape a.Data b.Shape b.Data (fun x y -> x / y) (fun x y -> x / y) (fun x y -> x / y)
        Tensor.Make(s, d, "div", [| a; b |], fun g ->
            [| (if a.RequiresGrad then
                    let gs, gd = Broadcast.binary g.Shape g.Data b.Shape b.Data (fun x y -> x / y) (fun x y -> x / y) (fun x y -> x / y)
                    Tensor.Wrap(a.Shape, Broadcast.reduceTo gs gd a.Shape)
                else null)
               (if b.RequiresGrad then
                    // d(a/b)/db = -(a/b)/b
                    let q = Simd.zip g.Data d (fun x y -> -(x * y)) (fun x y -> -(x * y)) (fun x y -> -(x * y))
                    let gs, gd = Broadcast.binary s q b.Shape b.Data (fun x y -> x / y) (fun x y -> x / y) (fun x y -> x / y)
                    Tensor.Wrap(b.Shape, Broadcast.reduceTo gs gd b.Shape)
                else null) |])

    static member Neg(a: Tensor) =
        Tensor.Make(a.Shape, Simd.map a.Data (fun v -> -v) (fun v -> -v) (fun v -> -v), "neg", [| a |], fun g ->
            [| Tensor.Wrap(a.Shape, Simd.map g.Data (fun v -> -v) (fun v -> -v) (fun v -> -v)) |])

    /// a * x + c elementwise, for scalars a and c (one kernel for every scalar operator).
    static member Affine(x: Tensor, a: float32, c: float32) =
        let va = Vector512.Create a
        let vc = Vector512.Create c
        let wa = Vector256.Create a
        let wc = Vector256.Create c
        let d = Simd.map x.Data (fun v -> Vector512.FusedMultiplyAdd(v, va, vc)) (fun v -> Vector256.FusedMultiplyAdd(v, wa, wc)) (fun v -> MathF.FusedMultiplyAdd(v, a, c))
        Tensor.Make(x.Shape, d, "affine", [| x |], fun g ->
            [| (if a = 1.0f then g else Tensor.Wrap(x.Shape, Simd.map g.Data (fun v -> v * va) (fun v -> v * wa) (fun v -> v * a))) |])

    /// s / x elementwise for a scalar s.
    static member ScalarDiv(s: float32, x: Tensor) =
        let vs = Vector512.Create s
        let ws = Vector256.Create s
        let d = Simd.map x.Data (fun v -> vs / v) (fun v -> ws / v) (fun v -> s / v)
        Tensor.Make(x.Shape, d, "rdiv", [| x |], fun g ->
            // d(s/x)/dx = -(s/x)/x
            [| Tensor.Wrap(x.Shape, Simd.zip3 g.Data d x.Data (fun g y v -> -(g * y) / v) (fun g y v -> -(g * y) / v) (fun g y v -> -(g * y) / v)) |])

    static member (+)(a: Tensor, b: Tensor) = Tensor.Add(a, b)
    static member (-)(a: Tensor, b: Tensor) = Tensor.Sub(a, b)
    static member (*)(a: Tensor, b: Tensor) = Tensor.Mul(a, b)
    static member (/)(a: Tensor, b: Tensor) = Tensor.Div(a, b)
    static member (~-)(a: Tensor) = Tensor.Neg a
    static member (+)(a: Tensor, s: float32) = Tensor.Affine(a, 1.0f, s)
    static member (+)(s: float32, a: Tensor) = Tensor.Affine(a, 1.0f, s)
    static member (-)(a: Tensor, s: float32) = Tensor.Affine(a, 1.0f, -s)
    static member (-)(s: float32, a: Tensor) = Tensor.Affine(a, -1.0f, s)
    static member (*)(a: Tensor, s: float32) = Tensor.Affine(a, s, 0.0f)
    static member (*)(s: float32, a: Tensor) = Tensor.Affine(a, s, 0.0f)
    static member (/)(a: Tensor, s: float32) = Tensor.Affine(a, 1.0f / s, 0.0f)
    static member (/)(s: float32, a: Tensor) = Tensor.ScalarDiv(s, a)

/// Creating tensors. Every random draw takes an explicit `Rng`.
[<RequireQualifiedAccess>]
module Tensor =
    /// A tensor holding a copy of `data`.
    let ofArray (shape: int[]) (data: float32[]) =
        Shape.check "ofArray" shape
        Tensor.Wrap(Array.copy shape, Array.copy data)

    let ofArray2D (a: float32[,]) =
        let m, n = Array2D.length1 a, Array2D.length2 a
        Tensor.Wrap([| m; n |], Array.init (m * n) (fun i -> a.[i / n, i % n]))

    let scalar (v: float32) = Tensor.Wrap([||], [| v |])
    let full (shape: int[]) (v: float32) = Shape.check "full" shape; Tensor.Wrap(Array.copy shape, Array.create (Shape.numel shape) v)
    let zeros (shape: int[]) = full shape 0.0f
    let ones (shape: int[]) = full shape 1.0f
    let zerosLike (t: Tensor) = zeros t.Shape
    let onesLike (t: Tensor) = ones t.Shape
    /// 0, 1, ..., n-1
    let arange (n: int) = Tensor.Wrap([| n |], Array.init n float32)
    /// The n x n identity.
    let eye (n: int) = Tensor.Wrap([| n; n |], Array.init (n * n) (fun i -> if i / n = i % n then 1.0f else 0.0f))
    /// Standard normal draws.
    let randn (rng: Rng) (shape: int[]) = Shape.check "randn" shape; Tensor.Wrap(Array.copy shape, Rng.normalArray (Shape.numel shape) rng)
    /// Uniform draws in [lo, hi).
    let rand (rng: Rng) (lo: float32) (hi: float32) (shape: int[]) =
        Shape.check "rand" shape
        let data = GC.AllocateUninitializedArray<float32>(Shape.numel shape)
        RandomKernels.fillUniformAffine rng.Key 0L lo (hi - lo) data // lo + (hi - lo) * Rng.uniformAt rng i
        Tensor.Wrap(Array.copy shape, data)
    /// Bernoulli(p) draws as 0/1 values, p given per element (same shape as the result).
    let bernoulli (rng: Rng) (p: Tensor) =
        let data = GC.AllocateUninitializedArray<float32> p.Numel
        RandomKernels.bernoulli rng.Key p.Data data // 1 where Rng.uniformAt rng i < p[i]
        Tensor.Wrap(Array.copy p.Shape, data)
    /// Same values, no part in any differentiation.
    let detach (t: Tensor) = t.Detach()
    /// Values as float, for tests and reports.
    let toFloats (t: Tensor) = t.Data |> Array.map float
    /// Do two tensors have the same shape and values within tolerances (|a-b| <= atol + rtol |b|)?
    let allClose (rtol: float32) (atol: float32) (a: Tensor) (b: Tensor) =
        a.Shape = b.Shape && Array.forall2 (fun (x: float32) (y: float32) -> abs (x - y) <= atol + rtol * abs y) a.Data b.Data
