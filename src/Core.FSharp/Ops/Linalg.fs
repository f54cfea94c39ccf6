/// Matrix products and their reverse-mode rules. With C = op(A) op(B) and cotangent G = dL/dC:
///   d op(A) = G op(B)^T,   d op(B) = op(A)^T G,
/// and the stored operands' cotangents follow by transposing where op transposed. Every product, forward or
/// backward, is one call of the GEMM kernel with the right transpose flags: no transposed copy is ever made.
[<RequireQualifiedAccess>]
module GcnKd.Linalg

#nowarn "9"

open System
open GcnKd
open GcnKd.Kernels

/// A fresh array that GEMM with beta = 0 overwrites completely, so zero-filling it first would be wasted work.
let private uninit (n: int) = GC.AllocateUninitializedArray<float32> n

/// C = op(A) op(B) (m x n) into a fresh array.
let private product (transA: bool) (transB: bool) (m: int) (n: int) (k: int) (a: float32[]) (b: float32[]) =
    let c = uninit (m * n)
    Gemm.gemm transA transB m n k a 0 b 0 0.0f c 0
    c

let private require2D (op: string) (name: string) (t: Tensor) =
    if t.Rank <> 2 then
        invalidArg name (sprintf "%s: %s must be a matrix (2-D), got shape %s" op name (Shape.describe t.Shape))

/// op(a) op(b) for 2-D a and b; `op` names the caller in error messages.
let private matmulCore (op: string) (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) =
    require2D op "a" a
    require2D op "b" b
    let m, k = if transA then a.Shape.[1], a.Shape.[0] else a.Shape.[0], a.Shape.[1]
    let kb, n = if transB then b.Shape.[1], b.Shape.[0] else b.Shape.[0], b.Shape.[1]
    if k <> kb then
        let side (t: bool) (name: string) (s: int[]) =
            if t then sprintf "%s has shape %s (transposed: %dx%d)" name (Shape.describe s) s.[1] s.[0]
            else sprintf "%s has shape %s" name (Shape.describe s)
        invalidArg "b" (sprintf "%s: %s and %s; the inner dimensions %d and %d differ"
                                op (side transA "a" a.Shape) (side transB "b" b.Shape) k kb)
    let c = product transA transB m n k a.Data b.Data
    Tensor.Make([| m; n |], c, op, [| a; b |], fun g ->
        let gd = g.Data
        // dA: A = op(A) when not transA (m x k), else A^T = op(A) (k x m)
        let da =
            if not a.RequiresGrad then null
            elif not transA then Tensor.Wrap(a.Shape, product false (not transB) m k n gd b.Data)
            else Tensor.Wrap(a.Shape, product transB true k m n b.Data gd)
        let db =
            if not b.RequiresGrad then null
            elif not transB then Tensor.Wrap(b.Shape, product (not transA) false k n m a.Data gd)
            else Tensor.Wrap(b.Shape, product true transA n k m gd a.Data)
        [| da; db |])

/// The matrix product a @ b of a [m, k] and b [k, n].
let matmul (a: Tensor) (b: Tensor) = matmulCore "matmul" false false a b

/// op(a) @ op(b), where op transposes a 2-D operand when its flag is set (a^T b, a b^T, a^T b^T without copies).
let matmulT (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) = matmulCore "matmulT" transA transB a b

/// Run `f i` for i in [0, batch): in parallel over the batch when each product is small, else in order (each GEMM
/// is then parallel inside). Either way every product is computed by one GEMM call, so results do not depend on
/// the thread count.
let private forBatch (batch: int) (workPerItem: int64) (f: int -> unit) =
    if workPerItem >= (1L <<< 20) then
        for i in 0 .. batch - 1 do f i
    else
        Threads.For(batch, int workPerItem, Action<int, int>(fun lo hi -> for i in lo .. hi - 1 do f i))

