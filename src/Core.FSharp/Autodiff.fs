/// Reverse-mode automatic differentiation with a functional face. Each call builds its own tape, runs the
/// function, walks the tape backwards and drops it: no tape outlives a call, and calls on different threads are
/// independent. Evaluation without differentiation (a frozen teacher) is a plain call on plain tensors.
module GcnKd.Autodiff

open GcnKd.Kernels

let private accumulate (x: Tensor) (a: Tensor) (b: Tensor) =
    if isNull a then b
    else Tensor.Wrap(x.Shape, Simd.zip a.Data b.Data (fun u v -> u + v) (fun u v -> u + v) (fun u v -> u + v))

/// Walk the tape from `root` with cotangent `seed`; returns the cotangent of every node by id (leaves kept).
let private backward (root: Tensor) (seed: Tensor) : Tensor[] =
    let tape = root.Node.Tape
    let grads = Array.zeroCreate<Tensor> tape.Count
    grads.[root.Node.Id] <- seed
    for id in root.Node.Id .. -1 .. 0 do
        let g = grads.[id]
        let node = tape.[id]
        if not (isNull g) && node.Inputs.Length > 0 then
            let gs = node.Backward g
            if gs.Length <> node.Inputs.Length then
                invalidOp (sprintf "backward of '%s' returned %d cotangents for %d inputs" node.Op gs.Length node.Inputs.Length)
            for i in 0 .. node.Inputs.Length - 1 do
                let x = node.Inputs.[i]
                let gi = gs.[i]
                if x.RequiresGrad && not (isNull gi) then
                    if gi.Shape <> x.Shape then
                        invalidOp (sprintf "backward of '%s': cotangent %d has shape %s, input has %s" node.Op i (Shape.describe gi.Shape) (Shape.describe x.Shape))
                    let j = x.Node.Id
                    grads.[j] <- accumulate x grads.[j] gi
            grads.[id] <- null // intermediate cotangents are not needed again
    grads

/// Differentiate `f` at `p`: leaves of `p` become the tape's leaves; the result's cotangent is `seed`.
let private run (f: 'P -> Tensor * 'A) (p: 'P) (seed: Tensor -> Tensor) : Tensor * 'P * 'A =
    let tape = Tape()
    let leafTree = Tree.map (fun _ t -> Tensor.Leaf(tape, t)) p
    let leafIds = Tree.leaves leafTree |> Array.map (fun (_, t) -> t.Node.Id)
    let out, aux = f leafTree
    let grads =
        if isNull out.Node || not (obj.ReferenceEquals(out.Node.Tape, tape)) then Array.zeroCreate tape.Count
        else backward out (seed out)
    let mutable i = 0
    let gradTree =
        Tree.map (fun _ (t: Tensor) ->
            let g = grads.[leafIds.[i]]
            i <- i + 1
            if isNull g then Tensor.zeros t.Shape else g.Detach()) p
    out.Detach(), gradTree, Tree.map (fun _ t -> t.Detach()) aux

let private scalarSeed (out: Tensor) =
    if out.Numel <> 1 then invalidArg "f" (sprintf "valueAndGrad needs a scalar result, got shape %s" (Shape.describe out.Shape))
    Tensor.ones out.Shape

/// The value of a scalar function and its gradient, a tree shaped like `p`.
let valueAndGrad (f: 'P -> Tensor) (p: 'P) : float32 * 'P =
    let v, g, () = run (fun q -> f q, ()) p scalarSeed
    v.Item0, g

/// As valueAndGrad, for a function that also returns auxiliary values (logits, new batch-norm statistics); their
/// tensors come back detached.
let valueAndGradAux (f: 'P -> Tensor * 'A) (p: 'P) : float32 * 'P * 'A =
    let v, g, a = run f p scalarSeed
    v.Item0, g, a

/// The gradient of a scalar function.
let grad (f: 'P -> Tensor) (p: 'P) : 'P = snd (valueAndGrad f p)

/// Vector-Jacobian product of a tensor-valued function: (f p, J^T cotangent).
let vjp (f: 'P -> Tensor) (p: 'P) (cotangent: Tensor) : Tensor * 'P =
    let v, g, () =
        run (fun q -> f q, ()) p (fun out ->
            if out.Shape <> cotangent.Shape then
                invalidArg "cotangent" (sprintf "cotangent shape %s differs from the output's %s" (Shape.describe cotangent.Shape) (Shape.describe out.Shape))
            cotangent)
    v, g

/// A tensor cut off from differentiation (gradients stop here).
let stopGradient (t: Tensor) = t.Detach()
