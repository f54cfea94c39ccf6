module GcnKd.Tests.ModelTests

open System
open Xunit
open GcnKd

// ---------------------------------------------------------------- small graphs, built here without the Graph module

/// A symmetric graph on n nodes with unit weights, no self-loops, no duplicates: each pair is an edge with
/// probability p, plus a ring so that no node is isolated when `connected`.
let randomGraph (rng: Rng) (n: int) (p: float32) (connected: bool) : Csr =
    let rows = ResizeArray()
    let cols = ResizeArray()
    let mutable k = 0L
    for i in 0 .. n - 1 do
        for j in i + 1 .. n - 1 do
            let ring = connected && (j = i + 1 || (i = 0 && j = n - 1 && n > 2))
            if ring || Rng.uniformAt rng k < p then
                rows.AddRange [ i; j ]
                cols.AddRange [ j; i ]
            k <- k + 1L
    Csr.ofCoo n n (rows.ToArray()) (cols.ToArray()) None

/// Graphs as one block-diagonal batch.
let batchOf (graphs: Csr[]) : GraphBatch =
    let offsets = Array.scan (fun acc (g: Csr) -> acc + g.Rows) 0 graphs
    let n = offsets.[graphs.Length]
    let rows = ResizeArray()
    let cols = ResizeArray()
    graphs |> Array.iteri (fun gi g ->
        for i in 0 .. g.Rows - 1 do
            for e in g.RowPtr.[i] .. g.RowPtr.[i + 1] - 1 do
                rows.Add(offsets.[gi] + i)
                cols.Add(offsets.[gi] + g.ColIdx.[e]))
    { Adj = Csr.ofCoo n n (rows.ToArray()) (cols.ToArray()) None
      NodeGraph = Array.init n (fun v -> (Array.findIndexBack (fun o -> o <= v) offsets.[.. graphs.Length - 1]))
      NodeOffsets = offsets
      NumGraphs = graphs.Length }

/// Exact kNN graph by brute force within each graph of the batch: row i lists the k nearest rows of x (squared
/// Euclidean distance, ties by index), itself included when includeSelf.
let knnNaive (k: int) (includeSelf: bool) (nodeGraph: int[]) (x: Tensor) : Csr =
    let n, d = x.Shape.[0], x.Shape.[1]
    let dist i j = Seq.sum (seq { for c in 0 .. d - 1 -> let v = float x.Data.[i * d + c] - float x.Data.[j * d + c] in v * v })
    let rows = ResizeArray()
    let cols = ResizeArray()
    for i in 0 .. n - 1 do
        [| 0 .. n - 1 |]
        |> Array.filter (fun j -> nodeGraph.[j] = nodeGraph.[i] && (includeSelf || j <> i))
        |> Array.sortBy (fun j -> dist i j, j)
        |> Array.truncate k
        |> Array.iter (fun j -> rows.Add i; cols.Add j)
    Csr.ofCoo n n (rows.ToArray()) (cols.ToArray()) None

let randomBatch (seed: int) (sizes: int list) =
    let keys = Rng.splitN sizes.Length (Rng.create seed)
    batchOf (sizes |> List.mapi (fun i n -> randomGraph keys.[i] n 0.3f true) |> Array.ofList)

let key (seed: int) = Rng.create seed
let train (seed: int) = ForwardContext.Train(Rng.create seed)
let eval = ForwardContext.Eval

