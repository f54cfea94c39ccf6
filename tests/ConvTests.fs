module GcnKd.Tests.ConvTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---- naive float64 references (plain loops, independent of the im2col kernels) ----

/// Direct convolution: for every output (n, o, i, j), sum over (c, a, b) of x at (i*s - p + a, j*s - p + b).
let convRef (stride: int) (pad: int) (x: R) (w: R) (bias: R option) =
    let n, c, h, wd = x.Shape.[0], x.Shape.[1], x.Shape.[2], x.Shape.[3]
    let o, kh, kw = w.Shape.[0], w.Shape.[2], w.Shape.[3]
    let oh, ow = (h + 2 * pad - kh) / stride + 1, (wd + 2 * pad - kw) / stride + 1
    let y = Array.zeroCreate<float> (n * o * oh * ow)
    for ni in 0 .. n - 1 do
        for oi in 0 .. o - 1 do
            for i in 0 .. oh - 1 do
                for j in 0 .. ow - 1 do
                    let mutable s = match bias with Some b -> b.Data.[oi] | None -> 0.0
                    for ci in 0 .. c - 1 do
                        for a in 0 .. kh - 1 do
                            for b in 0 .. kw - 1 do
                                let ih, iw = i * stride - pad + a, j * stride - pad + b
                                if ih >= 0 && ih < h && iw >= 0 && iw < wd then
                                    s <- s + x.Data.[((ni * c + ci) * h + ih) * wd + iw] * w.Data.[((oi * c + ci) * kh + a) * kw + b]
                    y.[((ni * o + oi) * oh + i) * ow + j] <- s
    { Shape = [| n; o; oh; ow |]; Data = y }

/// Pooling reference: `combine` folds the k*k window values.
let poolRef (combine: float[] -> float) (k: int) (stride: int) (x: R) =
    let n, c, h, w = x.Shape.[0], x.Shape.[1], x.Shape.[2], x.Shape.[3]
    let oh, ow = (h - k) / stride + 1, (w - k) / stride + 1
    let y =
        Array.init (n * c * oh * ow) (fun idx ->
            let pl, r = idx / (oh * ow), idx % (oh * ow)
            let i, j = r / ow, r % ow
            [| for a in 0 .. k - 1 do
                 for b in 0 .. k - 1 -> x.Data.[(pl * h + i * stride + a) * w + j * stride + b] |] |> combine)
    { Shape = [| n; c; oh; ow |]; Data = y }

let maxPoolRef = poolRef Array.max
let avgPoolRef = poolRef Array.average

// ---- generators: only valid combinations (the padded input covers the kernel) ----

type ConvCase = { N: int; C: int; O: int; H: int; W: int; KH: int; KW: int; Stride: int; Pad: int; Bias: bool; Seed: int }

let convCase =
    gen {
        let! n = Props.dim 1 3
        let! c = Props.dim 1 4
        let! o = Props.dim 1 4
        let! h = Props.dim 1 9
        let! w = Props.dim 1 9
        let! pad = Props.dim 0 2
        let! kh = Props.dim 1 (min 4 (h + 2 * pad))
        let! kw = Props.dim 1 (min 4 (w + 2 * pad))
        let! stride = Props.dim 1 3
        let! bias = Gen.elements [ true; false ]
        let! seed = Props.seed
        return { N = n; C = c; O = o; H = h; W = w; KH = kh; KW = kw; Stride = stride; Pad = pad; Bias = bias; Seed = seed }
    }

type PoolCase = { Shape: int[]; K: int; S: int; Seed: int }

let poolCase =
    gen {
        let! n = Props.dim 1 3
        let! c = Props.dim 1 4
        let! h = Props.dim 1 9
        let! w = Props.dim 1 9
        let! k = Props.dim 1 (min 4 (min h w))
        let! s = Props.dim 1 3
        let! seed = Props.seed
        return { Shape = [| n; c; h; w |]; K = k; S = s; Seed = seed }
    }

[<Fact>]
let ``conv2d matches a direct float64 convolution and its gradients (x, w, bias)`` () =
    Props.forAll convCase (fun cc ->
        let rs = Rng.splitN 3 (Rng.create cc.Seed)
        let x = Tensor.randn rs.[0] [| cc.N; cc.C; cc.H; cc.W |]
        let w = Tensor.randn rs.[1] [| cc.O; cc.C; cc.KH; cc.KW |]
        let name = sprintf "conv2d %A" cc
        if cc.Bias then
            let b = Tensor.randn rs.[2] [| cc.O |]
            GradCheck.check name (fun t -> Conv.conv2d cc.Stride cc.Pad t.[0] t.[1] (Some t.[2]))
                (fun r -> convRef cc.Stride cc.Pad r.[0] r.[1] (Some r.[2])) [| true; true; true |] [| x; w; b |]
        else
            GradCheck.check name (fun t -> Conv.conv2d cc.Stride cc.Pad t.[0] t.[1] None)
                (fun r -> convRef cc.Stride cc.Pad r.[0] r.[1] None) [| true; true |] [| x; w |])

