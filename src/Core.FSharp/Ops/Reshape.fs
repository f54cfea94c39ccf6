/// Shape manipulation: reshape (shares storage), permute and transpose (cache-blocked copies), slicing,
/// concatenation and stacking, each with its backward. Reshape-like ops (reshape, flatten, unsqueeze, squeeze)
/// never copy; everything else writes a fresh, tightly packed array.
[<RequireQualifiedAccess>]
module GcnKd.Reshape

#nowarn "9"

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop
open GcnKd

// ---------------------------------------------------------------------------------------------------------------
// Argument checks with messages that name the op.

let private axisOf (op: string) (rank: int) (ax: int) =
    let a = if ax < 0 then ax + rank else ax
    if a < 0 || a >= rank then
        invalidArg "axis" (sprintf "%s: axis %d is out of range for a tensor of rank %d (valid: %d to %d)" op ax rank (-rank) (rank - 1))
    a

/// A position for a new axis among the `rank` existing ones: 0 to rank (negative counts from the end, -1 appends).
let private newAxisOf (op: string) (what: string) (rank: int) (ax: int) =
    let a = if ax < 0 then ax + rank + 1 else ax
    if a < 0 || a > rank then
        invalidArg "axis" (sprintf "%s: axis %d is out of range for a new axis of %s of rank %d (valid: %d to %d)" op ax what rank (-rank - 1) rank)
    a

/// Resolve a requested shape with at most one -1 against an element count.
let private resolveShape (x: Tensor) (shape: int[]) =
    let fail why = invalidArg "shape" (sprintf "reshape: cannot reshape a tensor of shape %s (%d elements) into %s: %s" (Shape.describe x.Shape) x.Numel (Shape.describe shape) why)
    if shape |> Array.filter (fun d -> d = -1) |> Array.length > 1 then fail "at most one dimension may be -1"
    if shape |> Array.exists (fun d -> d < -1) then fail "dimensions must be non-negative (or a single -1)"
    if shape.Length > Shape.MaxRank then fail (sprintf "the engine supports rank at most %d" Shape.MaxRank)
    let known = shape |> Array.fold (fun acc d -> if d = -1 then acc else acc * d) 1
    match Array.tryFindIndex (fun d -> d = -1) shape with
    | Some i ->
        if known = 0 || x.Numel % known <> 0 then fail (sprintf "%d elements do not divide into the known dimensions (product %d)" x.Numel known)
        let s = Array.copy shape
        s.[i] <- x.Numel / known
        s
    | None ->
        if known <> x.Numel then fail (sprintf "the target holds %d elements" known)
        Array.copy shape

/// The same storage under another shape: the node shared by reshape, flatten, unsqueeze and squeeze.
let private view (op: string) (shape: int[]) (x: Tensor) =
    if shape = x.Shape then x
    else Tensor.Make(shape, x.Data, op, [| x |], fun g -> [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, g.Data) else null) |])

// ---------------------------------------------------------------------------------------------------------------
// Copy kernels on raw arrays (used by forward and backward passes).

[<Literal>]
let private Tile = 32