/// Fails naming every parameter whose gradient is zero everywhere.
let assertAllGradsNonzero (grads: 'P) =
    let dead = Tree.leaves grads |> Array.filter (fun (_, g) -> g.Data |> Array.forall (fun v -> v = 0.0f)) |> Array.map fst
    if dead.Length > 0 then failwithf "no gradient reaches: %s" (String.concat ", " dead)

/// A random loss on the logits: sum(logits * r) for a fixed random r.
let randomLoss (seed: int) (logits: Tensor) = Reduce.sum (logits * Tensor.randn (key seed) logits.Shape)

let sameLeaves (a: 'T) (b: 'T) =
    Array.forall2 (fun (_, x: Tensor) (_, y: Tensor) -> x.Data = y.Data) (Tree.leaves a) (Tree.leaves b)

let argmaxRows (t: Tensor) =
    let c = t.Shape.[1]
    Array.init t.Shape.[0] (fun i -> Array.init c (fun j -> t.Data.[i * c + j]) |> Array.mapi (fun j v -> v, j) |> Array.max |> snd)

// ---------------------------------------------------------------- parameter counts

[<Fact>]
let ``GCN, GAT and SAGE parameter counts match hand counts`` () =
    let r = key 1
    // GCN 1433-16-7 (Kipf & Welling on Cora): W1 + b1 + W2 + b2
    Assert.Equal(1433 * 16 + 16 + 16 * 7 + 7, 23063)
    Assert.Equal(23063, Tree.count (Gcn.init (Gcn.config 1433 [ 16 ] 7) r))
    // GAT on Cora (PyG GATConv): layer 1 W 1433 x 64, a_src 64, a_dst 64, bias 64; layer 2 W 64 x 7, 7 + 7, bias 7
    Assert.Equal((1433 * 64 + 64 + 64 + 64) + (64 * 7 + 7 + 7 + 7), 92373)
    Assert.Equal(92373, Tree.count (Gat.init (Gat.cora 1433 7) r))
    // PPI teacher (50 features, 121 labels, DGL <= 0.4 GATConv: no bias, projected residual on layers 2 and 3):
    //   layer 1: 50 x 1024 + 2 x 1024; layer 2: 1024 x 1024 + 2 x 1024 + residual 1024 x 1024;
    //   layer 3 (6 heads x 121 = 726): 1024 x 726 + 2 x 726 + residual 1024 x 726
    let teacher = (50 * 1024 + 2 * 1024) + (1024 * 1024 + 2 * 1024 + 1024 * 1024) + (1024 * 726 + 2 * 726 + 1024 * 726)
    Assert.Equal(3640748, teacher)
    Assert.Equal(teacher, Tree.count (Gat.init (Gat.ppiTeacher 50 121) r))
    // the same with an identity residual where widths match (current DGL): layer 2 loses its projection
    Assert.Equal(teacher - 1024 * 1024, Tree.count (Gat.init { Gat.ppiTeacher 50 121 with Residual = IdentityOrProjection } r))
    // PPI student: layer 1 50 x 136 + 2 x 136; layers 2-4 136 x 136 + 2 x 136 + 136 x 136; layer 5 (2 x 121 = 242)
    let student = (50 * 136 + 2 * 136) + 3 * (136 * 136 + 2 * 136 + 136 * 136) + (136 * 242 + 2 * 242 + 136 * 242)
    Assert.Equal(185172, student)
    Assert.Equal(student, Tree.count (Gat.init (Gat.ppiStudent 50 121) r))
    // GraphSAGE-mean 1433-16-7: W_self (no bias) + W_neigh + b per layer
    Assert.Equal((1433 * 16 + 1433 * 16 + 16) + (16 * 7 + 16 * 7 + 7), Tree.count (Sage.init (Sage.config 1433 [ 16 ] 7) r))

[<Fact>]
let ``GIN, GFKD family, DGCNN and MLP parameter counts match hand counts`` () =
    let r = key 2
    // MUTAG: 7 node labels, 2 classes. Paper GIN, 5 layers x 64: GIN layer 1 = Linear 7x64 + BN 64 + Linear 64x64 +
    // BN 64; layers 2-4 = Linear 64x64 + BN + Linear 64x64 + BN; heads: 7x2 + 2 and four 64x2 + 2
    let lin i o = i * o + o
    let bn c = 2 * c
    let gin5 = (lin 7 64 + bn 64 + lin 64 64 + bn 64) + 3 * (lin 64 64 + bn 64 + lin 64 64 + bn 64) + lin 7 2 + 4 * lin 64 2
    Assert.Equal(31192, gin5)
    Assert.Equal(gin5, Tree.count (Gin.init (Gin.config 7 2) r))
    Assert.Equal(gin5 + 4, Tree.count (Gin.init { Gin.config 7 2 with Eps = LearnedEps } r)) // one eps per GIN layer
    // GFKD GCN5_64: 4 GraphConv (7x64, then 64x64) + 4 BN + head 64x2 (the shipped MUTAG teacher's tensors)
    let gcn5 = lin 7 64 + 3 * lin 64 64 + 4 * bn 64 + lin 64 2
    Assert.Equal(13634, gcn5)
    Assert.Equal(gcn5, Tree.count (GfkdFamily.init (GfkdFamily.create "GCN5_64" 7 2) r))
    // GFKD GIN5_64: four GIN blocks (MLP Linear-BN-Linear + BN), head on the last layer only
    let gfkdGin5 = (lin 7 64 + bn 64 + lin 64 64 + bn 64) + 3 * (lin 64 64 + bn 64 + lin 64 64 + bn 64) + lin 64 2
    Assert.Equal(30786, gfkdGin5)
    Assert.Equal(gfkdGin5, Tree.count (GfkdFamily.init (GfkdFamily.create "GIN5_64" 7 2) r))
    Assert.Equal(lin 7 32 + lin 32 32 + 2 * bn 32 + lin 32 2, Tree.count (GfkdFamily.init (GfkdFamily.create "GCN3_32" 7 2) r))
    Assert.Equal((lin 7 32 + bn 32 + lin 32 32 + bn 32) + (lin 32 32 + bn 32 + lin 32 32 + bn 32) + lin 32 2,
                 Tree.count (GfkdFamily.init (GfkdFamily.create "GIN3_32" 7 2) r))
    // DGCNN on ModelNet40: EdgeConv 1x1 convs without bias (6x64, 128x64, 128x128, 256x256) + BN; embedding 512x1024
    // without bias + BN; head 2048x512 (no bias) + BN, 512x256 + b + BN, 256x40 + b
    let dgcnn = (6 * 64 + bn 64) + (128 * 64 + bn 64) + (128 * 128 + bn 128) + (256 * 256 + bn 256)
                + (512 * 1024 + bn 1024) + (2048 * 512 + bn 512) + (lin 512 256 + bn 256) + lin 256 40
    Assert.Equal(1809576, dgcnn)
    Assert.Equal(dgcnn, Tree.count (Dgcnn.init (Dgcnn.config 3 40) r))
    // MLP 10-20-3 with batch norm on the hidden layer
    Assert.Equal(lin 10 20 + bn 20 + lin 20 3, Tree.count (Mlp.init { Mlp.config [ 10; 20; 3 ] with BatchNorm = true } r))

// ---------------------------------------------------------------- shapes and hidden features

[<Fact>]
let ``node models give [n, out] logits and one hidden entry per hidden layer`` () =
    let b = randomBatch 3 [ 13 ]
    let x = Tensor.randn (key 4) [| 13; 6 |]
    let gcn = Gcn.config 6 [ 8; 5 ] 3
    let o = Gcn.forward gcn (Gcn.init gcn (key 5)) eval (Gcn.prepare b.Adj) x
    Assert.Equal<int[]>([| 13; 3 |], o.Logits.Shape)
    Assert.Equal<int[] list>([ [| 13; 8 |]; [| 13; 5 |] ], o.Hidden |> List.map (fun t -> t.Shape))
    let gat = { Gat.cora 6 3 with Hidden = [ 3, 4; 2, 5 ]; OutHeads = 2; Residual = IdentityOrProjection }
    let o = Gat.forward gat (Gat.init gat (key 6)) eval (Gat.prepare b.Adj) x
    Assert.Equal<int[]>([| 13; 3 |], o.Logits.Shape)
    Assert.Equal<int[] list>([ [| 13; 12 |]; [| 13; 10 |] ], o.Hidden |> List.map (fun t -> t.Shape))
    let concat = { gat with OutMean = false }
    Assert.Equal<int[]>([| 13; 6 |], (Gat.forward concat (Gat.init concat (key 6)) eval (Gat.prepare b.Adj) x).Logits.Shape)
    let sage = Sage.config 6 [ 7 ] 3
    let o = Sage.forward sage (Sage.init sage (key 7)) eval (Sage.prepare b.Adj) x
    Assert.Equal<int[]>([| 13; 3 |], o.Logits.Shape)
    Assert.Equal<int[] list>([ [| 13; 7 |] ], o.Hidden |> List.map (fun t -> t.Shape))
    let mlp = { Mlp.config [ 6; 9; 4; 3 ] with BatchNorm = true }
    let o, _ = Mlp.forward mlp (Mlp.init mlp (key 8)) (Mlp.initState mlp) eval x
    Assert.Equal<int[]>([| 13; 3 |], o.Logits.Shape)
    Assert.Equal<int[] list>([ [| 13; 9 |]; [| 13; 4 |] ], o.Hidden |> List.map (fun t -> t.Shape))

[<Fact>]
let ``graph models give [graphs, classes] logits and one hidden entry per hidden layer`` () =
    let b = randomBatch 9 [ 5; 8; 3; 6 ]
    let x = Tensor.randn (key 10) [| b.NumNodes; 7 |]
    let gin = { Gin.config 7 3 with Width = 16; NumLayers = 4 }
    let o, s = Gin.forward gin (Gin.init gin (key 11)) (Gin.initState gin) (train 12) b x
    Assert.Equal<int[]>([| 4; 3 |], o.Logits.Shape)
    Assert.Equal(3, o.Hidden.Length)
    Assert.True(o.Hidden |> List.forall (fun t -> t.Shape = [| b.NumNodes; 16 |]))
    Assert.Equal(3, s.Layers.Length)
    for name, layers, norms in [ "GCN5_64", 4, 4; "GIN5_64", 4, 8; "GCN3_32", 2, 2; "GIN2_32", 1, 2 ] do
        let cfg = GfkdFamily.create name 7 3
        let r = GfkdFamily.run cfg (GfkdFamily.init cfg (key 13)) (GfkdFamily.initState cfg) (train 14) (GfkdFamily.prepareBatch cfg b) x
        Assert.Equal<int[]>([| 4; 3 |], r.Output.Logits.Shape)
        Assert.Equal(layers, r.Output.Hidden.Length)
        Assert.True(r.Output.Hidden |> List.forall (fun t -> t.Shape = [| b.NumNodes; cfg.Width |]))
        // the batch norms' inputs line up with their running statistics
        Assert.Equal(norms, r.NormInputs.Length)
        Assert.Equal<int list>(GfkdFamily.runningStats r.State |> List.map (fun s -> s.Mean.Numel), r.NormInputs |> List.map (fun t -> t.Shape.[1]))

[<Fact>]
let ``DGCNN gives [clouds, classes] logits, hidden features per layer and the kNN graph of each EdgeConv`` () =
    let nodeGraph = Array.init 30 (fun i -> i / 10)
    let pts = Tensor.randn (key 15) [| 30; 3 |]
    let cfg = { Dgcnn.config 3 5 with EdgeWidths = [ 8; 8; 16 ]; K = 4; Embedding = 32; HeadWidths = [ 16; 8 ] }
    let knn k x = knnNaive k true nodeGraph x
    let r = Dgcnn.run cfg (Dgcnn.init cfg (key 16)) (Dgcnn.initState cfg) (train 17) knn nodeGraph 3 pts
    Assert.Equal<int[]>([| 3; 5 |], r.Output.Logits.Shape)
    Assert.Equal<int[] list>([ [| 30; 8 |]; [| 30; 8 |]; [| 30; 16 |]; [| 30; 32 |]; [| 3; 16 |]; [| 3; 8 |] ],
                             r.Output.Hidden |> List.map (fun t -> t.Shape))
    Assert.Equal(3, r.Graphs.Length)
    Assert.True(r.Graphs |> List.forall (fun g -> Csr.nnz g = 30 * 4))
    // layer 1 builds its graph on the coordinates, later layers on the previous layer's features
    Assert.Equal<int[]>((knnNaive 4 true nodeGraph pts).ColIdx, r.Graphs.Head.ColIdx)
    let h1 = Elementwise.leakyRelu 0.2f r.Output.Hidden.Head
    Assert.Equal<int[]>((knnNaive 4 true nodeGraph h1).ColIdx, r.Graphs.[1].ColIdx)

// ---------------------------------------------------------------- gradients reach every parameter

[<Fact>]
let ``gradients reach every parameter of every model`` () =
    let b = randomBatch 20 [ 6; 9; 7 ]
    let n = b.NumNodes
    let x = Tensor.randn (key 21) [| n; 5 |]
    let gcn = Gcn.config 5 [ 6 ] 3
    assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 1 (Gcn.forward gcn p (train 2) (Gcn.prepare b.Adj) x).Logits) (Gcn.init gcn (key 3)))
    for residual in [ Projection; IdentityOrProjection ] do
        let gat = { Gat.ppiStudent 5 3 with Hidden = [ 2, 3; 2, 3 ]; Bias = true; Residual = residual }
        assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 4 (Gat.forward gat p (train 5) (Gat.prepare b.Adj) x).Logits) (Gat.init gat (key 6)))
    let sage = Sage.config 5 [ 6 ] 3
    assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 7 (Sage.forward sage p (train 8) (Sage.prepare b.Adj) x).Logits) (Sage.init sage (key 9)))
    let mlp = { Mlp.config [ 5; 6; 3 ] with BatchNorm = true }
    assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 10 (fst (Mlp.forward mlp p (Mlp.initState mlp) (train 11) x)).Logits) (Mlp.init mlp (key 12)))
    let gin = { Gin.config 5 3 with Width = 8; NumLayers = 3; Eps = LearnedEps; FinalDropout = 0.0f }
    assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 13 (fst (Gin.forward gin p (Gin.initState gin) (train 14) b x)).Logits) (Gin.init gin (key 15)))
    for name in [ "GCN3_32"; "GIN3_32" ] do
        let cfg = { GfkdFamily.create name 5 3 with FinalDropout = 0.0f }
        let prepared = GfkdFamily.prepareBatch cfg b
        assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 16 (fst (GfkdFamily.forward cfg p (GfkdFamily.initState cfg) (train 17) prepared x)).Logits) (GfkdFamily.init cfg (key 18)))
    let dg = { Dgcnn.config 5 3 with EdgeWidths = [ 4; 6 ]; K = 3; Embedding = 8; HeadWidths = [ 6; 5 ]; Dropout = 0.0f }
    let knn k h = knnNaive k true b.NodeGraph h
    assertAllGradsNonzero (Autodiff.grad (fun p -> randomLoss 19 (fst (Dgcnn.forward dg p (Dgcnn.initState dg) (train 20) knn b.NodeGraph b.NumGraphs x)).Logits) (Dgcnn.init dg (key 21)))