/// Batched product: a [batch, m, k] @ b [batch, k, n] -> [batch, m, n].
let bmm (a: Tensor) (b: Tensor) =
    if a.Rank <> 3 || b.Rank <> 3 then
        invalidArg (if a.Rank <> 3 then "a" else "b")
                   (sprintf "bmm: a and b must be 3-D ([batch, m, k] and [batch, k, n]), got shapes %s and %s"
                            (Shape.describe a.Shape) (Shape.describe b.Shape))
    let bt, m, k = a.Shape.[0], a.Shape.[1], a.Shape.[2]
    let bt2, kb, n = b.Shape.[0], b.Shape.[1], b.Shape.[2]
    if bt <> bt2 then
        invalidArg "b" (sprintf "bmm: a has shape %s and b has shape %s; the batch sizes %d and %d differ"
                                (Shape.describe a.Shape) (Shape.describe b.Shape) bt bt2)
    if k <> kb then
        invalidArg "b" (sprintf "bmm: a has shape %s and b has shape %s; the inner dimensions %d and %d differ"
                                (Shape.describe a.Shape) (Shape.describe b.Shape) k kb)
    let work = int64 m * int64 n * int64 k
    let c = uninit (bt * m * n)
    forBatch bt work (fun i -> Gemm.gemm false false m n k a.Data (i * m * k) b.Data (i * k * n) 0.0f c (i * m * n))
    Tensor.Make([| bt; m; n |], c, "bmm", [| a; b |], fun g ->
        let gd = g.Data
        let da =
            if not a.RequiresGrad then null
            else
                let d = uninit (bt * m * k)
                forBatch bt work (fun i -> Gemm.gemm false true m k n gd (i * m * n) b.Data (i * k * n) 0.0f d (i * m * k))
                Tensor.Wrap(a.Shape, d)
        let db =
            if not b.RequiresGrad then null
            else
                let d = uninit (bt * k * n)
                forBatch bt work (fun i -> Gemm.gemm true false k n m a.Data (i * m * k) gd (i * m * n) 0.0f d (i * k * n))
                Tensor.Wrap(b.Shape, d)
        [| da; db |])

/// Column sums of a rows x cols matrix: fixed blocks of rows summed in parallel, the block partials combined in
/// block order, so the result does not depend on the thread count.
let private columnSums (rows: int) (cols: int) (g: float32[]) =
    let blockRows = 1024
    let nb = (rows + blockRows - 1) / blockRows
    let partials = Array.zeroCreate<float32> (nb * cols)
    Threads.For(nb, blockRows * cols, Action<int, int>(fun lo hi ->
        for blk in lo .. hi - 1 do
            use pg = fixed g
            use pp = fixed partials
            let acc = Simd.ptr pp (blk * cols)
            for i in blk * blockRows .. min rows ((blk + 1) * blockRows) - 1 do
                Simd.axpyRange 1.0f (Simd.ptr pg (i * cols)) acc cols))
    let s = Array.zeroCreate<float32> cols
    for blk in 0 .. nb - 1 do
        for j in 0 .. cols - 1 do s.[j] <- s.[j] + partials.[blk * cols + j]
    s

/// A dense layer: x @ w + bias, with x [..., in] (any leading dimensions), w [in, out], bias [out].
/// The bias is written into the output first and the product accumulated onto it (GEMM with beta = 1).
let linear (x: Tensor) (w: Tensor) (bias: Tensor option) =
    require2D "linear" "w" w
    let inF, outF = w.Shape.[0], w.Shape.[1]
    if x.Rank < 1 || x.Shape.[x.Rank - 1] <> inF then
        invalidArg "x" (sprintf "linear: x has shape %s but w has shape %s; the last dimension of x must be %d"
                                (Shape.describe x.Shape) (Shape.describe w.Shape) inF)
    match bias with
    | Some bs when bs.Shape <> [| outF |] ->
        invalidArg "bias" (sprintf "linear: bias has shape %s but w has shape %s; the bias must have shape [%d]"
                                   (Shape.describe bs.Shape) (Shape.describe w.Shape) outF)
    | _ -> ()
    let rows = if inF = 0 then Shape.numel x.Shape.[.. x.Rank - 2] else x.Numel / inF
    let outShape = Array.append x.Shape.[.. x.Rank - 2] [| outF |]
    let y = uninit (rows * outF)
    match bias with
    | Some bs ->
        Threads.For(rows, outF, Action<int, int>(fun lo hi -> for i in lo .. hi - 1 do Array.blit bs.Data 0 y (i * outF) outF))
        Gemm.gemm false false rows outF inF x.Data 0 w.Data 0 1.0f y 0
    | None -> Gemm.gemm false false rows outF inF x.Data 0 w.Data 0 0.0f y 0
    let inputs = match bias with Some bs -> [| x; w; bs |] | None -> [| x; w |]
    Tensor.Make(outShape, y, "linear", inputs, fun g ->
        let gd = g.Data
        let dx = if x.RequiresGrad then Tensor.Wrap(x.Shape, product false true rows inF outF gd w.Data) else null
        let dw = if w.RequiresGrad then Tensor.Wrap(w.Shape, product true false inF outF rows x.Data gd) else null
        match bias with
        | Some bs -> [| dx; dw; (if bs.RequiresGrad then Tensor.Wrap(bs.Shape, columnSums rows outF gd) else null) |]
        | None -> [| dx; dw |])
