/// Benchmark cases: the same work as experiments/bench/torch_reference.py, defined purely. A case's setup builds
/// its inputs deterministically (fixed seeds) and returns the action to time; the host does the clocks, warm-up,
/// repetitions and reporting (src/Host.CSharp/Bench/BenchRunner.cs). GEMM names read m x k x n.
namespace GcnKd.Bench

open GcnKd
open GcnKd.Train

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
              let cfg = Optim.adam 5e-4f
              let mutable p = { W1 = Init.glorotUniform keys.[1] 1433 16 [| 1433; 16 |]; B1 = Tensor.zeros [| 16 |]; W2 = Init.glorotUniform keys.[2] 16 7 [| 16; 7 |]; B2 = Tensor.zeros [| 7 |] }
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

    /// The LSP loss (RBF, sigma 1) forward + backward on the Cora-sized graph A + I of `coraEdges` (unweighted):
    /// teacher features [2708; 1024] (a constant, as a frozen teacher's) and student features [2708; 136], standard
    /// normal scaled by 1/sqrt(width) so squared distances are O(1); the gradient w.r.t. the student.
    let lspCora () =
        { Name = "lsp_rbf_cora_1024x136"
          Setup = fun () ->
              let n = 2708
              let rows, cols = coraEdges n
              let a = Csr.ofCoo n n rows cols None
              let kt, ks = Rng.split (Rng.create 1024136)
              let zt = Tensor.randn kt [| n; 1024 |] * (1.0f / sqrt 1024.0f)
              let zs = Tensor.randn ks [| n; 136 |] * (1.0f / sqrt 136.0f)
              fun () -> Autodiff.grad (fun s -> LocalStructure.loss LspScore.defaultRbf a zt s) zs |> ignore }

    // ---- one training epoch on real data (the data comes from the host, loaded only when a case is set up) ----

    /// One full-batch epoch of a node model, as NodeTrainer does it: forward in training mode (dropout on, a fresh
    /// key per epoch), cross-entropy on the dataset's training nodes, backward, Adam. Parameters carry over.
    let private nodeEpoch (init: Rng -> 'P) (forward: 'P -> ForwardContext -> ModelOutput) (data: NodeDataset) (lr: float32) (wd: float32) =
        let opt = Optim.adam wd
        let yTrain = data.Train |> Array.map (fun i -> data.Labels.[i])
        let initKey, first = Rng.split (Rng.create 0)
        let mutable p = init initKey
        let mutable state = Optim.init opt p
        let mutable key = first
        fun () ->
            let k, next = Rng.split key
            key <- next
            let _, _, np, ns = NodeTrainer.step opt lr forward data.Train yTrain k p state
            p <- np
            state <- ns

    /// One epoch of Kipf & Welling's GCN on Cora (the `gcn` preset: hidden 16, dropout 0.5, Adam 0.01, wd 5e-4).
    let epochGcnCora (cora: unit -> NodeDataset) =
        { Name = "epoch_gcn_cora"
          Setup = fun () ->
              let data = cora ()
              let mc = { GcnConfig.InFeatures = data.Features.Shape.[1]; Hidden = [ 16 ]; OutFeatures = data.NumClasses; Dropout = 0.5f; Bias = true }
              let adj = Gcn.prepare data.Adj
              nodeEpoch (Gcn.init mc) (fun p ctx -> Gcn.forward mc p ctx adj data.Features) data 0.01f 5e-4f }

    /// One epoch of GAT on Cora (the `gat` preset: Gat.cora 8 heads x 8, dropout 0.6, Adam 0.005, wd 5e-4).
    let epochGatCora (cora: unit -> NodeDataset) =
        { Name = "epoch_gat_cora"
          Setup = fun () ->
              let data = cora ()
              let mc = Gat.cora data.Features.Shape.[1] data.NumClasses
              let adj = Gat.prepare data.Adj
              nodeEpoch (Gat.init mc) (fun p ctx -> Gat.forward mc p ctx adj data.Features) data 0.005f 5e-4f }

    /// One epoch of GIN5_64 on every PROTEINS graph, as GraphTrainer does it with the GfkdFamily preset: a shuffled
    /// order, batches of 32, and per batch Graph.batch + features (GraphTrainer.prepare), self-loops
    /// (GfkdFamily.prepareBatch), forward in training mode, cross-entropy, backward, Adam (lr 0.01, no weight decay).
    let epochGin5Proteins (proteins: unit -> GraphDataset) =
        { Name = "epoch_gin5_64_proteins"
          Setup = fun () ->
              let data = proteins ()
              let mc = GfkdFamily.create "GIN5_64" data.NumFeatures data.NumClasses
              let opt = Optim.adam 0.0f
              let initKey, first = Rng.split (Rng.create 0)
              let mutable p = GfkdFamily.init mc initKey
              let mutable s = GfkdFamily.initState mc
              let mutable state = Optim.init opt p
              let mutable key = first
              fun () ->
                  let k, next = Rng.split key
                  key <- next
                  let kOrder, kBatches = Rng.split k
                  let chunks = GraphTrainer.chunks 32 (Rng.permutation data.Graphs.Length kOrder)
                  let keys = Rng.splitN chunks.Length kBatches
                  for bi in 0 .. chunks.Length - 1 do
                      let b = GraphTrainer.prepare data.Graphs chunks.[bi]
                      let batch = GfkdFamily.prepareBatch mc b.Batch
                      let _, g, ns =
                          Autodiff.valueAndGradAux (fun q ->
                              let out, ns = GfkdFamily.forward mc q s (ForwardContext.Train keys.[bi]) batch b.Features
                              Loss.crossEntropy out.Logits b.Labels, ns) p
                      let np, nst = Optim.step opt 0.01f state p g
                      p <- np
                      state <- nst
                      s <- ns }

    /// One epoch (full-batch step) of the LSP experiments' GAT student on Cora, distilled with `m` from the teacher's
    /// outputs (DistillRegistry's models; an untrained teacher costs the same): "none" against "lsp" is the per-epoch
    /// overhead of LSP over the student alone.
    let epochStudentCora (name: string) (m: Train.DistillMethod) (cora: unit -> NodeDataset) =
        { Name = name
          Setup = fun () ->
              let data = cora ()
              let f, c = data.Features.Shape.[1], data.NumClasses
              let teacher = Train.DistillRegistry.teacherOutputs data (Gat.init (Train.DistillRegistry.nodeTeacher f c) (Rng.create 1))
              let scfg = Train.DistillRegistry.nodeStudent f c
              let adj = Gat.prepare data.Adj
              let lspGraph = Graph.removeSelfLoops data.Adj
              let forward p ctx = Gat.forward scfg p ctx adj data.Features
              let yTrain = data.Train |> Array.map (fun i -> data.Labels.[i])
              let opt = Optim.adam 5e-4f
              let mutable p : Train.DistilledParams<GatParams> = { Student = Gat.init scfg (Rng.create 0); Regressors = [] }
              let mutable state = Optim.init opt p
              let mutable key = Rng.create 2
              fun () ->
                  let k, next = Rng.split key
                  key <- next
                  let _, _, _, np, ns =
                      Train.DistillTrainer.step opt 0.005f m Train.DistillRegistry.defaultOptions 1.0f forward lspGraph teacher data.Train yTrain k p state
                  p <- np
                  state <- ns }

    /// Node counts of the gfkd_iteration case's 131 MUTAG-sized fake graphs: 10 + (7 g) mod 20, in 10 .. 29 (the
    /// released MUTAG range; mean 19.4). Same formula as gfkd_counts in gfkd_iteration.py.
    let gfkdCounts = Array.init 131 (fun g -> 10 + (7 * g) % 20)

    /// One GFKD generation iteration (FakeGraphFitting.step with GcnKd's default fitting settings and ARM) for 131
    /// MUTAG-sized fake graphs (7 learned features, 2 classes, labels g mod 2) against a frozen GCN5_64 teacher
    /// (random weights, eval mode): the feature step (mode structure, softmax features, teacher forward, CE + BN
    /// prior + entropy, backward to the feature logits, Adam), then ARM's two antithetic structure samples (two
    /// teacher forwards, per-graph CE + BN prior + density prior, no backward) and an Adam step on the edge logits.
    let gfkdIteration () =
        { Name = "gfkd_iteration_mutag"
          Setup = fun () ->
              let spec =
                  { NodeCounts = gfkdCounts; Labels = Array.init gfkdCounts.Length (fun g -> g % 2); NumClasses = 2
                    Mode = StructureMode.Symmetric; Features = FakeFeatures.Learned 7 }
              let mc = GfkdFamily.create "GCN5_64" 7 2
              let teacher = FrozenTeacher.ofGfkd mc (GfkdFamily.init mc (Rng.create 1)) (GfkdFamily.initState mc)
              let cfg = GfkdRegistry.defaultFitting 0.14
              let key = Rng.create 3
              let mutable state = FakeGraphFitting.start (FakeGraphs.init spec cfg.InitShift (Rng.create 2))
              fun () -> state <- fst (FakeGraphFitting.step cfg spec teacher key state) }

    /// The cases on real data: Cora (Planetoid, row-normalised features) and PROTEINS (GIN format), each loaded by
    /// the host's function when a case that needs it is set up.
    let withData (cora: unit -> NodeDataset) (proteins: unit -> GraphDataset) : BenchCase list =
        [ epochGcnCora cora
          epochGatCora cora
          epochGin5Proteins proteins
          epochStudentCora "student_epoch_cora" Train.DistillMethod.StudentAlone cora
          epochStudentCora "student_lsp_epoch_cora" (Train.DistillMethod.Lsp LspScore.defaultRbf) cora ]

    /// Every case on synthetic inputs, in report order.
    let all : BenchCase list =
        [ gemm 2708 1433 64
          gemm 56944 50 256
          gemm 1024 1024 1024
          spmm ()
          gcnStepCora ()
          lspCora ()
          gfkdIteration () ]
