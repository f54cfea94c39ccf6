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

    /// Every case, in report order.
    let all : BenchCase list =
        [ gemm 2708 1433 64
          gemm 56944 50 256
          gemm 1024 1024 1024
          // ---- added by the lead after the sparse / loss / optimiser merge (see torch_reference.py) ----
          // spmm_56944x256: Csr of spmmEntries 56944 (56944 x 56944) @ dense randn [56944; 256] via Sparse.spmm.
          // gcn_step_cora:  2-layer GCN 1433 -> 16 -> 7 on coraEdges 2708 (normalised), X randn [2708; 1433],
          //                 labels i % 7, train nodes 0..139: forward, Loss.crossEntropy, backward,
          //                 Optim.step (Adam lr 0.01, weight decay 5e-4).
        ]