/// An 8 x 8 block in registers (AVX): d[c * ld + r] = s[r * ls + c] for r, c < 8. Unpack pairs of rows, shuffle
/// pairs of pairs, then swap 128-bit halves: 24 shuffles for 64 values instead of 64 scalar moves.
let inline private transpose8x8 (s: nativeptr<float32>) (ls: int) (d: nativeptr<float32>) (ld: int) =
    let inline row k = Avx.LoadVector256(NativePtr.add s (k * ls))
    let t0 = Avx.UnpackLow(row 0, row 1)
    let t1 = Avx.UnpackHigh(row 0, row 1)
    let t2 = Avx.UnpackLow(row 2, row 3)
    let t3 = Avx.UnpackHigh(row 2, row 3)
    let t4 = Avx.UnpackLow(row 4, row 5)
    let t5 = Avx.UnpackHigh(row 4, row 5)
    let t6 = Avx.UnpackLow(row 6, row 7)
    let t7 = Avx.UnpackHigh(row 6, row 7)
    let u0 = Avx.Shuffle(t0, t2, 0x44uy)
    let u1 = Avx.Shuffle(t0, t2, 0xEEuy)
    let u2 = Avx.Shuffle(t1, t3, 0x44uy)
    let u3 = Avx.Shuffle(t1, t3, 0xEEuy)
    let u4 = Avx.Shuffle(t4, t6, 0x44uy)
    let u5 = Avx.Shuffle(t4, t6, 0xEEuy)
    let u6 = Avx.Shuffle(t5, t7, 0x44uy)
    let u7 = Avx.Shuffle(t5, t7, 0xEEuy)
    let inline store k (v: Vector256<float32>) = Avx.Store(NativePtr.add d (k * ld), v)
    store 0 (Avx.Permute2x128(u0, u4, 0x20uy))
    store 1 (Avx.Permute2x128(u1, u5, 0x20uy))
    store 2 (Avx.Permute2x128(u2, u6, 0x20uy))
    store 3 (Avx.Permute2x128(u3, u7, 0x20uy))
    store 4 (Avx.Permute2x128(u0, u4, 0x31uy))
    store 5 (Avx.Permute2x128(u1, u5, 0x31uy))
    store 6 (Avx.Permute2x128(u2, u6, 0x31uy))
    store 7 (Avx.Permute2x128(u3, u7, 0x31uy))

/// d[j * m + i] = s[i * n + j] for i in [i0, i1), j in [j0, j1): full 8 x 8 blocks in registers, edges scalar.
let private transposeTile (s: nativeptr<float32>) (d: nativeptr<float32>) m n i0 i1 j0 j1 =
    let inline scalar ia ib ja jb =
        for j in ja .. jb - 1 do
            for i in ia .. ib - 1 do NativePtr.set d (j * m + i) (NativePtr.get s (i * n + j))
    let mutable i = i0
    if Avx.IsSupported then
        while i + 8 <= i1 do
            let mutable j = j0
            while j + 8 <= j1 do
                transpose8x8 (NativePtr.add s (i * n + j)) n (NativePtr.add d (j * m + i)) m
                j <- j + 8
            scalar i (i + 8) j j1
            i <- i + 8
    scalar i i1 j0 j1

/// dst[b][j, i] = src[b][i, j] for `batch` row-major m x n matrices, in 32 x 32 tiles so that both the reads and
/// the writes of a tile stay in cache. Parallel over (batch, tile of output rows).
let private batchedTranspose (batch: int) (m: int) (n: int) (src: float32[]) (dst: float32[]) =
    let jTiles = (n + Tile - 1) / Tile
    Threads.For(batch * jTiles, Tile * m, Action<int, int>(fun lo hi ->
        use ps = fixed src
        use pd = fixed dst
        for item in lo .. hi - 1 do
            let b, jt = item / jTiles, item % jTiles
            let s = NativePtr.add ps (b * m * n)
            let d = NativePtr.add pd (b * m * n)
            let j0, j1 = jt * Tile, min n ((jt + 1) * Tile)
            let mutable i0 = 0
            while i0 < m do
                let i1 = min m (i0 + Tile)
                transposeTile s d m n i0 i1 j0 j1
                i0 <- i1))

