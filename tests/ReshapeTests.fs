module GcnKd.Tests.ReshapeTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- naive float64 references: plain index arithmetic ----------------------------------------------------------

let private unravel (shape: int[]) (flat: int) =
    let idx = Array.zeroCreate shape.Length
    let mutable f = flat
    for d in shape.Length - 1 .. -1 .. 0 do
        idx.[d] <- f % shape.[d]
        f <- f / shape.[d]
    idx

let private ravel (shape: int[]) (idx: int[]) = Array.fold2 (fun acc d i -> acc * d + i) 0 shape idx

/// out[idx] = a[source idx] over the output shape.
let private gather (outShape: int[]) (a: R) (source: int[] -> int[]) =
    { Shape = outShape; Data = Array.init (Shape.numel outShape) (fun f -> a.Data.[ravel a.Shape (source (unravel outShape f))]) }

let private refPermute (perm: int[]) (a: R) =
    gather (perm |> Array.map (fun p -> a.Shape.[p])) a (fun o ->
        let i = Array.zeroCreate o.Length
        perm |> Array.iteri (fun k p -> i.[p] <- o.[k])
        i)

let private refSlice (axis: int) (start: int) (count: int) (a: R) =
    gather (Array.updateAt axis count a.Shape) a (fun o -> Array.updateAt axis (o.[axis] + start) o)

let private refConcat (axis: int) (xs: R[]) =
    let sizes = xs |> Array.map (fun x -> x.Shape.[axis])
    let shape = Array.updateAt axis (Array.sum sizes) xs.[0].Shape
    { Shape = shape
      Data = Array.init (Shape.numel shape) (fun f ->
          let o = unravel shape f
          let mutable k, j = 0, o.[axis]
          while j >= sizes.[k] do
              j <- j - sizes.[k]
              k <- k + 1
          xs.[k].Data.[ravel xs.[k].Shape (Array.updateAt axis j o)]) }

let private refStack (axis: int) (xs: R[]) =
    let shape = Array.insertAt axis xs.Length xs.[0].Shape
    { Shape = shape
      Data = Array.init (Shape.numel shape) (fun f ->
          let o = unravel shape f
          xs.[o.[axis]].Data.[ravel xs.[0].Shape (Array.removeAt axis o)]) }

let private withShape (shape: int[]) (a: R) = { a with Shape = shape }

// ---- generators ------------------------------------------------------------------------------------------------

/// Rank 1 to 4; one axis up to 40 (crossing the 32-wide transpose tiles), the others 1 to 5.
let private shape =
    gen {
        let! rank = Gen.choose (1, 4)
        let! dims = Gen.arrayOfLength rank (Props.dim 1 5)
        let! big = Gen.choose (0, rank - 1)
        let! bigSize = Props.dim 1 40
        return Array.updateAt big bigSize dims
    }

let private tensorOf (shape: int[]) (seed: int) = Tensor.rand (Rng.create seed) -2.0f 2.0f shape

let private all (xs: Tensor[]) = Array.create xs.Length true

// ---- properties ------------------------------------------------------------------------------------------------

[<Fact>]
let ``reshape regroups the dimensions without copying`` () =
    let case =
        gen {
            let! s = shape
            let! order = Gen.shuffle s
            let! merges = Gen.arrayOfLength order.Length (Gen.elements [ true; false ])
            let! infer = Gen.choose (-1, order.Length - 1)
            let! seed = Props.seed
            // merge neighbours of a shuffled list of the dimensions, then maybe replace one by -1
            let target = ResizeArray [ order.[0] ]
            for i in 1 .. order.Length - 1 do
                if merges.[i] then target.[target.Count - 1] <- target.[target.Count - 1] * order.[i] else target.Add order.[i]
            let t = target.ToArray()
            return s, (if infer >= 0 && infer < t.Length then Array.updateAt infer -1 t else t), seed
        }
    Props.forAll case (fun (s, target, seed) ->
        let x = tensorOf s seed
        let resolved = target |> Array.map (fun d -> if d = -1 then x.Numel / (target |> Array.filter ((<>) -1) |> Array.fold (*) 1) else d)
        let y = Reshape.reshape target x
        Assert.Equal<int[]>(resolved, y.Shape)
        Assert.True(obj.ReferenceEquals(x.Data, y.Data), "reshape must share storage")
        GradCheck.check "reshape" (fun t -> Reshape.reshape target t.[0]) (fun r -> withShape resolved r.[0]) [| true |] [| x |])

[<Fact>]
let ``permute and transpose move values like the index reference`` () =
    let case = gen {
        let! s = shape
        let! perm = Gen.shuffle [| 0 .. s.Length - 1 |]
        let! seed = Props.seed
        return s, perm, seed }
    Props.forAll case (fun (s, perm, seed) ->
        GradCheck.check "permute" (fun t -> Reshape.permute perm t.[0]) (fun r -> refPermute perm r.[0]) [| true |] [| tensorOf s seed |])
    let matrix = gen {
        let! m = Props.dim 1 80
        let! n = Props.dim 1 80
        let! seed = Props.seed
        return [| m; n |], seed }
    Props.forAll matrix (fun (s, seed) ->
        GradCheck.check "transpose" (fun t -> Reshape.transpose t.[0]) (fun r -> Ref64.transpose2 r.[0]) [| true |] [| tensorOf s seed |])

