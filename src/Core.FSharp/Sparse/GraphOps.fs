/// Differentiable graph operations: message passing as sparse products and segment reductions over a Csr whose
/// row is the destination node and column the source node (PyG's gather/scatter pattern, written as CSR kernels).
/// Every reverse pass reads a transposed or grouped structure so each output row is summed by one thread in a
/// fixed order: results are bit-identical for any thread count.
namespace GcnKd

open System
open GcnKd.Kernels

[<RequireQualifiedAccess>]
module Sparse =
    /// Elements per leading-axis row (1 for a vector).
    let private rowWidth (x: Tensor) = if x.Rank = 0 then 1 else Shape.numel x.Shape.[1..]
    let private withRows (n: int) (x: Tensor) = Array.append [| n |] x.Shape.[1..]
    let private iota (n: int) = Array.init n id
    let private needRows (op: string) (arg: string) (n: int) (what: string) (x: Tensor) =
        if x.Rank < 1 || x.Shape.[0] <> n then
            invalidArg arg (sprintf "Sparse.%s: %s must have %d rows (%s), got shape %s" op arg n what (Shape.describe x.Shape))

    let private checkIndex (op: string) (arg: string) (index: int[]) (bound: int) =
        for k in 0 .. index.Length - 1 do
            if index.[k] < 0 || index.[k] >= bound then
                invalidArg arg (sprintf "Sparse.%s: %s.[%d] = %d is out of range [0, %d)" op arg k index.[k] bound)

    /// Per-head values laid out [nnz, heads], gathered into A^T's entry order.
    let private permuteEntries (perm: int[]) (v: float32[]) (heads: int) =
        if heads = 1 then Array.map (fun e -> v.[e]) perm
        else
            let out = Array.zeroCreate<float32> v.Length
            for p in 0 .. perm.Length - 1 do
                Array.blit v (perm.[p] * heads) out (p * heads) heads
            out

    /// A^T g for A = (structure of a, per-entry weights w laid out [nnz, heads]); g has rows of `width`.
    let private spmmT (a: Csr) (w: float32[]) (heads: int) (g: float32[]) (width: int) =
        let plan = Csr.transposePlan a
        SparseKernels.spmm a.Cols plan.RowPtr plan.Src (permuteEntries plan.Perm w heads) heads g width

    /// out[r] = x[index[r]] as raw rows (a one-entry-per-row SpMM with unit weights).
    let private gatherRaw (index: int[]) (x: float32[]) (width: int) =
        SparseKernels.spmm index.Length (iota (index.Length + 1)) index null 1 x width

    /// Rows of `x` grouped by segment: (ptr, rows in increasing order within each segment).
    let private group (segment: int[]) (numSegments: int) = SparseKernels.countingSort numSegments segment (iota segment.Length)

    /// A X: sums each destination's in-neighbour rows weighted by the stored values (A fixed, X differentiable).
    /// x is [a.Cols, ...]; the result is [a.Rows, ...]. Backward: dX = A^T G through the cached transpose.
    let spmm (a: Csr) (x: Tensor) =
        Csr.ensureValid a
        needRows "spmm" "x" a.Cols "the matrix's columns" x
        let width = rowWidth x
        let out = SparseKernels.spmm a.Rows a.RowPtr a.ColIdx a.Values 1 x.Data width
        Tensor.Make(withRows a.Rows x, out, "spmm", [| x |], fun g ->
            [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, spmmT a a.Values 1 g.Data width) else null) |])

    /// A(values) X with differentiable per-entry values in CSR order (attention coefficients). values [nnz]
    /// weights whole rows of x; values [nnz, h] treats x as h heads: x [n, h*d] or [n, h, d], head k of the output
    /// summing head k of the neighbours with weights values[:, k] (GAT, Velickovic et al. 2018, eq. 4).
    /// Backward: dX = A(values)^T G; dvalues[e, k] = dot(G[row e, head k], X[col e, head k]).
    let spmmValues (a: Csr) (values: Tensor) (x: Tensor) =
        Csr.ensureValid a
        let nnz = Csr.nnz a
        if not (values.Rank = 1 || values.Rank = 2) || values.Shape.[0] <> nnz then
            invalidArg "values" (sprintf "Sparse.spmmValues: values must be [%d] or [%d, heads] (one per stored entry), got shape %s" nnz nnz (Shape.describe values.Shape))
        needRows "spmmValues" "x" a.Cols "the matrix's columns" x
        let heads = if values.Rank = 2 then values.Shape.[1] else 1
        let width = rowWidth x
        if heads > 1 then
            let ok = (x.Rank = 2 && width % heads = 0) || (x.Rank = 3 && x.Shape.[1] = heads)
            if not ok then
                invalidArg "x" (sprintf "Sparse.spmmValues: with %d heads x must be [n, %d*d] or [n, %d, d], got shape %s" heads heads heads (Shape.describe x.Shape))
        elif heads = 0 then
            invalidArg "values" (sprintf "Sparse.spmmValues: values has shape %s: no heads" (Shape.describe values.Shape))
        let out = SparseKernels.spmm a.Rows a.RowPtr a.ColIdx values.Data heads x.Data width
        Tensor.Make(withRows a.Rows x, out, "spmmValues", [| values; x |], fun g ->
            [| (if values.RequiresGrad then
                    Tensor.Wrap(values.Shape, SparseKernels.edgeDot a.Rows a.RowPtr a.ColIdx g.Data x.Data width heads)
                else null)
               (if x.RequiresGrad then
                    Tensor.Wrap(x.Shape, spmmT a values.Data heads g.Data width)
                else null) |])

    /// Rows of x picked by index (repeats allowed): result [index.Length, ...]. Backward: a segment sum of the
    /// cotangent rows back onto x's rows.
    let gatherRows (index: int[]) (x: Tensor) =
        if x.Rank < 1 then invalidArg "x" "Sparse.gatherRows: x must have at least one axis"
        checkIndex "gatherRows" "index" index x.Shape.[0]
        let width = rowWidth x
        Tensor.Make(withRows index.Length x, gatherRaw index x.Data width, "gatherRows", [| x |], fun g ->
            [| (if x.RequiresGrad then
                    let ptr, order = group index x.Shape.[0]
                    Tensor.Wrap(x.Shape, SparseKernels.spmm x.Shape.[0] ptr order null 1 g.Data width)
                else null) |])

    let private checkSegments (op: string) (segment: int[]) (numSegments: int) (x: Tensor) =
        if numSegments < 0 then invalidArg "numSegments" (sprintf "Sparse.%s: numSegments is %d" op numSegments)
        if x.Rank < 1 || x.Shape.[0] <> segment.Length then
            invalidArg "x" (sprintf "Sparse.%s: x must have one row per segment id (%d rows), got shape %s" op segment.Length (Shape.describe x.Shape))
        checkIndex op "segment" segment numSegments

    /// Row r of x added into row segment.[r] of a [numSegments, ...] result (scatter-add; empty segments are 0).
    /// Each segment sums its rows in increasing row order. Backward: gather the cotangent rows.
    let segmentSum (segment: int[]) (numSegments: int) (x: Tensor) =
        checkSegments "segmentSum" segment numSegments x
        let width = rowWidth x
        let ptr, order = group segment numSegments
        let out = SparseKernels.spmm numSegments ptr order null 1 x.Data width
        Tensor.Make(withRows numSegments x, out, "segmentSum", [| x |], fun g ->
            [| (if x.RequiresGrad then Tensor.Wrap(x.Shape, gatherRaw segment g.Data width) else null) |])

    /// Mean of the rows in each segment (empty segments are 0). Backward: dx[r] = g[segment r] / |segment r|.
    let segmentMean (segment: int[]) (numSegments: int) (x: Tensor) =
        checkSegments "segmentMean" segment numSegments x
        let width = rowWidth x
        let ptr, order = group segment numSegments
        let inv = Array.init numSegments (fun s -> let c = ptr.[s + 1] - ptr.[s] in if c = 0 then 0.0f else 1.0f / float32 c)
        let sorted = order |> Array.map (fun r -> inv.[segment.[r]])
        let out = SparseKernels.spmm numSegments ptr order sorted 1 x.Data width
        Tensor.Make(withRows numSegments x, out, "segmentMean", [| x |], fun g ->
            [| (if x.RequiresGrad then
                    let w = segment |> Array.map (fun s -> inv.[s])
                    Tensor.Wrap(x.Shape, SparseKernels.spmm segment.Length (iota (segment.Length + 1)) segment w 1 g.Data width)
                else null) |])

    /// Column-wise maximum of the rows in each segment (empty segments are 0). The gradient goes to the first row
    /// (lowest index) attaining the maximum, like a subgradient choice that stays fixed across thread counts.
    let segmentMax (segment: int[]) (numSegments: int) (x: Tensor) =
        checkSegments "segmentMax" segment numSegments x
        let width = rowWidth x
        let ptr, order = group segment numSegments
        let out, arg = SparseKernels.segmentMax numSegments ptr order x.Data width
        Tensor.Make(withRows numSegments x, out, "segmentMax", [| x |], fun g ->
            [| (if x.RequiresGrad then
                    // each (row, column) of x is the argmax of at most one (segment, column): plain writes
                    let dx = Array.zeroCreate<float32> x.Numel
                    let gd = g.Data
                    Threads.For(numSegments, 2 * width, Action<int, int>(fun lo hi ->
                        for s in lo .. hi - 1 do
                            for c in 0 .. width - 1 do
                                let r = arg.[s * width + c]
                                if r >= 0 then dx.[r * width + c] <- gd.[s * width + c]))
                    Tensor.Wrap(x.Shape, dx)
                else null) |])

    /// Softmax over the stored entries of each row of a (the edges sharing a destination), per head: scores
    /// [nnz] or [nnz, h] in CSR order, max-subtracted; entries of an empty row do not exist, so nothing breaks.
    /// Backward: ds = y (g - sum_row g y).
    let segmentSoftmax (a: Csr) (scores: Tensor) =
        Csr.ensureValid a
        let nnz = Csr.nnz a
        if not (scores.Rank = 1 || scores.Rank = 2) || scores.Shape.[0] <> nnz then
            invalidArg "scores" (sprintf "Sparse.segmentSoftmax: scores must be [%d] or [%d, heads] (one per stored entry), got shape %s" nnz nnz (Shape.describe scores.Shape))
        let heads = if scores.Rank = 2 then scores.Shape.[1] else 1
        let y = SparseKernels.segmentSoftmax a.Rows a.RowPtr scores.Data heads
        Tensor.Make(Array.copy scores.Shape, y, "segmentSoftmax", [| scores |], fun g ->
            [| (if scores.RequiresGrad then Tensor.Wrap(scores.Shape, SparseKernels.segmentSoftmaxBackward a.Rows a.RowPtr y g.Data heads) else null) |])

    /// Check endpoint features: xDst [a.Rows, ...] and xSrc [a.Cols, ...] with equal trailing shapes.
    let private checkEndpoints (op: string) (a: Csr) (xDst: Tensor) (xSrc: Tensor) =
        Csr.ensureValid a
        needRows op "xDst" a.Rows "one per destination node = matrix row" xDst
        needRows op "xSrc" a.Cols "one per source node = matrix column" xSrc
        if xDst.Shape.[1..] <> xSrc.Shape.[1..] then
            invalidArg "xSrc" (sprintf "Sparse.%s: xDst %s and xSrc %s must have the same feature shape" op (Shape.describe xDst.Shape) (Shape.describe xSrc.Shape))

    /// Backward of a per-edge scalar f(xDst[i], xSrc[j]) whose partial derivatives are d f / d xDst = w * u(i, j)
    /// and d f / d xSrc = w * u'(j, i): one row-wise pass over A and one over A^T.
    let private edgeBackward (a: Csr) (xDst: Tensor) (xSrc: Tensor) (g: float32[])
                             (towardDst: int -> int[] -> int[] -> float32[] -> float32[])
                             (towardSrc: int -> int[] -> int[] -> float32[] -> float32[]) =
        [| (if xDst.RequiresGrad then Tensor.Wrap(xDst.Shape, towardDst a.Rows a.RowPtr a.ColIdx g) else null)
           (if xSrc.RequiresGrad then
                let plan = Csr.transposePlan a
                Tensor.Wrap(xSrc.Shape, towardSrc a.Cols plan.RowPtr plan.Src (permuteEntries plan.Perm g 1))
            else null) |]

    /// dot(xDst[i], xSrc[j]) for every stored entry (i, j): [nnz].
    let edgeDot (a: Csr) (xDst: Tensor) (xSrc: Tensor) =
        checkEndpoints "edgeDot" a xDst xSrc
        let width = rowWidth xDst
        let out = SparseKernels.edgeDot a.Rows a.RowPtr a.ColIdx xDst.Data xSrc.Data width 1
        Tensor.Make([| Csr.nnz a |], out, "edgeDot", [| xDst; xSrc |], fun g ->
            edgeBackward a xDst xSrc g.Data
                (fun n ptr idx w -> SparseKernels.spmm n ptr idx w 1 xSrc.Data width)
                (fun n ptr idx w -> SparseKernels.spmm n ptr idx w 1 xDst.Data width))

    /// xDst[i] + xSrc[j] for every stored entry (i, j): [nnz, ...] (a message built from both endpoints).
    let edgeSum (a: Csr) (xDst: Tensor) (xSrc: Tensor) =
        checkEndpoints "edgeSum" a xDst xSrc
        let width = rowWidth xDst
        let nnz = Csr.nnz a
        let out = SparseKernels.edgeSum a.Rows a.RowPtr a.ColIdx xDst.Data xSrc.Data width
        Tensor.Make(withRows nnz xDst, out, "edgeSum", [| xDst; xSrc |], fun g ->
            [| (if xDst.RequiresGrad then Tensor.Wrap(xDst.Shape, SparseKernels.spmm a.Rows a.RowPtr (iota nnz) null 1 g.Data width) else null)
               (if xSrc.RequiresGrad then
                    let plan = Csr.transposePlan a
                    Tensor.Wrap(xSrc.Shape, SparseKernels.spmm a.Cols plan.RowPtr plan.Perm null 1 g.Data width)
                else null) |])

    /// ||xDst[i] - xSrc[j]||^2 for every stored entry (i, j): [nnz].
    let edgeSqDist (a: Csr) (xDst: Tensor) (xSrc: Tensor) =
        checkEndpoints "edgeSqDist" a xDst xSrc
        let width = rowWidth xDst
        let out = SparseKernels.edgeSqDist a.Rows a.RowPtr a.ColIdx xDst.Data xSrc.Data width
        Tensor.Make([| Csr.nnz a |], out, "edgeSqDist", [| xDst; xSrc |], fun g ->
            let g2 = g.Data |> Array.map (fun v -> 2.0f * v)
            edgeBackward a xDst xSrc g2
                (fun n ptr idx w -> SparseKernels.diffSum n ptr idx w xDst.Data xSrc.Data width)
                (fun n ptr idx w -> SparseKernels.diffSum n ptr idx w xSrc.Data xDst.Data width))

    /// ||xDst[i] - xSrc[j]||_1 for every stored entry (i, j): [nnz]. Subgradient 0 where coordinates tie.
    let edgeL1 (a: Csr) (xDst: Tensor) (xSrc: Tensor) =
        checkEndpoints "edgeL1" a xDst xSrc
        let width = rowWidth xDst
        let out = SparseKernels.edgeL1 a.Rows a.RowPtr a.ColIdx xDst.Data xSrc.Data width
        Tensor.Make([| Csr.nnz a |], out, "edgeL1", [| xDst; xSrc |], fun g ->
            edgeBackward a xDst xSrc g.Data
                (fun n ptr idx w -> SparseKernels.signDiffSum n ptr idx w xDst.Data xSrc.Data width)
                (fun n ptr idx w -> SparseKernels.signDiffSum n ptr idx w xSrc.Data xDst.Data width))