/// Drop size-1 axes and merge runs of input axes that stay adjacent and in order under `perm`; returns the reduced
/// input shape and permutation (equivalent to the original on the flat data).
let private simplify (shape: int[]) (perm: int[]) =
    // renumber the input axes of size other than 1 as 0, 1, ... (size-1 axes do not separate memory runs)
    let kept = [| 0 .. shape.Length - 1 |] |> Array.filter (fun a -> shape.[a] <> 1)
    let shape = kept |> Array.map (fun a -> shape.[a])
    let keep = perm |> Array.filter (fun a -> Array.contains a kept) |> Array.map (fun a -> Array.findIndex ((=) a) kept)
    // groups of consecutive input axes, in output order
    let groups = ResizeArray<ResizeArray<int>>()
    for a in keep do
        if groups.Count > 0 && (let g = groups.[groups.Count - 1] in g.[g.Count - 1] + 1 = a) then groups.[groups.Count - 1].Add a
        else groups.Add(ResizeArray [ a ])
    // reduced input axes are the groups sorted by their first input axis
    let order = groups |> Seq.mapi (fun i g -> i, g.[0]) |> Seq.sortBy snd |> Seq.map fst |> Array.ofSeq
    let rshape = order |> Array.map (fun gi -> groups.[gi] |> Seq.fold (fun acc a -> acc * shape.[a]) 1)
    let rank = Array.zeroCreate order.Length
    order |> Array.iteri (fun r gi -> rank.[gi] <- r)
    rshape, Array.init groups.Count (fun gi -> rank.[gi])

/// Permute the axes of row-major data: output axis k is input axis perm.[k].
let private permuteData (shape: int[]) (data: float32[]) (perm: int[]) =
    let outShape = perm |> Array.map (fun a -> shape.[a])
    let rshape, rperm = simplify shape perm
    match rperm with
    | [||] | [| 0 |] -> outShape, Array.copy data
    | [| 1; 0 |] ->
        let out = GC.AllocateUninitializedArray<float32> data.Length
        batchedTranspose 1 rshape.[0] rshape.[1] data out
        outShape, out
    | [| 0; 2; 1 |] ->
        let out = GC.AllocateUninitializedArray<float32> data.Length
        batchedTranspose rshape.[0] rshape.[1] rshape.[2] data out
        outShape, out
    | _ ->
        // General gather on rank 4 (the reduced rank is at most 4): one output row per item.
        let pad = 4 - rperm.Length
        let s4 = Array.append (Array.create pad 1) rshape
        let p4 = Array.append [| 0 .. pad - 1 |] (rperm |> Array.map (fun a -> a + pad))
        let st = Shape.strides s4
        let o4 = p4 |> Array.map (fun a -> s4.[a])
        let os = p4 |> Array.map (fun a -> st.[a])
        let out = GC.AllocateUninitializedArray<float32> data.Length
        let inner = o4.[3]
        Threads.For(o4.[0] * o4.[1] * o4.[2], inner, Action<int, int>(fun lo hi ->
            use ps = fixed data
            use pd = fixed out
            for r in lo .. hi - 1 do
                let i2 = r % o4.[2]
                let i1 = (r / o4.[2]) % o4.[1]
                let i0 = r / (o4.[2] * o4.[1])
                let src = NativePtr.add ps (i0 * os.[0] + i1 * os.[1] + i2 * os.[2])
                let dst = NativePtr.add pd (r * inner)
                if os.[3] = 1 then
                    Buffer.MemoryCopy(NativePtr.toVoidPtr src, NativePtr.toVoidPtr dst, int64 inner * 4L, int64 inner * 4L)
                else
                    for j in 0 .. inner - 1 do NativePtr.set dst j (NativePtr.get src (j * os.[3]))))
        outShape, out

/// Copy `outer` blocks: block o of `len` values from src at o * srcStride + srcOff to dst at o * dstStride + dstOff.
let private copyBlocks (outer: int) (len: int) (src: float32[]) (srcStride: int) (srcOff: int) (dst: float32[]) (dstStride: int) (dstOff: int) =
    if len > 0 then
        Threads.For(outer, len, Action<int, int>(fun lo hi ->
            for o in lo .. hi - 1 do
                Array.Copy(src, o * srcStride + srcOff, dst, o * dstStride + dstOff, len)))

/// Values of the block [start, start + count) along an axis split as (outer, size, inner).
let private sliceData (outer: int, size: int, inner: int) (start: int) (count: int) (data: float32[]) =
    let out = GC.AllocateUninitializedArray<float32> (outer * count * inner)
    copyBlocks outer (count * inner) data (size * inner) (start * inner) out (count * inner) 0
    out