[<Fact>]
let ``permute's merged fast paths agree with the reference`` () =
    // [N,C,H,W] -> [N,H,W,C] (a batch of [C, HW] transposes), [A,B,C] -> [B,A,C] (row copies), size-1 axes between
    for s, perm in [ [| 2; 35; 3; 12 |], [| 0; 2; 3; 1 |]; [| 3; 4; 17 |], [| 1; 0; 2 |]; [| 5; 1; 33 |], [| 2; 1; 0 |]
                     [| 4; 1; 6; 1 |], [| 3; 2; 1; 0 |]; [| 2; 3; 4; 5 |], [| 3; 1; 2; 0 |]; [| 70; 1 |], [| 1; 0 |] ] do
        let x = tensorOf s 7
        let y = Reshape.permute perm x
        let e = refPermute perm (Ref64.ofTensor x)
        Assert.Equal<int[]>(e.Shape, y.Shape)
        Assert.Equal<float[]>(e.Data, Tensor.toFloats y)

[<Fact>]
let ``slice takes a block and scatters its gradient`` () =
    let case = gen {
        let! s = shape
        let! axis = Gen.choose (0, s.Length - 1)
        let! start = Gen.choose (0, s.[axis])
        let! count = Gen.choose (0, s.[axis] - start)
        let! negative = Gen.elements [ true; false ]
        let! seed = Props.seed
        return s, axis, (if negative then axis - s.Length else axis), start, count, seed }
    Props.forAll case (fun (s, axis, given, start, count, seed) ->
        GradCheck.check "slice" (fun t -> Reshape.slice given start count t.[0]) (fun r -> refSlice axis start count r.[0]) [| true |] [| tensorOf s seed |])

[<Fact>]
let ``sliceRows and sliceCols slice the first and last axes`` () =
    let x = tensorOf [| 5; 6; 7 |] 3
    Assert.Equal<float[]>((refSlice 0 1 3 (Ref64.ofTensor x)).Data, Tensor.toFloats (Reshape.sliceRows 1 3 x))
    Assert.Equal<float[]>((refSlice 2 2 4 (Ref64.ofTensor x)).Data, Tensor.toFloats (Reshape.sliceCols 2 4 x))
    Assert.Equal<int[]>([| 5; 6; 4 |], (Reshape.sliceCols 2 4 x).Shape)

[<Fact>]
let ``concat joins along an axis and splits its gradient`` () =
    let case = gen {
        let! s = shape
        let! axis = Gen.choose (0, s.Length - 1)
        let! k = Gen.choose (1, 3)
        let! sizes = Gen.arrayOfLength k (Props.dim 0 6)
        let! seed = Props.seed
        return s, axis, sizes, seed }
    Props.forAll case (fun (s, axis, sizes, seed) ->
        let xs = sizes |> Array.mapi (fun i d -> tensorOf (Array.updateAt axis d s) (seed + i))
        GradCheck.check "concat" (fun t -> Reshape.concat axis t) (fun r -> refConcat axis r) (all xs) xs)

[<Fact>]
let ``stack joins along a new axis and splits its gradient`` () =
    let case = gen {
        let! rank = Gen.choose (0, 3)
        let! s = Gen.arrayOfLength rank (Props.dim 1 7)
        let! axis = Gen.choose (0, rank)
        let! k = Gen.choose (1, 4)
        let! seed = Props.seed
        return s, axis, k, seed }
    Props.forAll case (fun (s, axis, k, seed) ->
        let xs = Array.init k (fun i -> tensorOf s (seed + i))
        GradCheck.check "stack" (fun t -> Reshape.stack axis t) (fun r -> refStack axis r) (all xs) xs
        && GradCheck.check "stack (negative axis)" (fun t -> Reshape.stack (axis - s.Length - 1) t) (fun r -> refStack axis r) (all xs) xs)

[<Fact>]
let ``constant pieces of concat and stack get no gradient`` () =
    let c = tensorOf [| 2; 3 |] 1
    let x = tensorOf [| 2; 3 |] 2
    let g = Tensor.ofArray [| 4; 3 |] (Array.init 12 float32)
    let _, gx = Autodiff.vjp (fun (t: Tensor) -> Reshape.concat 0 [| c; t |]) x g
    Assert.Equal<float32[]>([| 6.0f .. 11.0f |], gx.Data)
    let _, gs = Autodiff.vjp (fun (t: Tensor) -> Reshape.stack 1 [| t; c |]) x (Tensor.ofArray [| 2; 2; 3 |] (Array.init 12 float32))
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 2.0f; 6.0f; 7.0f; 8.0f |], gs.Data)