[<Fact>]
let ``conv2d differentiates one input while the others are constants`` () =
    Props.forAllN (Props.casesScaled 0.3) convCase (fun cc ->
        let rs = Rng.splitN 3 (Rng.create cc.Seed)
        let x = Tensor.randn rs.[0] [| cc.N; cc.C; cc.H; cc.W |]
        let w = Tensor.randn rs.[1] [| cc.O; cc.C; cc.KH; cc.KW |]
        let b = Tensor.randn rs.[2] [| cc.O |]
        GradCheck.check "conv2d wrt x" (fun t -> Conv.conv2d cc.Stride cc.Pad t.[0] w (Some b))
            (fun r -> convRef cc.Stride cc.Pad r.[0] (ofTensor w) (Some (ofTensor b))) [| true |] [| x |]
        && GradCheck.check "conv2d wrt w" (fun t -> Conv.conv2d cc.Stride cc.Pad x t.[0] None)
            (fun r -> convRef cc.Stride cc.Pad (ofTensor x) r.[0] None) [| true |] [| w |])

[<Fact>]
let ``maxPool2d matches the float64 reference and routes gradients to the maximum`` () =
    Props.forAll poolCase (fun pc ->
        let x = Tensor.randn (Rng.create pc.Seed) pc.Shape
        GradCheck.check (sprintf "maxPool2d %A" pc) (fun t -> Conv.maxPool2d pc.K pc.S t.[0])
            (fun r -> maxPoolRef pc.K pc.S r.[0]) [| true |] [| x |])

[<Fact>]
let ``avgPool2d matches the float64 reference and its gradient`` () =
    Props.forAll poolCase (fun pc ->
        let x = Tensor.randn (Rng.create pc.Seed) pc.Shape
        GradCheck.check (sprintf "avgPool2d %A" pc) (fun t -> Conv.avgPool2d pc.K pc.S t.[0])
            (fun r -> avgPoolRef pc.K pc.S r.[0]) [| true |] [| x |])

[<Fact>]
let ``maxPool2d with overlapping windows adds the gradient of every window a maximum wins`` () =
    // 1x1x3x3 with the maximum in the centre: a 2x2/1 pool picks it in all four windows
    let x = Tensor.ofArray [| 1; 1; 3; 3 |] [| 0.f; 1.f; 0.f; 2.f; 9.f; 3.f; 0.f; 4.f; 0.f |]
    let y, g = Autodiff.vjp (fun (t: Tensor) -> Conv.maxPool2d 2 1 t) x (Tensor.ones [| 1; 1; 2; 2 |])
    Assert.Equal<float32[]>([| 9.f; 9.f; 9.f; 9.f |], y.Data)
    Assert.Equal<float32[]>([| 0.f; 0.f; 0.f; 0.f; 4.f; 0.f; 0.f; 0.f; 0.f |], g.Data)

[<Fact>]
let ``maxPool2d sends a tie's gradient to the first maximum and propagates NaN, as PyTorch does`` () =
    let x = Tensor.ofArray [| 1; 1; 2; 4 |] [| 1.f; 1.f; 0.f; nanf; 1.f; 1.f; 5.f; 2.f |]
    let y, g = Autodiff.vjp (fun (t: Tensor) -> Conv.maxPool2d 2 2 t) x (Tensor.ofArray [| 1; 1; 1; 2 |] [| 1.f; 2.f |])
    Assert.Equal(1.f, y.Data.[0])
    Assert.True(Single.IsNaN y.Data.[1])
    Assert.Equal<float32[]>([| 1.f; 0.f; 0.f; 2.f; 0.f; 0.f; 0.f; 0.f |], g.Data)

// ---- shape errors ----

[<Fact>]
let ``conv2d names both shapes on a channel mismatch`` () =
    let ex = Assert.Throws<ArgumentException>(fun () ->
        Conv.conv2d 1 0 (Tensor.zeros [| 2; 3; 8; 8 |]) (Tensor.zeros [| 4; 2; 3; 3 |]) None |> ignore)
    Assert.Contains("conv2d", ex.Message)
    Assert.Contains("[2; 3; 8; 8]", ex.Message)
    Assert.Contains("[4; 2; 3; 3]", ex.Message)

[<Fact>]
let ``conv2d rejects an empty output, a bad bias, a bad rank and a bad stride`` () =
    let empty = Assert.Throws<ArgumentException>(fun () ->
        Conv.conv2d 1 0 (Tensor.zeros [| 1; 1; 3; 3 |]) (Tensor.zeros [| 1; 1; 5; 5 |]) None |> ignore)
    Assert.Contains("empty output", empty.Message)
    // padding makes the same kernel fit
    Assert.Equal<int[]>([| 1; 1; 3; 3 |], (Conv.conv2d 1 2 (Tensor.zeros [| 1; 1; 3; 3 |]) (Tensor.zeros [| 1; 1; 5; 5 |]) None).Shape)
    let bias = Assert.Throws<ArgumentException>(fun () ->
        Conv.conv2d 1 0 (Tensor.zeros [| 1; 2; 4; 4 |]) (Tensor.zeros [| 3; 2; 2; 2 |]) (Some (Tensor.zeros [| 2 |])) |> ignore)
    Assert.Contains("bias must have shape [3]", bias.Message)
    let rank = Assert.Throws<ArgumentException>(fun () ->
        Conv.conv2d 1 0 (Tensor.zeros [| 2; 4; 4 |]) (Tensor.zeros [| 3; 2; 2; 2 |]) None |> ignore)
    Assert.Contains("x must have rank 4", rank.Message)
    Assert.Throws<ArgumentException>(fun () ->
        Conv.conv2d 0 0 (Tensor.zeros [| 1; 2; 4; 4 |]) (Tensor.zeros [| 3; 2; 2; 2 |]) None |> ignore) |> ignore