/// Join pieces along an axis: piece k has shape `shapes.[k]` (equal except along `ax`).
let private concatData (ax: int) (shapes: int[][]) (datas: float32[][]) =
    let outShape = Array.copy shapes.[0]
    outShape.[ax] <- shapes |> Array.sumBy (fun s -> s.[ax])
    let outer, total, inner = Shape.aroundAxis outShape ax
    let out = GC.AllocateUninitializedArray<float32> (outer * total * inner)
    let mutable off = 0
    for k in 0 .. shapes.Length - 1 do
        let len = shapes.[k].[ax] * inner
        copyBlocks outer len datas.[k] len 0 out (total * inner) off
        off <- off + len
    outShape, out

/// The backward of concatenation: cut g (joined along `ax`) into the pieces that need a cotangent.
let private splitGrad (ax: int) (shapes: int[][]) (xs: Tensor[]) (g: Tensor) =
    let outer, total, inner = Shape.aroundAxis g.Shape ax
    let mutable start = 0
    [| for k in 0 .. xs.Length - 1 ->
        let count = shapes.[k].[ax]
        let s = start
        start <- start + count
        if xs.[k].RequiresGrad then Tensor.Wrap(xs.[k].Shape, sliceData (outer, total, inner) s count g.Data) else null |]

// ---------------------------------------------------------------------------------------------------------------
// Operations.

/// The same values under a new shape with the same element count; one dimension may be -1 (inferred). Shares
/// storage with x (no copy).
let reshape (shape: int[]) (x: Tensor) = view "reshape" (resolveShape x shape) x

/// Keep axis 0 and flatten the rest: [n; d1; ...] -> [n; d1 * ...] (a rank-1 [n] becomes [n; 1]).
let flatten (x: Tensor) =
    if x.Rank = 0 then invalidArg "x" "flatten: needs a tensor of rank at least 1, got a scalar"
    view "flatten" [| x.Shape.[0]; Array.fold (*) 1 x.Shape.[1..] |] x

/// Insert an axis of size 1 at position `axis` (0 to rank; negative counts from the end, -1 appends).
let unsqueeze (axis: int) (x: Tensor) =
    if x.Rank >= Shape.MaxRank then invalidArg "x" (sprintf "unsqueeze: a tensor of shape %s already has the maximum rank %d" (Shape.describe x.Shape) Shape.MaxRank)
    let a = newAxisOf "unsqueeze" "a tensor" x.Rank axis
    view "unsqueeze" (Array.insertAt a 1 x.Shape) x

/// Remove axis `axis`, which must have size 1 (unlike torch.squeeze, a size other than 1 is an error, not a no-op).
let squeeze (axis: int) (x: Tensor) =
    let a = axisOf "squeeze" x.Rank axis
    if x.Shape.[a] <> 1 then invalidArg "axis" (sprintf "squeeze: axis %d of shape %s has size %d, not 1" axis (Shape.describe x.Shape) x.Shape.[a])
    view "squeeze" (Array.removeAt a x.Shape) x

/// Reorder the axes: output axis k is input axis axes.[k] (rank <= 4). Adjacent axes that stay together are
/// merged first, so e.g. [N,C,H,W] -> [N,H,W,C] runs as a batch of blocked [C, HW] transposes. The backward
/// applies the inverse permutation.
let permute (axes: int[]) (x: Tensor) =
    let r = x.Rank
    if axes.Length <> r then
        invalidArg "axes" (sprintf "permute: %d axes given for a tensor of shape %s (rank %d)" axes.Length (Shape.describe x.Shape) r)
    let perm = axes |> Array.map (fun a -> axisOf "permute" r a)
    if (Array.distinct perm).Length <> r then
        invalidArg "axes" (sprintf "permute: axes %s are not a permutation of 0..%d" (Shape.describe axes) (r - 1))
    if perm = Array.init r id then x
    else
        let inverse = Array.zeroCreate r
        perm |> Array.iteri (fun k a -> inverse.[a] <- k)
        let outShape, out = permuteData x.Shape x.Data perm
        Tensor.Make(outShape, out, "permute", [| x |], fun g ->
            [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, snd (permuteData g.Shape g.Data inverse)) else null) |])

