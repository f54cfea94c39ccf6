/// Dataset loaders of the host on the real data: the statistics verified in each dataset's SOURCE.md, and
/// checksums computed with the reference loaders. Fixture-based tests (PPI, every error path) are in
/// LoaderFixtureTests.fs.
module GcnKd.Tests.LoaderTests

open System
open System.IO
open Xunit
open GcnKd
open GcnKd.Host.Data
open GcnKd.Tests.TestData
// ---------------------------------------------------------------------------------------------------------------
// TU format, real data (SOURCE.md statistics)

let private checkTu (name: string) graphs nodes edges classes features (counts: int[]) =
    let ds = TuFormat.Load(dataRoot.Value, name)
    let s = DatasetStats.Of ds
    Assert.Equal(graphs, s.Graphs)
    Assert.Equal(nodes, s.Nodes)
    Assert.Equal(edges, s.UndirectedEdges)
    Assert.Equal(classes, s.Classes)
    Assert.Equal(features, s.Features)
    Assert.Equal<int[]>(counts, s.ClassCounts)
    Assert.True(ds.Folds.IsNone)
    for g in ds.Graphs do
        checkAdjacency g.Adj
        Assert.Equal<int[]>([| g.Adj.Rows; features |], g.Features.Shape)
    ds

[<Fact>]
let ``TU MUTAG: 188 graphs, 3371 nodes, 3721 edges, labels -1/1 -> 0 (63) / 1 (125), 7 one-hot node labels`` () =
    let ds = checkTu "MUTAG" 188 3371L 3721L 2 7 [| 63; 125 |]
    for g in ds.Graphs do Assert.True(rowSums g.Features |> Array.forall ((=) 1.0f))
    Assert.Equal("graphs=188 nodes=3371 avg_nodes=17.93 undirected_edges=3721 avg_edges=19.79 classes=2 features=7 class_counts=[63, 125]", (DatasetStats.Of ds).ToString())

[<Fact>]
let ``TU PTC_MR: 344 graphs, 4915 nodes, 5054 edges, 18 node labels`` () =
    checkTu "PTC_MR" 344 4915L 5054L 2 18 [| 192; 152 |] |> ignore

[<Fact>]
let ``TU PROTEINS: 1113 graphs, 43471 nodes, 81044 edges, 3 node labels, attributes appended on request`` () =
    let ds = checkTu "PROTEINS" 1113 43471L 81044L 2 3 [| 663; 450 |]
    let wa = TuFormat.Load(dataRoot.Value, "PROTEINS", useNodeAttributes = true)
    Assert.Equal(4, wa.NumFeatures)
    // first node of the dataset: attribute 23.0 (PROTEINS_node_attributes.txt line 1), one-hot label unchanged
    let f0 = wa.Graphs.[0].Features
    Assert.Equal(23.0f, f0.Data.[3])
    Assert.Equal<float32[]>(ds.Graphs.[0].Features.Data.[0 .. 2], f0.Data.[0 .. 2])

[<Fact>]
let ``TU IMDB-BINARY: every edge listed twice is kept once; one-hot degree features (max degree 135)`` () =
    let ds = checkTu "IMDB-BINARY" 1000 19773L 96531L 2 136 [| 500; 500 |]
    let g = ds.Graphs.[0]
    let deg = GraphBuild.Degrees g.Adj
    for i in 0 .. g.Adj.Rows - 1 do Assert.Equal(1.0f, g.Features.Data.[i * 136 + deg.[i]])

// ---------------------------------------------------------------------------------------------------------------
// GIN text format, real data

let private checkGin (name: string) graphs nodes edges features (counts: int[]) foldSize =
    let ds = GinFormat.Load(dataRoot.Value, name)
    let s = DatasetStats.Of ds
    Assert.Equal(graphs, s.Graphs)
    Assert.Equal(nodes, s.Nodes)
    Assert.Equal(edges, s.UndirectedEdges)
    Assert.Equal(2, s.Classes)
    Assert.Equal(features, s.Features)
    Assert.Equal<int[]>(counts, s.ClassCounts)
    let folds = ds.Folds.Value
    Assert.Equal(10, folds.Length)
    for f in folds do Assert.Equal(foldSize, f.Length)
    // disjoint test folds; the N mod 10 graphs left over are in none of them (DGCNN's fold size floor(N/10))
    let tested = Array.concat folds |> Array.sort
    Assert.Equal(tested.Length, (Array.distinct tested).Length)
    Assert.Equal(graphs - graphs % 10, tested.Length)
    for g in ds.Graphs do
        checkAdjacency g.Adj
        Assert.True(rowSums g.Features |> Array.forall ((=) 1.0f))
    ds

