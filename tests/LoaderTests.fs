/// Dataset loaders of the host: real-data tests against the statistics verified in each dataset's SOURCE.md, and
/// fixture tests (written into temp folders by the tests) for PPI and for every error path.
module GcnKd.Tests.LoaderTests

open System
open System.IO
open Xunit
open GcnKd
open GcnKd.Host.Data
open GcnKd.Host.Errors

// ---------------------------------------------------------------------------------------------------------------
// Support

/// The real data: GCNKD_DATA, else the `shared/data` folder found walking up from the test binary.
let private dataRoot =
    lazy (
        match Environment.GetEnvironmentVariable "GCNKD_DATA" with
        | null | "" ->
            let rec up (d: DirectoryInfo) =
                if isNull d then failwith "real data not found: set GCNKD_DATA or place it in a shared/data folder above the tests"
                elif Directory.Exists(Path.Combine(d.FullName, "shared", "data")) then Path.Combine(d.FullName, "shared", "data")
                else up d.Parent
            DataRoot.At(up (DirectoryInfo AppContext.BaseDirectory))
        | p -> DataRoot.At p)

/// A fresh temp folder, deleted on dispose.
type private TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "gcnkd-loader-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.Write(name: string, text: string) =
        let p = Path.Combine(path, name)
        Directory.CreateDirectory(Path.GetDirectoryName p) |> ignore
        File.WriteAllText(p, text)
    member _.WriteBytes(name: string, bytes: byte[]) =
        let p = Path.Combine(path, name)
        Directory.CreateDirectory(Path.GetDirectoryName p) |> ignore
        File.WriteAllBytes(p, bytes)
    interface IDisposable with
        member _.Dispose() = try Directory.Delete(path, true) with _ -> ()

/// The action fails with a GcnKdUserError whose message contains every fragment.
let private userError (fragments: string list) (action: unit -> 'a) =
    let e = Assert.Throws<GcnKdUserError>(fun () -> action () |> ignore)
    for f in fragments do Assert.True(e.Message.Contains f, sprintf "expected '%s' in the message: %s" f e.Message)
    e.Message

/// Every adjacency is symmetric, sorted, without duplicates or self-loops, with unit values.
let private checkAdjacency (a: Csr) =
    Csr.validate a
    let set = Collections.Generic.HashSet<struct (int * int)>()
    for i in 0 .. a.Rows - 1 do
        for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
            let j = a.ColIdx.[e]
            Assert.NotEqual(i, j)
            Assert.Equal(1.0f, a.Values.[e])
            if e > a.RowPtr.[i] then Assert.True(a.ColIdx.[e - 1] < j, "entries sorted and distinct")
            set.Add(struct (i, j)) |> ignore
    for struct (i, j) in set do Assert.True(set.Contains(struct (j, i)), sprintf "edge %d-%d has no reverse" i j)

let private rowSums (t: Tensor) = Array.init t.Shape.[0] (fun i -> Array.sum t.Data.[i * t.Shape.[1] .. (i + 1) * t.Shape.[1] - 1])

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
