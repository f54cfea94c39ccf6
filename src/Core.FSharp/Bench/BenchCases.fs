/// Benchmark cases: the same work as experiments/bench/torch_reference.py, defined purely. A case's setup builds
/// its inputs deterministically (fixed seeds) and returns the action to time; the host does the clocks, warm-up,
/// repetitions and reporting (src/Host.CSharp/Bench/BenchRunner.cs). GEMM names read m x k x n.
namespace GcnKd.Bench

open GcnKd

/// A named benchmark: `Setup ()` builds the inputs and returns the timed action.
type BenchCase = { Name: string; Setup: unit -> (unit -> unit) }

[<RequireQualifiedAccess>]
module BenchCases =
    /// A (m x k) @ B (k x n), standard normal float32, through the public op (result allocated each call, as
    /// torch's `A @ B` does).
    let gemm (m: int) (k: int) (n: int) =
        { Name = sprintf "gemm_%dx%dx%d" m k n
          Setup = fun () ->
              let ra, rb = Rng.split (Rng.create (m * 7919 + k * 31 + n))
              let a = Tensor.randn ra [| m; k |]
              let b = Tensor.randn rb [| k; n |]
              fun () -> Linalg.matmul a b |> ignore }

    /// Entries (row, column, value) of the spmm_56944x256 matrix, row-major with columns sorted within a row:
    /// row i holds d_i = 14 + (1 if i % 5 < 2) entries; entry j sits at column (i + 1 + j*3967 + (i*31) % 3967) % n
    /// with value ((i*j) % 13 + 1) / 13. Same definition as spmm_matrix in torch_reference.py.
    let spmmEntries (n: int) : int[] * int[] * float32[] =
        let rows = ResizeArray<int>()
        let cols = ResizeArray<int>()
        let vals = ResizeArray<float32>()
        for i in 0 .. n - 1 do
            let d = 14 + (if i % 5 < 2 then 1 else 0)
            let entries = Array.init d (fun j -> (i + 1 + j * 3967 + (i * 31) % 3967) % n, float32 ((i * j) % 13 + 1) / 13.0f)
            for (c, v) in Array.sortBy fst entries do
                rows.Add i
                cols.Add c
                vals.Add v
        rows.ToArray(), cols.ToArray(), vals.ToArray()

    /// Edges (row, column) of the synthetic Cora-sized graph with self-loops, A + I: for each node i and j in {1, 2},
    /// the undirected edge {i, (i*7 + j*613 + 1) % n} when it is not a self-edge; deduplicated, both directions,
    /// plus (i, i); sorted by (row, column). Same definition as cora_graph in torch_reference.py (which then
    /// normalises D^-1/2 (A + I) D^-1/2).
    let coraEdges (n: int) : int[] * int[] =
        let edges = System.Collections.Generic.HashSet<struct (int * int)>()
        for i in 0 .. n - 1 do
            for j in 1 .. 2 do
                let p = (i * 7 + j * 613 + 1) % n
                if p <> i then
                    edges.Add(struct (i, p)) |> ignore
                    edges.Add(struct (p, i)) |> ignore
            edges.Add(struct (i, i)) |> ignore
        let sorted = edges |> Seq.map (fun (struct (r, c)) -> r, c) |> Seq.sort |> Seq.toArray
        Array.map fst sorted, Array.map snd sorted

    /// CSR (56944 x 56944, ~820k entries) @ dense randn [56944; 256] through the public op.
    let spmm () =
        { Name = "spmm_56944x256"
          Setup = fun () ->
              let n = 56944
              let rows, cols, vals = spmmEntries n
              let a = Csr.ofCoo n n rows cols (Some vals)
              let x = Tensor.randn (Rng.create 56944) [| n; 256 |]
              fun () -> Sparse.spmm a x |> ignore }

    /// The normalised Cora-sized graph D^-1/2 (A + I) D^-1/2 as a CSR matrix.
    let coraAdjacency () =
        let n = 2708
        let rows, cols = coraEdges n
        let deg = Array.zeroCreate<int> n
        for r in rows do deg.[r] <- deg.[r] + 1
        let vals = Array.init rows.Length (fun e -> 1.0f / sqrt (float32 deg.[rows.[e]] * float32 deg.[cols.[e]]))
        Csr.ofCoo n n rows cols (Some vals)

    type private Gcn = { W1: Tensor; B1: Tensor; W2: Tensor; B2: Tensor }

    /// Glorot (Xavier) uniform init for a [fanIn; fanOut] weight.
    let private glorot (rng: Rng) (fanIn: int) (fanOut: int) =
        let a = sqrt (6.0f / float32 (fanIn + fanOut))
        Tensor.rand rng -a a [| fanIn; fanOut |]

    /// One training step of a 2-layer GCN (1433 -> 16 -> 7) on the Cora-sized graph: forward, cross-entropy on
    /// nodes 0..139 (labels i % 7), backward, Adam (lr 0.01, weight decay 5e-4). Parameters carry over between calls.
    let gcnStepCora () =
        { Name = "gcn_step_cora"
          Setup = fun () ->
              let a = coraAdjacency ()
              let keys = Rng.splitN 3 (Rng.create 2708)
              let x = Tensor.randn keys.[0] [| 2708; 1433 |]
              let train = Array.init 140 id
              let labels = Array.init 140 (fun i -> i % 7)
              let cfg = Adam { Beta1 = 0.9f; Beta2 = 0.999f; Eps = 1e-8f; WeightDecay = 5e-4f }
              let mutable p = { W1 = glorot keys.[1] 1433 16; B1 = Tensor.zeros [| 16 |]; W2 = glorot keys.[2] 16 7; B2 = Tensor.zeros [| 7 |] }
              let mutable state = Optim.init cfg p
              fun () ->
                  let _, g =
                      Autodiff.valueAndGrad (fun (q: Gcn) ->
                          let h = Elementwise.relu (Sparse.spmm a (Linalg.matmul x q.W1) + q.B1)
                          let out = Sparse.spmm a (Linalg.matmul h q.W2) + q.B2
                          Loss.crossEntropy (Sparse.gatherRows train out) labels) p
                  let np, ns = Optim.step cfg 0.01f state p g
                  p <- np
                  state <- ns }

    /// Every case, in report order.
    let all : BenchCase list =
        [ gemm 2708 1433 64
          gemm 56944 50 256
          gemm 1024 1024 1024
          spmm ()
          gcnStepCora () ]