[<Fact>]
let ``GIN MUTAG: 188 graphs, 3371 nodes, 3721 edges, 7 tags in order of first appearance, 10 test folds of 18`` () =
    let ds = GinFormat.Load(dataRoot.Value, "MUTAG")
    let s = DatasetStats.Of ds
    Assert.Equal((188, 3371L, 3721L, 7), (s.Graphs, s.Nodes, s.UndirectedEdges, s.Features))
    Assert.Equal<int[]>([| 63; 125 |], s.ClassCounts)                  // raw 0 -> class 0, raw 2 -> class 1
    Assert.Equal<int[]>(Array.create 10 18, ds.Folds.Value |> Array.map Array.length)
    // the 8 graphs in no test fold (188 mod 10), as listed by the fold files
    Assert.Equal<int[]>([| 0; 13; 37; 114; 161; 163; 169; 187 |], Splits.complement 188 (Array.concat ds.Folds.Value))
    // SOURCE.md's DGL cross-check: graph 128 has 13 nodes and 26 directed edges, graphs 0-15: 330 nodes, 748 edges
    Assert.Equal(13, ds.Graphs.[128].Adj.Rows)
    Assert.Equal(26, Csr.nnz ds.Graphs.[128].Adj)
    Assert.Equal(330, ds.Graphs.[.. 15] |> Array.sumBy (fun g -> g.Adj.Rows))
    Assert.Equal(748, ds.Graphs.[.. 15] |> Array.sumBy (fun g -> Csr.nnz g.Adj))
    // the first node of the file has tag 2, the first tag seen: column 0
    Assert.Equal(1.0f, ds.Graphs.[0].Features.Data.[0])
    Assert.Equal(1, ds.Graphs.[0].Label)                                  // first graph: raw label 2

[<Fact>]
let ``GIN PTC: the 344-graph version with explicit hydrogens (8792 nodes, 8931 edges, 19 tags)`` () =
    let ds = GinFormat.Load(dataRoot.Value, "PTC_MR")
    let s = DatasetStats.Of ds
    Assert.Equal((344, 8792L, 8931L, 19), (s.Graphs, s.Nodes, s.UndirectedEdges, s.Features))
    Assert.Equal<int[]>([| 192; 152 |], s.ClassCounts)
    Assert.Equal<int[]>([| 14; 171; 235; 267 |], Splits.complement 344 (Array.concat ds.Folds.Value))

[<Fact>]
let ``GIN PROTEINS: graph for graph the TU dataset (same nodes, edges, label map 1/2 -> 0/1)`` () =
    let ds = checkGin "PROTEINS" 1113 43471L 81044L 3 [| 663; 450 |] 111
    let tu = TuFormat.Load(dataRoot.Value, "PROTEINS")
    for g in 0 .. ds.Graphs.Length - 1 do
        Assert.Equal<int[]>(tu.Graphs.[g].Adj.RowPtr, ds.Graphs.[g].Adj.RowPtr)
        Assert.Equal<int[]>(tu.Graphs.[g].Adj.ColIdx, ds.Graphs.[g].Adj.ColIdx)
        Assert.Equal(tu.Graphs.[g].Label, ds.Graphs.[g].Label)
        Assert.Equal<float32[]>(tu.Graphs.[g].Features.Data, ds.Graphs.[g].Features.Data)   // tags 0,1,2 first seen in that order

[<Fact>]
let ``GIN IMDB-BINARY: all tags 0, so one-hot degrees over the 65 distinct degree values`` () =
    let ds = checkGin "IMDB-BINARY" 1000 19773L 96531L 65 [| 500; 500 |] 100
    let tags = GinFormat.Load(dataRoot.Value, "IMDB-BINARY", GinFeatures.Tags)
    Assert.Equal(1, tags.NumFeatures)
    // the TU and GIN files hold the same graphs in the same order
    let tu = TuFormat.Load(dataRoot.Value, "IMDB-BINARY")
    for g in 0 .. 999 do
        Assert.Equal<int[]>(tu.Graphs.[g].Adj.ColIdx, ds.Graphs.[g].Adj.ColIdx)
        Assert.Equal(tu.Graphs.[g].Label, ds.Graphs.[g].Label)

// ---------------------------------------------------------------------------------------------------------------
// Planetoid (restricted unpickler), real data. Checksums computed once with Kipf's load_data (numpy/scipy).

