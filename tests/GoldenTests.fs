/// Composite expressions against golden values computed by PyTorch (experiments/reference/*.py). The fixtures are
/// committed; these tests never need PyTorch.
module GcnKd.Tests.GoldenTests

open Xunit
open GcnKd
open GcnKd.Tests

type Gcn = { X: Tensor; W1: Tensor; B1: Tensor; W2: Tensor; B2: Tensor }

[<Fact>]
let ``2-layer GCN forward, masked cross-entropy and every gradient match PyTorch`` () =
    let f = Fixtures.load "gcn.json"
    let rowPtr = f.Ints "rowptr"
    let n = rowPtr.Length - 1
    let a = { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = f.Ints "col"; Values = (f.Tensor "values").Data }
    let labels = f.Ints "labels"
    let train = f.Ints "train"
    let p = { X = f.Tensor "x"; W1 = f.Tensor "w1"; B1 = f.Tensor "b1"; W2 = f.Tensor "w2"; B2 = f.Tensor "b2" }
    let forward (p: Gcn) =
        let hidden = Elementwise.relu (Sparse.spmm a (Linalg.matmul p.X p.W1) + p.B1)
        Sparse.spmm a (Linalg.matmul hidden p.W2) + p.B2, hidden
    let loss, grads, (out, hidden) =
        Autodiff.valueAndGradAux (fun p ->
            let out, hidden = forward p
            Loss.crossEntropy (Sparse.gatherRows train out) (train |> Array.map (fun i -> labels.[i])), (out, hidden)) p
    Fixtures.assertClose "hidden" 1e-5f 1e-5f (f.Tensor "hidden") hidden
    Fixtures.assertClose "out" 1e-5f 1e-5f (f.Tensor "out") out
    Assert.Equal(f.Float "loss", float loss, 5)
    Fixtures.assertClose "dL/dX" 1e-4f 1e-6f (f.Tensor "grad_x") grads.X
    Fixtures.assertClose "dL/dW1" 1e-4f 1e-6f (f.Tensor "grad_w1") grads.W1
    Fixtures.assertClose "dL/db1" 1e-4f 1e-6f (f.Tensor "grad_b1") grads.B1
    Fixtures.assertClose "dL/dW2" 1e-4f 1e-6f (f.Tensor "grad_w2") grads.W2
    Fixtures.assertClose "dL/db2" 1e-4f 1e-6f (f.Tensor "grad_b2") grads.B2

[<Theory>]
[<InlineData("h1")>]
[<InlineData("h2")>]
let ``segment softmax over in-edges and its gradient match PyTorch`` (heads: string) =
    let f = Fixtures.load "segment_softmax.json"
    let rowPtr = f.Ints "rowptr"
    let col = f.Ints "col"
    let n = rowPtr.Length - 1
    let a = { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = col; Values = Array.create col.Length 1.0f }
    let scores = f.Tensor ("scores_" + heads)
    let out, g = Autodiff.vjp (fun s -> Sparse.segmentSoftmax a s) scores (f.Tensor ("cotangent_" + heads))
    Fixtures.assertClose "softmax" 1e-5f 1e-6f (f.Tensor ("softmax_" + heads)) out
    Fixtures.assertClose "gradient" 1e-4f 1e-6f (f.Tensor ("grad_" + heads)) g
