/// Float64 reference values: a tiny dense array type with naive implementations used as the oracle in gradient
/// checks (finite differences are taken on these, in double precision).
module GcnKd.Tests.Ref64

open GcnKd

type R = { Shape: int[]; Data: float[] }

let ofTensor (t: Tensor) = { Shape = Array.copy t.Shape; Data = t.Data |> Array.map float }
let make shape data = { Shape = shape; Data = data }
let map f (a: R) = { a with Data = Array.map f a.Data }

/// numpy-style broadcasting of a binary function.
let broadcast2 (f: float -> float -> float) (a: R) (b: R) =
    let s = Shape.broadcast a.Shape b.Shape
    let r = s.Length
    let pad (x: int[]) = Array.append (Array.create (r - x.Length) 1) x
    let pa, pb = pad a.Shape, pad b.Shape
    let sa, sb, so = Shape.strides pa, Shape.strides pb, Shape.strides s
    let n = Shape.numel s
    let data =
        Array.init n (fun o ->
            let mutable ia = 0
            let mutable ib = 0
            for d in 0 .. r - 1 do
                let idx = (o / so.[d]) % s.[d]
                if pa.[d] <> 1 then ia <- ia + idx * sa.[d]
                if pb.[d] <> 1 then ib <- ib + idx * sb.[d]
            f a.Data.[ia] b.Data.[ib])
    { Shape = s; Data = data }

/// Naive matrix product of [m,k] and [k,n].
let matmul (a: R) (b: R) =
    let m, k, n = a.Shape.[0], a.Shape.[1], b.Shape.[1]
    { Shape = [| m; n |]
      Data = Array.init (m * n) (fun o ->
          let i, j = o / n, o % n
          let mutable s = 0.0
          for p in 0 .. k - 1 do s <- s + a.Data.[i * k + p] * b.Data.[p * n + j]
          s) }

let transpose2 (a: R) =
    let m, n = a.Shape.[0], a.Shape.[1]
    { Shape = [| n; m |]; Data = Array.init (m * n) (fun o -> let i, j = o / m, o % m in a.Data.[j * n + i]) }