/// sum over nodes of id * row sum, and sum over entries of column * value: place-sensitive feature checksums.
let private checksums (t: Tensor) =
    let n, f = t.Shape.[0], t.Shape.[1]
    let mutable pos = 0.0
    let mutable col = 0.0
    for i in 0 .. n - 1 do
        for j in 0 .. f - 1 do
            let v = float t.Data.[i * f + j]
            pos <- pos + float i * v
            col <- col + float j * v
    pos, col

let private labelChecksum (labels: int[]) = labels |> Array.mapi (fun i l -> int64 i * int64 l) |> Array.sum

let private nonzeroCols (t: Tensor) (row: int) =
    let f = t.Shape.[1]
    [| for j in 0 .. f - 1 do if t.Data.[row * f + j] <> 0.0f then yield j |]

[<Fact>]
let ``Planetoid Cora: 2708 nodes, 5278 edges, 1433 features, 7 classes, 140/500/1000, test rows reordered`` () =
    let ds = Planetoid.Load(dataRoot.Value, "Cora", normalizeFeatures = false)
    let s = DatasetStats.Of ds
    Assert.Equal((2708L, 5278L, 7, 1433), (s.Nodes, s.UndirectedEdges, s.Classes, s.Features))
    Assert.Equal<int[]>([| 351; 217; 418; 818; 426; 298; 180 |], s.ClassCounts)
    checkAdjacency ds.Adj
    Assert.Equal<int[]>([| 0 .. 139 |], ds.Train)
    Assert.Equal<int[]>([| 140 .. 639 |], ds.Val)
    Assert.Equal<int[]>([| 1708 .. 2707 |], ds.Test)
    Assert.Equal<int[]>(Array.create 7 20, Array.countBy (fun i -> ds.Labels.[i]) ds.Train |> Array.sortBy fst |> Array.map snd)
    Assert.Equal((66204708.0, 39016843.0), checksums ds.Features)
    Assert.Equal(10506393L, labelChecksum ds.Labels)
    Assert.Equal<int[]>([| 19; 81; 146; 315; 774; 877; 1194; 1247; 1274 |], nonzeroCols ds.Features 0)
    // test.index line 1 is node 2692: the first row of tx belongs to it
    Assert.Equal<int[]>([| 311; 314; 353; 505; 510; 621; 1075; 1132 |], (nonzeroCols ds.Features 2692).[.. 7])
    Assert.Equal(3, ds.Labels.[2692])

[<Fact>]
let ``Planetoid Cora row-normalised: rows sum to 1, same checksum as Kipf's preprocess_features`` () =
    let ds = Planetoid.Load(dataRoot.Value, "Cora", normalizeFeatures = true)
    Assert.True(rowSums ds.Features |> Array.forall (fun v -> abs (v - 1.0f) < 1e-5f))
    let _, col = checksums ds.Features
    Assert.True(abs (col - 2147083.2422833582) < 0.5, sprintf "checksum %f" col)

[<Fact>]
let ``Planetoid CiteSeer: 3327 nodes after padding 15 isolated test-range ids (not test nodes), 4552 edges`` () =
    let ds = Planetoid.Load(dataRoot.Value, "CiteSeer", normalizeFeatures = false)
    let s = DatasetStats.Of ds
    Assert.Equal((3327L, 4552L, 6, 3703), (s.Nodes, s.UndirectedEdges, s.Classes, s.Features))
    // SOURCE.md's [249, 590, ...] counts ally + ty; the 15 padded nodes add label 0
    Assert.Equal<int[]>([| 264; 590; 668; 701; 596; 508 |], s.ClassCounts)
    checkAdjacency ds.Adj
    Assert.Equal((120, 500, 1000), (ds.Train.Length, ds.Val.Length, ds.Test.Length))
    let padded = [| 2407; 2489; 2553; 2682; 2781; 2953; 3042; 3063; 3212; 3214; 3250; 3292; 3305; 3306; 3309 |]
    Assert.Equal<int[]>(padded, Splits.complement 3327 (Array.append [| 0 .. 2311 |] ds.Test))
    for i in padded do
        Assert.Empty(nonzeroCols ds.Features i)
        Assert.Equal(0, ds.Labels.[i])
    Assert.Equal((174708694.0, 191362100.0), checksums ds.Features)
    Assert.Equal(14890602L, labelChecksum ds.Labels)
    Assert.Equal(2, ds.Labels.[2488])
    let n = Planetoid.Load(dataRoot.Value, "CiteSeer", normalizeFeatures = true)
    let sums = rowSums n.Features
    Assert.Equal(15, sums |> Array.filter ((=) 0.0f) |> Array.length)
    Assert.True(abs (snd (checksums n.Features) - 6022282.624099918) < 1.0)