// ---------------------------------------------------------------- training and evaluation modes

/// Logits of every model with dropout, in the given context.
let private allLogits (ctx: ForwardContext) =
    let b = randomBatch 30 [ 7; 9; 8 ]
    let x = Tensor.randn (key 31) [| b.NumNodes; 6 |]
    let gcn = Gcn.config 6 [ 8 ] 3
    let gat = { Gat.cora 6 3 with Hidden = [ 2, 4 ] }
    let sage = Sage.config 6 [ 8 ] 3
    let mlp = { Mlp.config [ 6; 8; 3 ] with Dropout = 0.5f; BatchNorm = true }
    let gin = { Gin.config 6 3 with Width = 8; NumLayers = 3 }
    let gfkd = GfkdFamily.create "GIN3_32" 6 3
    let dg = { Dgcnn.config 6 3 with EdgeWidths = [ 4; 6 ]; K = 3; Embedding = 8; HeadWidths = [ 6; 5 ] }
    let knn k h = knnNaive k true b.NodeGraph h
    [ "gcn", (Gcn.forward gcn (Gcn.init gcn (key 1)) ctx (Gcn.prepare b.Adj) x).Logits
      "gat", (Gat.forward gat (Gat.init gat (key 2)) ctx (Gat.prepare b.Adj) x).Logits
      "sage", (Sage.forward sage (Sage.init sage (key 3)) ctx (Sage.prepare b.Adj) x).Logits
      "mlp", (fst (Mlp.forward mlp (Mlp.init mlp (key 4)) (Mlp.initState mlp) ctx x)).Logits
      "gin", (fst (Gin.forward gin (Gin.init gin (key 5)) (Gin.initState gin) ctx b x)).Logits
      "gfkd", (fst (GfkdFamily.forward gfkd (GfkdFamily.init gfkd (key 6)) (GfkdFamily.initState gfkd) ctx (GfkdFamily.prepareBatch gfkd b) x)).Logits
      "dgcnn", (fst (Dgcnn.forward dg (Dgcnn.init dg (key 7)) (Dgcnn.initState dg) ctx knn b.NodeGraph b.NumGraphs x)).Logits ]

