/// End-to-end determinism: the same seed gives bit-identical numbers with 1 and with 2 kernel threads, across a
/// whole training step (sparse aggregation, GEMM, dropout, batch norm, cross-entropy, backward, Adam).
[<Xunit.Collection("threads")>]
module GcnKd.Tests.DeterminismTests

open Xunit
open GcnKd

type Net = { W1: Tensor; B1: Tensor; Gamma: Tensor; Beta: Tensor; W2: Tensor; B2: Tensor }

let private run (threads: int) =
    let saved = Threads.Count
    Threads.Count <- threads
    try
        let n, f, h, c = 3000, 96, 64, 7
        let keys = Rng.splitN 8 (Rng.create 42)
        // a random graph: 4 out-edges per node plus self-loops, mean-normalised rows
        let src = Array.init (n * 5) (fun e -> if e < n then e else Rng.intAt keys.[0] (int64 e) n)
        let dst = Array.init (n * 5) (fun e -> if e < n then e else (e - n) / 4)
        let adj = Csr.ofCoo n n dst src None
        let deg = Array.init n (fun i -> float32 (adj.RowPtr.[i + 1] - adj.RowPtr.[i]))
        let a = { adj with Values = Array.init adj.ColIdx.Length (fun e -> 1.0f / deg.[(Csr.edgeRows adj).[e]]) }
        let x = Tensor.randn keys.[1] [| n; f |]
        let labels = Array.init n (fun i -> Rng.intAt keys.[2] (int64 i) c)
        let p0 =
            { W1 = Tensor.randn keys.[3] [| f; h |] * 0.1f; B1 = Tensor.zeros [| h |]
              Gamma = Tensor.ones [| h |]; Beta = Tensor.zeros [| h |]
              W2 = Tensor.randn keys.[4] [| h; c |] * 0.1f; B2 = Tensor.zeros [| c |] }
        let cfg = Adam { Beta1 = 0.9f; Beta2 = 0.999f; Eps = 1e-8f; WeightDecay = 5e-4f }
        let mutable p = p0
        let mutable st = Optim.init cfg p0
        let mutable bn = { BatchNormStats.Mean = Tensor.zeros [| h |]; Var = Tensor.ones [| h |] }
        let losses = ResizeArray()
        for step in 0 .. 2 do
            let loss, g, newBn =
                Autodiff.valueAndGradAux (fun (q: Net) ->
                    let z = Sparse.spmm a (Linalg.matmul x q.W1) + q.B1
                    let z, stats = BatchNorm.train 0.1f 1e-5f q.Gamma q.Beta bn z
                    let z = Dropout.apply (Rng.create (100 + step)) 0.5f true (Elementwise.relu z)
                    let out = Sparse.spmm a (Linalg.matmul z q.W2) + q.B2
                    Loss.crossEntropy out labels, stats) p
            let np, ns = Optim.step cfg 0.01f st p g
            p <- np
            st <- ns
            bn <- newBn
            losses.Add loss
        losses.ToArray(), Tree.leaves p |> Array.map (fun (_, t) -> t.ToArray()), bn.Mean.ToArray(), bn.Var.ToArray()
    finally
        Threads.Count <- saved

[<Fact>]
let ``a training step is bit-identical with 1 and 2 threads`` () =
    let l1, p1, m1, v1 = run 1
    let l2, p2, m2, v2 = run 2
    Assert.Equal<float32[]>(l1, l2)
    Assert.Equal<float32[][]>(p1, p2)
    Assert.Equal<float32[]>(m1, m2)
    Assert.Equal<float32[]>(v1, v2)
    Assert.True(l1.[2] < l1.[0], sprintf "the loss should fall over three Adam steps: %A" l1)