[<Fact>]
let ``Planetoid PubMed: the missing allx gives one clear error naming the file`` () =
    let msg = userErrorMessage [ "dataset PubMed is incomplete"; "ind.pubmed.allx not found"; "PubMed"; "Expected files" ] (fun () ->
        Planetoid.Load(dataRoot.Value, "PubMed", normalizeFeatures = true))
    Assert.DoesNotContain("ind.pubmed.ally not found", msg)

[<Fact>]
let ``Pickle reads PubMed's present files: tx a 1000 x 500 csr_matrix, the graph dict of 19717 nodes`` () =
    let dir = Path.Combine(dataRoot.Value.Path, "PubMed")
    match Pickle.Load(Path.Combine(dir, "ind.pubmed.tx")) with
    | :? PickledObject as m ->
        Assert.EndsWith("csr_matrix", m.ClassName)
        Assert.Equal<obj[]>([| box 1000L; box 500L |], m.State.["_shape"] :?> obj[])
        let data = m.State.["data"] :?> NumpyArray
        Assert.Equal("<f4", data.Descr)
        Assert.Equal(50140L, data.Numel)
    | o -> failwithf "expected a csr_matrix, got %A" o
    match Pickle.Load(Path.Combine(dir, "ind.pubmed.graph")) with
    | :? Collections.Generic.Dictionary<obj, obj> as d ->
        Assert.Equal(19717, d.Count)
        Assert.Equal(88676, d.Values |> Seq.sumBy (fun l -> (l :?> Collections.Generic.List<obj>).Count))
    | o -> failwithf "expected a dict, got %A" o
    match Pickle.Load(Path.Combine(dir, "ind.pubmed.ally")) with
    | :? NumpyArray as a ->
        Assert.Equal<int[]>([| 18717; 3 |], a.Shape)
        Assert.Equal("<i4", a.Descr)
    | o -> failwithf "expected an ndarray, got %A" o

// ---------------------------------------------------------------------------------------------------------------
// MNIST, real data (t10k only: counts, label histogram, pixel mean, a point cloud)

[<Fact>]
let ``MNIST t10k: 10000 images of 28x28 in [0, 1], the published label histogram and mean; point clouds`` () =
    let t = Mnist.Load(dataRoot.Value, "t10k")
    Assert.Equal((10000, 28, 28), (t.Count, t.Rows, t.Cols))
    Assert.Equal(7840000, t.Pixels.Length)
    Assert.Equal<int[]>([| 980; 1135; 1032; 1010; 982; 892; 958; 1028; 974; 1009 |], Array.countBy id t.Labels |> Array.sortBy fst |> Array.map snd)
    Assert.True(t.Pixels |> Array.forall (fun v -> v >= 0.0f && v <= 1.0f))
    Assert.Equal(1.0f, Array.max t.Pixels)
    let mean = t.Pixels |> Array.averageBy float
    Assert.True(abs (mean - 0.1325) < 5e-5, sprintf "pixel mean %f" mean)
    Assert.Equal<int[]>([| 10000; 1; 28; 28 |], t.Images().Shape)
    // point clouds of the first 200 test digits (a small "train" part keeps the test fast)
    let small = MnistSplit(t.Pixels.[.. 200 * 784 - 1], t.Labels.[.. 199], 28, 28)
    let pc = Mnist.PointClouds(small, small, 128, 7)
    Assert.Equal((200, 200, 10), (pc.Train.Length, pc.Test.Length, pc.NumClasses))
    Assert.Equal("MNIST-points-128", pc.Name)
    for c in pc.Train do
        Assert.Equal<int[]>([| 128; 3 |], c.Points.Shape)
        let d = c.Points.Data
        let norms = Array.init 128 (fun i -> sqrt (d.[3 * i] * d.[3 * i] + d.[3 * i + 1] * d.[3 * i + 1]))
        Assert.True(abs (Array.max norms - 1.0f) < 1e-5f)
        for k in 0 .. 1 do Assert.True(abs (Array.init 128 (fun i -> d.[3 * i + k]) |> Array.average) < 1e-5f)
    Assert.Equal<int[]>(small.Labels, pc.Train |> Array.map (fun c -> c.Label))
    let again = Mnist.PointClouds(small, small, 128, 7)
    Assert.Equal<float32[]>(pc.Test.[5].Points.Data, again.Test.[5].Points.Data)
    Assert.NotEqual<float32[]>(pc.Test.[5].Points.Data, (Mnist.PointClouds(small, small, 128, 8)).Test.[5].Points.Data)