[<Fact>]
let ``flatten, unsqueeze and squeeze reshape without copying`` () =
    Props.forAll (Gen.zip shape Props.seed) (fun (s, seed) ->
        let x = tensorOf s seed
        let rest = Array.fold (*) 1 s.[1..]
        let flat = Reshape.flatten x
        Assert.True(obj.ReferenceEquals(x.Data, flat.Data))
        GradCheck.check "flatten" (fun t -> Reshape.flatten t.[0]) (fun r -> withShape [| s.[0]; rest |] r.[0]) [| true |] [| x |]
        && (s.Length = 4 ||
            (let a = seed % (s.Length + 1)
             GradCheck.check "unsqueeze" (fun t -> Reshape.unsqueeze a t.[0]) (fun r -> withShape (Array.insertAt a 1 s) r.[0]) [| true |] [| x |]
             && GradCheck.check "squeeze . unsqueeze" (fun t -> Reshape.squeeze a (Reshape.unsqueeze a t.[0])) (fun r -> r.[0]) [| true |] [| x |]
             && GradCheck.check "unsqueeze -1" (fun t -> Reshape.unsqueeze -1 t.[0]) (fun r -> withShape (Array.append s [| 1 |]) r.[0]) [| true |] [| x |])))
    Assert.Equal<int[]>([| 4; 1 |], (Reshape.flatten (Tensor.zeros [| 4 |])).Shape)
    Assert.Equal<int[]>([| 3 |], (Reshape.squeeze -1 (Tensor.zeros [| 3; 1 |])).Shape)

// ---- errors ----------------------------------------------------------------------------------------------------

let private throws (f: unit -> Tensor) (expected: string) =
    let ex = Assert.Throws<ArgumentException>(fun () -> f () |> ignore)
    Assert.Contains(expected, ex.Message)

[<Fact>]
let ``bad shapes and axes give clear errors`` () =
    let x = Tensor.zeros [| 2; 3 |]
    throws (fun () -> Reshape.reshape [| 4; 2 |] x) "reshape: cannot reshape a tensor of shape [2; 3] (6 elements) into [4; 2]"
    throws (fun () -> Reshape.reshape [| -1; -1 |] x) "at most one dimension may be -1"
    throws (fun () -> Reshape.reshape [| 4; -1 |] x) "into [4; -1]"
    throws (fun () -> Reshape.reshape [| 1; 1; 1; 2; 3 |] x) "rank at most 4"
    throws (fun () -> Reshape.permute [| 0; 0 |] x) "permute: axes [0; 0] are not a permutation of 0..1"
    throws (fun () -> Reshape.permute [| 0 |] x) "permute: 1 axes given for a tensor of shape [2; 3]"
    throws (fun () -> Reshape.permute [| 0; 2 |] x) "permute: axis 2 is out of range for a tensor of rank 2"
    throws (fun () -> Reshape.transpose (Tensor.zeros [| 2; 3; 4 |])) "transpose: expects a 2-D tensor, got shape [2; 3; 4]"
    throws (fun () -> Reshape.slice 1 2 3 x) "slice: range [2, 5) is outside axis 1 of size 3 (shape [2; 3])"
    throws (fun () -> Reshape.slice 2 0 1 x) "slice: axis 2 is out of range for a tensor of rank 2"
    throws (fun () -> Reshape.sliceRows -1 1 x) "slice: range [-1, 0)"
    throws (fun () -> Reshape.concat 0 [| x; Tensor.zeros [| 2; 4 |] |]) "concat: input 1 has shape [2; 4] but input 0 has shape [2; 3]; shapes may differ only along axis 0"
    throws (fun () -> Reshape.concat 0 [| x; Tensor.zeros [| 6 |] |]) "concat: input 1 has shape [6]"
    throws (fun () -> Reshape.concat 0 [||]) "concat: needs at least one tensor"
    throws (fun () -> Reshape.stack 0 [| x; Tensor.zeros [| 3; 2 |] |]) "stack: input 1 has shape [3; 2] but input 0 has shape [2; 3]"
    throws (fun () -> Reshape.stack 3 [| x |]) "stack: axis 3 is out of range for a new axis of inputs of rank 2 (valid: -3 to 2)"
    throws (fun () -> Reshape.squeeze 1 x) "squeeze: axis 1 of shape [2; 3] has size 3, not 1"
    throws (fun () -> Reshape.unsqueeze 0 (Tensor.zeros [| 1; 2; 3; 4 |])) "unsqueeze: a tensor of shape [1; 2; 3; 4] already has the maximum rank 4"
    throws (fun () -> Reshape.unsqueeze 4 x) "unsqueeze: axis 4 is out of range for a new axis of a tensor of rank 2 (valid: -3 to 2)"
    throws (fun () -> Reshape.flatten (Tensor.scalar 1.0f)) "flatten: needs a tensor of rank at least 1"