[<Fact>]
let ``pools reject a window larger than the input`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> Conv.maxPool2d 3 1 (Tensor.zeros [| 1; 1; 2; 5 |]) |> ignore)
    Assert.Contains("maxPool2d", ex.Message)
    Assert.Contains("[1; 1; 2; 5]", ex.Message)
    Assert.Throws<ArgumentException>(fun () -> Conv.avgPool2d 2 0 (Tensor.zeros [| 1; 1; 4; 4 |]) |> ignore) |> ignore

// ---- golden values from PyTorch (experiments/reference/conv_pool.py) ----

let private vjpOf (f: Tensor[] -> Tensor) (inputs: Tensor[]) (v: Tensor) = Autodiff.vjp f inputs v

[<Fact>]
let ``conv2d and pooling agree with PyTorch`` () =
    let fx = Fixtures.load "conv_pool.json"
    let x, w, b = fx.Tensor "x", fx.Tensor "w", fx.Tensor "b"
    let conv (t: Tensor[]) = Conv.conv2d 1 1 t.[0] t.[1] (Some t.[2])
    let check (prefix: string) (f: Tensor[] -> Tensor) (outName: string) =
        let y, g = vjpOf f [| x; w; b |] (fx.Tensor ("v_" + prefix))
        Fixtures.assertClose outName 1e-4f 1e-5f (fx.Tensor outName) y
        Fixtures.assertClose (prefix + " grad x") 1e-4f 1e-4f (fx.Tensor (prefix + "_grad_x")) g.[0]
        Fixtures.assertClose (prefix + " grad w") 1e-4f 1e-4f (fx.Tensor (prefix + "_grad_w")) g.[1]
        Fixtures.assertClose (prefix + " grad b") 1e-4f 1e-4f (fx.Tensor (prefix + "_grad_b")) g.[2]
    check "conv" conv "conv"
    check "max" (conv >> Conv.maxPool2d 2 2) "maxpool"
    check "avg" (conv >> Conv.avgPool2d 2 2) "avgpool"
    // strided and padded, no bias, overlapping pool windows
    let y, g = vjpOf (fun t -> Conv.maxPool2d 3 2 (Conv.conv2d 2 2 t.[0] t.[1] None)) [| x; fx.Tensor "w2" |] (fx.Tensor "v_s2")
    Fixtures.assertClose "s2 out" 1e-4f 1e-5f (fx.Tensor "s2_out") y
    Fixtures.assertClose "s2 grad x" 1e-4f 1e-4f (fx.Tensor "s2_grad_x") g.[0]
    Fixtures.assertClose "s2 grad w" 1e-4f 1e-4f (fx.Tensor "s2_grad_w") g.[1]

// ---- determinism: bit-identical on 1 and 2 threads (LeNet-5 shapes, several GEMM groups) ----

[<Collection("threads")>]
module Determinism =
    let private withThreads (n: int) (f: unit -> 'a) =
        let saved = Threads.Count
        Threads.Count <- n
        try f () finally Threads.Count <- saved

    let private lenet (t: Tensor[]) =
        let h = Conv.maxPool2d 2 2 (Conv.conv2d 1 0 t.[0] t.[1] (Some t.[2]))
        Conv.avgPool2d 2 2 (Conv.conv2d 1 0 h t.[3] (Some t.[4]))

    [<Fact>]
    let ``LeNet convolutions and pools give bit-identical values and gradients on 1 and 2 threads`` () =
        let rs = Rng.splitN 6 (Rng.create 5)
        let inputs =
            [| Tensor.randn rs.[0] [| 80; 1; 28; 28 |]; Tensor.randn rs.[1] [| 20; 1; 5; 5 |]; Tensor.randn rs.[2] [| 20 |]
               Tensor.randn rs.[3] [| 50; 20; 5; 5 |]; Tensor.randn rs.[4] [| 50 |] |]
        let v = Tensor.randn rs.[5] [| 80; 50; 4; 4 |]
        let run () = Autodiff.vjp lenet inputs v
        let y1, g1 = withThreads 1 run
        let y2, g2 = withThreads 2 run
        Assert.Equal<float32[]>(y1.Data, y2.Data)
        for i in 0 .. g1.Length - 1 do Assert.Equal<float32[]>(g1.[i].Data, g2.[i].Data)
