/// Gradient checks: an op's forward must match a float64 reference, and its reverse-mode vector-Jacobian product
/// must match central finite differences of that reference (taken in float64, so the comparison measures the
/// op's backward, not rounding noise).
module GcnKd.Tests.GradCheck

open System
open GcnKd
open GcnKd.Tests.Ref64

type Tolerance = { Rtol: float; Atol: float }
let defaultTol = { Rtol = 2e-3; Atol = 2e-4 }

let private dot (a: float[]) (b: float[]) = Array.fold2 (fun s x y -> s + x * y) 0.0 a b

/// `op` maps float32 inputs to one output; `reference` computes the same output in float64 from the inputs.
/// `differentiable` marks inputs whose gradient is checked (others, like indices, are held fixed).
/// Elements where the function has a kink (one-sided differences disagree) are skipped.
let checkWith (tol: Tolerance) (name: string) (op: Tensor[] -> Tensor) (reference: R[] -> R) (differentiable: bool[]) (inputs: Tensor[]) =
    let refIn = inputs |> Array.map Ref64.ofTensor
    // 1. forward agrees with the float64 reference
    let out = op inputs
    let expected = reference refIn
    if out.Shape <> expected.Shape then
        failwithf "%s: output shape %s, reference %s" name (Shape.describe out.Shape) (Shape.describe expected.Shape)
    let scale = 1.0 + (expected.Data |> Array.fold (fun m v -> max m (abs v)) 0.0)
    for i in 0 .. out.Numel - 1 do
        let a, e = float out.Data.[i], expected.Data.[i]
        if not (abs (a - e) <= tol.Atol * scale + tol.Rtol * abs e) || Double.IsNaN a <> Double.IsNaN e then
            failwithf "%s: forward element %d is %g, reference %g" name i a e
    // 2. VJP against finite differences of <v, reference(x)>
    let rng = Rng.create (Array.sum (Array.map (fun (t: Tensor) -> t.Numel) inputs) + 17)
    let v = Tensor.randn rng out.Shape
    let vd = v.Data |> Array.map float
    let _, grads = Autodiff.vjp (fun (xs: Tensor[]) -> op xs) inputs v
    let phi (xs: R[]) = dot vd (reference xs).Data
    for k in 0 .. inputs.Length - 1 do
        if differentiable.[k] then
            let x = refIn.[k]
            let g = grads.[k].Data
            // every element for small inputs, a fixed sample otherwise
            let idx = if x.Data.Length <= 48 then [| 0 .. x.Data.Length - 1 |] else Array.init 48 (fun j -> Rng.intAt rng (int64 (1000 + j)) x.Data.Length)
            let numeric =
                idx |> Array.map (fun j ->
                    let h = 1e-5 * max 1.0 (abs x.Data.[j])
                    let at delta =
                        let xd = Array.copy x.Data
                        xd.[j] <- xd.[j] + delta
                        phi (Array.mapi (fun i r -> if i = k then { x with Data = xd } else r) refIn)
                    let f0, fp, fm = phi refIn, at h, at -h
                    let central = (fp - fm) / (2.0 * h)
                    let fwd, bwd = (fp - f0) / h, (f0 - fm) / h
                    let kink = abs (fwd - bwd) > 1e-3 * (1.0 + abs central)
                    j, central, kink)
            let gscale = 1.0 + (numeric |> Array.fold (fun m (_, c, _) -> max m (abs c)) 0.0)
            for (j, c, kink) in numeric do
                if not kink then
                    let a = float g.[j]
                    if not (abs (a - c) <= tol.Atol * gscale * 10.0 + tol.Rtol * 5.0 * abs c) then
                        failwithf "%s: gradient of input %d at element %d is %g, finite differences give %g" name k j a c
    true

let check name op reference differentiable inputs = checkWith defaultTol name op reference differentiable inputs