/// The transpose of a matrix (2-D only; use permute for more axes).
let transpose (x: Tensor) =
    if x.Rank <> 2 then invalidArg "x" (sprintf "transpose: expects a 2-D tensor, got shape %s" (Shape.describe x.Shape))
    permute [| 1; 0 |] x

/// Elements [start, start + count) along `axis`. The backward scatters the cotangent into zeros.
let slice (axis: int) (start: int) (count: int) (x: Tensor) =
    if x.Rank = 0 then invalidArg "x" "slice: cannot slice a scalar"
    let a = axisOf "slice" x.Rank axis
    let size = x.Shape.[a]
    if start < 0 || count < 0 || start + count > size then
        invalidArg "start" (sprintf "slice: range [%d, %d) is outside axis %d of size %d (shape %s)" start (start + count) axis size (Shape.describe x.Shape))
    if start = 0 && count = size then x
    else
        let outer, _, inner = Shape.aroundAxis x.Shape a
        let shape = Array.updateAt a count x.Shape
        Tensor.Make(shape, sliceData (outer, size, inner) start count x.Data, "slice", [| x |], fun g ->
            [| (if x.RequiresGrad then
                    let dx = Array.zeroCreate x.Numel
                    copyBlocks outer (count * inner) g.Data (count * inner) 0 dx (size * inner) (start * inner)
                    Tensor.Wrap(x.Shape, dx)
                else null) |])

/// Rows [start, start + count) (axis 0).
let sliceRows (start: int) (count: int) (x: Tensor) = slice 0 start count x

/// Columns [start, start + count) (the last axis).
let sliceCols (start: int) (count: int) (x: Tensor) = slice -1 start count x

/// Join tensors along an existing axis; all other dimensions must agree. The backward splits the cotangent.
let concat (axis: int) (xs: Tensor[]) =
    if isNull xs || xs.Length = 0 then invalidArg "xs" "concat: needs at least one tensor"
    let first = xs.[0]
    if first.Rank = 0 then invalidArg "xs" "concat: cannot concatenate scalars (use stack)"
    let a = axisOf "concat" first.Rank axis
    xs |> Array.iteri (fun k x ->
        if x.Rank <> first.Rank || (x.Shape |> Array.mapi (fun i d -> i = a || d = first.Shape.[i]) |> Array.contains false) then
            invalidArg "xs" (sprintf "concat: input %d has shape %s but input 0 has shape %s; shapes may differ only along axis %d"
                                 k (Shape.describe x.Shape) (Shape.describe first.Shape) axis))
    if xs.Length = 1 then first
    else
        let shapes = xs |> Array.map (fun x -> x.Shape)
        let outShape, out = concatData a shapes (xs |> Array.map (fun x -> x.Data))
        Tensor.Make(outShape, out, "concat", Array.copy xs, fun g -> splitGrad a shapes xs g)

/// Join equally shaped tensors along a new axis at position `axis` (0 to rank). The backward splits the cotangent.
let stack (axis: int) (xs: Tensor[]) =
    if isNull xs || xs.Length = 0 then invalidArg "xs" "stack: needs at least one tensor"
    let first = xs.[0]
    if first.Rank >= Shape.MaxRank then
        invalidArg "xs" (sprintf "stack: inputs of shape %s already have the maximum rank %d" (Shape.describe first.Shape) Shape.MaxRank)
    xs |> Array.iteri (fun k x ->
        if x.Shape <> first.Shape then
            invalidArg "xs" (sprintf "stack: input %d has shape %s but input 0 has shape %s; all shapes must be equal" k (Shape.describe x.Shape) (Shape.describe first.Shape)))
    let a = newAxisOf "stack" "inputs" first.Rank axis
    let shapes = xs |> Array.map (fun x -> Array.insertAt a 1 x.Shape)
    let outShape, out = concatData a shapes (xs |> Array.map (fun x -> x.Data))
    Tensor.Make(outShape, out, "stack", Array.copy xs, fun g -> splitGrad a shapes xs g)
