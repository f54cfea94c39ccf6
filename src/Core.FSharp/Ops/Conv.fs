/// 2-D convolution and pooling on NCHW tensors (PyTorch's conv2d / max_pool2d / avg_pool2d with square stride,
/// symmetric zero padding, floor-mode output sizes). Kernels in Kernels/ConvKernels.fs.
[<RequireQualifiedAccess>]
module GcnKd.Conv

open GcnKd.Kernels

let private need4 (op: string) (arg: string) (t: Tensor) (layout: string) =
    if t.Rank <> 4 then
        invalidArg arg (sprintf "%s: %s must have rank 4 (%s), got shape %s" op arg layout (Shape.describe t.Shape))

/// Cross-correlation (as in every deep-learning library) of x [N,C,H,W] with w [O,C,kh,kw], zero padding on every
/// side, plus an optional bias [O]: y [N,O,OH,OW] with OH = (H + 2 padding - kh) / stride + 1.
let conv2d (stride: int) (padding: int) (x: Tensor) (w: Tensor) (bias: Tensor option) : Tensor =
    need4 "conv2d" "x" x "N, C, H, W"
    need4 "conv2d" "w" w "O, C, kh, kw"
    if stride < 1 then invalidArg "stride" (sprintf "conv2d: stride must be >= 1, got %d" stride)
    if padding < 0 then invalidArg "padding" (sprintf "conv2d: padding must be >= 0, got %d" padding)
    let n, c, h, wd = x.Shape.[0], x.Shape.[1], x.Shape.[2], x.Shape.[3]
    let o, kh, kw = w.Shape.[0], w.Shape.[2], w.Shape.[3]
    if w.Shape.[1] <> c then
        invalidArg "w" (sprintf "conv2d: x of shape %s has %d input channels but w of shape %s expects %d"
                            (Shape.describe x.Shape) c (Shape.describe w.Shape) w.Shape.[1])
    match bias with
    | Some b when b.Shape <> [| o |] ->
        invalidArg "bias" (sprintf "conv2d: bias must have shape [%d] (one per output channel of w %s), got %s"
                               o (Shape.describe w.Shape) (Shape.describe b.Shape))
    | _ -> ()
    let g = ConvKernels.geom n c h wd o kh kw stride padding
    if g.OH <= 0 || g.OW <= 0 || kh = 0 || kw = 0 then
        invalidArg "x" (sprintf "conv2d: a %dx%d kernel with padding %d and stride %d over a %dx%d input gives an empty output (%dx%d)"
                            kh kw padding stride h wd (max 0 g.OH) (max 0 g.OW))
    let biasData = match bias with Some b -> b.Data | None -> null
    let y = ConvKernels.conv2dForward g x.Data w.Data biasData
    let inputs = match bias with Some b -> [| x; w; b |] | None -> [| x; w |]
    Tensor.Make([| n; o; g.OH; g.OW |], y, "conv2d", inputs, fun gy ->
        let struct (dx, dw) = ConvKernels.conv2dBackward g x.Data w.Data gy.Data x.RequiresGrad w.RequiresGrad
        let gx = if isNull dx then null else Tensor.Wrap(x.Shape, dx)
        let gw = if isNull dw then null else Tensor.Wrap(w.Shape, dw)
        match bias with
        | Some b ->
            let gb = if b.RequiresGrad then Tensor.Wrap(b.Shape, ConvKernels.conv2dBackwardBias g gy.Data) else null
            [| gx; gw; gb |]
        | None -> [| gx; gw |])

let private poolGeometry (op: string) (kernel: int) (stride: int) (x: Tensor) =
    need4 op "x" x "N, C, H, W"
    if kernel < 1 then invalidArg "kernel" (sprintf "%s: kernel must be >= 1, got %d" op kernel)
    if stride < 1 then invalidArg "stride" (sprintf "%s: stride must be >= 1, got %d" op stride)
    let h, w = x.Shape.[2], x.Shape.[3]
    let oh, ow = ConvKernels.outSize h kernel stride 0, ConvKernels.outSize w kernel stride 0
    if oh <= 0 || ow <= 0 then
        invalidArg "x" (sprintf "%s: a %dx%d window does not fit input x of shape %s" op kernel kernel (Shape.describe x.Shape))
    x.Shape.[0] * x.Shape.[1], h, w, oh, ow

/// Max over kernel x kernel windows moved by `stride` (no padding); the gradient flows to the first maximum.
let maxPool2d (kernel: int) (stride: int) (x: Tensor) : Tensor =
    let planes, h, w, oh, ow = poolGeometry "maxPool2d" kernel stride x
    let y, arg = ConvKernels.maxPoolForward planes h w kernel stride x.Data
    Tensor.Make([| x.Shape.[0]; x.Shape.[1]; oh; ow |], y, "maxPool2d", [| x |], fun gy ->
        [| Tensor.Wrap(x.Shape, ConvKernels.maxPoolBackward planes h w oh ow arg gy.Data) |])

/// Mean over kernel x kernel windows moved by `stride` (no padding).
let avgPool2d (kernel: int) (stride: int) (x: Tensor) : Tensor =
    let planes, h, w, oh, ow = poolGeometry "avgPool2d" kernel stride x
    let y = ConvKernels.avgPoolForward planes h w kernel stride x.Data
    Tensor.Make([| x.Shape.[0]; x.Shape.[1]; oh; ow |], y, "avgPool2d", [| x |], fun gy ->
        [| Tensor.Wrap(x.Shape, ConvKernels.avgPoolBackward planes h w kernel stride gy.Data) |])