[<Fact>]
let ``evaluation is deterministic and ignores the context's key`` () =
    let a = allLogits { Training = false; Rng = key 100 }
    let b = allLogits { Training = false; Rng = key 200 }
    for (name, x), (_, y) in List.zip a b do
        Assert.True((x.Data = y.Data), sprintf "%s: evaluation depends on the key" name)

[<Fact>]
let ``training draws dropout from the key: same key same output, other key other output`` () =
    let a = allLogits (train 100)
    let a' = allLogits (train 100)
    let b = allLogits (train 200)
    for ((name, x), (_, x')), (_, y) in List.zip (List.zip a a') b do
        Assert.True((x.Data = x'.Data), sprintf "%s: same key, different outputs" name)
        Assert.False((x.Data = y.Data), sprintf "%s: a different key gave the same dropout" name)

[<Fact>]
let ``batch-norm state changes only when training`` () =
    let b = randomBatch 40 [ 7; 9 ]
    let x = Tensor.randn (key 41) [| b.NumNodes; 4 |]
    let check name (run: ForwardContext -> 'S) (s0: 'S) =
        Assert.True(sameLeaves s0 (run eval), sprintf "%s: evaluation changed the state" name)
        let s1 = run (train 1)
        Assert.False(sameLeaves s0 s1, sprintf "%s: training left the state unchanged" name)
        // every running statistic moves (momentum 0.1 towards the batch's)
        for (leaf, t0), (_, t1) in Array.zip (Tree.leaves s0) (Tree.leaves s1) do
            Assert.False((t0.Data = t1.Data), sprintf "%s: %s did not move" name leaf)
    let mlp = { Mlp.config [ 4; 8; 3 ] with BatchNorm = true }
    let pm = Mlp.init mlp (key 1)
    check "mlp" (fun ctx -> snd (Mlp.forward mlp pm (Mlp.initState mlp) ctx x)) (Mlp.initState mlp)
    let gin = { Gin.config 4 3 with Width = 8; NumLayers = 3 }
    let pg = Gin.init gin (key 2)
    check "gin" (fun ctx -> snd (Gin.forward gin pg (Gin.initState gin) ctx b x)) (Gin.initState gin)
    for name in [ "GCN3_32"; "GIN3_32" ] do
        let cfg = GfkdFamily.create name 4 3
        let p = GfkdFamily.init cfg (key 3)
        let prepared = GfkdFamily.prepareBatch cfg b
        check name (fun ctx -> snd (GfkdFamily.forward cfg p (GfkdFamily.initState cfg) ctx prepared x)) (GfkdFamily.initState cfg)
    let dg = { Dgcnn.config 4 3 with EdgeWidths = [ 4; 6 ]; K = 3; Embedding = 8; HeadWidths = [ 6 ] }
    let pd = Dgcnn.init dg (key 4)
    let knn k h = knnNaive k true b.NodeGraph h
    check "dgcnn" (fun ctx -> snd (Dgcnn.forward dg pd (Dgcnn.initState dg) ctx knn b.NodeGraph b.NumGraphs x)) (Dgcnn.initState dg)

// ---------------------------------------------------------------- errors

[<Fact>]
let ``unknown GFKD model names and mis-shaped inputs give one clear message`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> GfkdFamily.create "GCN4_64" 7 2 |> ignore)
    Assert.Contains("unknown model 'GCN4_64'", e.Message)
    for known in [ "GCN5_64"; "GIN5_64"; "GCN3_32"; "GIN3_32" ] do Assert.Contains(known, e.Message)
    let b = randomBatch 50 [ 6 ]
    let gcn = Gcn.config 5 [ 4 ] 2
    let e = Assert.Throws<ArgumentException>(fun () -> Gcn.forward gcn (Gcn.init gcn (key 1)) eval (Gcn.prepare b.Adj) (Tensor.zeros [| 6; 4 |]) |> ignore)
    Assert.Contains("Gcn.forward: x must be [n, 5]", e.Message)
    Assert.Contains("[6; 4]", e.Message)
    let gat = Gat.cora 4 2
    let e = Assert.Throws<ArgumentException>(fun () -> Gat.forward gat (Gat.init gat (key 1)) eval (Gat.prepare b.Adj) (Tensor.zeros [| 5; 4 |]) |> ignore)
    Assert.Contains("Gat.forward: adj must be 5 x 5", e.Message)
    let cfg = GfkdFamily.create "GIN3_32" 7 2
    let e = Assert.Throws<ArgumentException>(fun () ->
        GfkdFamily.forward cfg (GfkdFamily.init cfg (key 1)) (GfkdFamily.initState cfg) eval b (Tensor.zeros [| 6; 3 |]) |> ignore)
    Assert.Contains("GIN3_32", e.Message)
    Assert.Contains("[6, 7]", e.Message)

// ---------------------------------------------------------------- tiny overfit runs

/// Full-batch Adam on `loss step params` returning the loss and the new batch-norm state (an aux value).
let private fit (steps: int) (lr: float32) (p0: 'P) (s0: 'S) (loss: int -> 'S -> 'P -> Tensor * 'S) =
    let cfg = Optim.defaultAdam
    let mutable p = p0
    let mutable s = s0
    let mutable st = Optim.init cfg p0
    for step in 1 .. steps do
        let _, g, s' = Autodiff.valueAndGradAux (loss step s) p
        let np, ns = Optim.step cfg lr st p g
        p <- np
        s <- s'
        st <- ns
    p, s

[<Fact>]
let ``a GCN fits a small stochastic-block-model node task`` () =
    // 3 blocks of 16 nodes, dense inside (0.35), sparse across (0.03); features are noise plus a weak class signal
    let n, classes = 48, 3
    let labels = Array.init n (fun i -> i % classes)
    let r = key 60
    let rows = ResizeArray()
    let cols = ResizeArray()
    let mutable k = 0L
    for i in 0 .. n - 1 do
        for j in i + 1 .. n - 1 do
            if Rng.uniformAt r k < (if labels.[i] = labels.[j] then 0.35f else 0.03f) then
                rows.AddRange [ i; j ]
                cols.AddRange [ j; i ]
            k <- k + 1L
    let adj = Gcn.prepare (Csr.ofCoo n n (rows.ToArray()) (cols.ToArray()) None)
    let noise = Tensor.randn (key 61) [| n; 8 |]
    let x = Tensor.ofArray [| n; 8 |] (Array.init (n * 8) (fun i -> noise.Data.[i] + (if i % 8 = labels.[i / 8] then 0.5f else 0.0f)))
    let cfg = Gcn.config 8 [ 16 ] classes
    let p, () =
        fit 200 0.02f (Gcn.init cfg (key 62)) () (fun step () p ->
            Loss.crossEntropy (Gcn.forward cfg p (train step) adj x).Logits labels, ())
    Assert.Equal(1.0, Loss.accuracy (Gcn.forward cfg p eval adj x).Logits labels)

[<Fact>]
let ``a GIN fits a small graph task: cycles, paths and stars of mixed sizes`` () =
    let edges (kind: int) (m: int) =
        match kind with
        | 0 -> [ for i in 0 .. m - 1 -> i, (i + 1) % m ]
        | 1 -> [ for i in 0 .. m - 2 -> i, i + 1 ]
        | _ -> [ for i in 1 .. m - 1 -> 0, i ]
    let graphs, labels =
        [| for kind in 0 .. 2 do
               for m in 4 .. 10 ->
                   let es = edges kind m
                   let src = es |> List.collect (fun (a, b) -> [ a; b ]) |> Array.ofList
                   let dst = es |> List.collect (fun (a, b) -> [ b; a ]) |> Array.ofList
                   Csr.ofEdges m src dst, kind |]
        |> Array.unzip
    let b = batchOf graphs
    let x = Tensor.ones [| b.NumNodes; 1 |]
    let cfg = { Gin.config 1 3 with Width = 16; NumLayers = 3 }
    let p, state =
        fit 150 0.01f (Gin.init cfg (key 70)) (Gin.initState cfg) (fun step state p ->
            let o, s = Gin.forward cfg p state (train step) b x
            Loss.crossEntropy o.Logits labels, s)
    let o, _ = Gin.forward cfg p state eval b x
    Assert.Equal<int[]>(labels, argmaxRows o.Logits)
