/// Dataset loaders of the host on fixtures written by the tests into temp folders: the PPI layout (not available
/// here), .npy files, the data root, and every error path of every format (file, line number, what was expected).
module GcnKd.Tests.LoaderFixtureTests

open System
open System.IO
open Xunit
open GcnKd
open GcnKd.Host.Data
open GcnKd.Tests.TestData
// ---------------------------------------------------------------------------------------------------------------
// PPI fixture (DGL layout written by the test)

let private npyBytes (descr: string) (shape: int list) (fortran: bool) (data: byte[]) =
    let shapeStr = match shape with [ d ] -> sprintf "(%d,)" d | ds -> "(" + String.Join(", ", ds) + ")"
    let header = sprintf "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" descr (if fortran then "True" else "False") shapeStr
    let pad = (64 - (10 + header.Length + 1) % 64) % 64
    let h = header + String(' ', pad) + "\n"
    Array.concat [ [| 0x93uy |]; "NUMPY"B; [| 1uy; 0uy; byte (h.Length &&& 0xff); byte (h.Length >>> 8) |]; Text.Encoding.ASCII.GetBytes h; data ]

let private f4 (xs: float32[]) = xs |> Array.collect BitConverter.GetBytes
let private f8 (xs: float[]) = xs |> Array.collect BitConverter.GetBytes
let private i8 (xs: int64[]) = xs |> Array.collect BitConverter.GetBytes

let private nodeLink (n: int) (links: (int * int) list) =
    let nodes = String.Join(", ", [ for i in 0 .. n - 1 -> sprintf "{\"id\": %d, \"test\": false}" i ])
    let ls = String.Join(", ", [ for s, t in links -> sprintf "{\"source\": %d, \"target\": %d}" s t ])
    sprintf "{\"directed\": false, \"multigraph\": false, \"graph\": {}, \"nodes\": [%s], \"links\": [%s]}" nodes ls

/// Two graphs per split, 3 features, 2 labels; the valid split interleaves its graphs' nodes.
let private writePpi (d: TempDir) =
    let split name (graphIds: int64[]) links (featsNpy: int -> byte[]) =
        let n = graphIds.Length
        d.Write(name + "_graph.json", nodeLink n links)
        d.WriteBytes(name + "_feats.npy", featsNpy n)
        d.WriteBytes(name + "_labels.npy", npyBytes "<i8" [ n; 2 ] false (i8 (Array.init (2 * n) (fun k -> int64 ((k / 2 + k) % 2)))))
        d.WriteBytes(name + "_graph_id.npy", npyBytes "<i8" [ n ] false (i8 graphIds))
    let featsF4 n = npyBytes "<f4" [ n; 3 ] false (f4 (Array.init (3 * n) float32))
    let featsF8 n = npyBytes "<f8" [ n; 3 ] false (f8 (Array.init (3 * n) (fun k -> float k + 0.5)))
    split "train" [| 1L; 1L; 1L; 2L; 2L |] [ 0, 1; 1, 2; 1, 0; 3, 4; 2, 2 ] featsF4
    split "valid" [| 3L; 4L; 3L; 4L |] [ 0, 2; 1, 3 ] featsF8
    split "test" [| 5L; 5L; 6L; 6L |] [ 0, 1 ] featsF4

[<Fact>]
let ``PPI fixture: nodes split into graphs by graph id, edges symmetrised, features and labels per node`` () =
    use d = new TempDir()
    writePpi d
    let ds = Ppi.LoadFolder(d.Path, "PPI-fixture")
    Assert.Equal((3, 2), (ds.NumFeatures, ds.NumLabels))
    Assert.Equal((2, 2, 2), (ds.Train.Length, ds.Val.Length, ds.Test.Length))
    let g0 = ds.Train.[0]
    Assert.Equal<int[]>([| 3; 3 |], g0.Features.Shape)
    Assert.Equal<float32[]>([| 0.0f .. 8.0f |], g0.Features.Data)
    Assert.Equal<int[]>([| 0; 1; 3; 4 |], g0.Adj.RowPtr)                 // 0-1, 1-2 both ways; self-loop 2-2 dropped
    Assert.Equal<int[]>([| 1; 0; 2; 1 |], g0.Adj.ColIdx)
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 1.0f; 0.0f; 0.0f; 1.0f |], g0.Targets.Data)
    let g1 = ds.Train.[1]
    Assert.Equal<float32[]>([| 9.0f .. 14.0f |], g1.Features.Data)
    Assert.Equal(2, Csr.nnz g1.Adj)
    // valid: graph 3 = nodes 0 and 2, graph 4 = nodes 1 and 3 (float64 features converted)
    Assert.Equal<float32[]>([| 0.5f; 1.5f; 2.5f; 6.5f; 7.5f; 8.5f |], ds.Val.[0].Features.Data)
    Assert.Equal<float32[]>([| 3.5f; 4.5f; 5.5f; 9.5f; 10.5f; 11.5f |], ds.Val.[1].Features.Data)
    for g in Array.concat [ ds.Train; ds.Val; ds.Test ] do checkAdjacency g.Adj
    Assert.Equal<int[]>([| 0; 1; 2 |], ds.Val.[0].Adj.RowPtr)
    let s = DatasetStats.Of ds
    Assert.Equal((6, 13L, 6L), (s.Graphs, s.Nodes, s.UndirectedEdges))

[<Fact>]
let ``PPI errors: missing files, links across graphs, row-count mismatches, bad JSON`` () =
    use d = new TempDir()
    userError [ "dataset PPI not found"; Path.Combine(d.Path, "PPI"); "train_graph.json"; "test_graph_id.npy" ] (fun () -> Ppi.Load(DataRoot.At d.Path))
    writePpi d
    d.Write("train_graph.json", nodeLink 5 [ 0, 1; 2, 3 ])
    userError [ "train_graph.json"; "link 1 joins node 2 of graph 1 and node 3 of graph 2" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))
    d.Write("train_graph.json", nodeLink 4 [])
    userError [ "train_graph.json"; "4 nodes, but the .npy files have 5 rows" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))
    d.Write("train_graph.json", nodeLink 5 [ 0, 7 ])
    userError [ "train_graph.json"; "link 0"; "node ids in 0..4" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))
    d.Write("train_graph.json", "{\"nodes\": [\n{\"id\": 0},\n oops")
    userError [ "train_graph.json, line 3"; "not valid JSON" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))
    writePpi d
    d.WriteBytes("valid_labels.npy", npyBytes "<i8" [ 3; 2 ] false (i8 (Array.zeroCreate 6)))
    userError [ "valid_labels.npy"; "3 rows, but valid_feats.npy has 4" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))
    writePpi d
    d.WriteBytes("test_feats.npy", npyBytes "<f4" [ 4; 2 ] false (f4 (Array.zeroCreate 8)))
    userError [ "test_feats.npy"; "2 feature columns, but the train split has 3" ] (fun () -> Ppi.LoadFolder(d.Path, "x"))

[<Fact>]
let ``Npy: versions 1 and 2, dtypes, and clear errors for bad magic, truncation, Fortran order, unknown dtypes`` () =
    let a = Npy.Parse(npyBytes "<f8" [ 2; 2 ] false (f8 [| 1.0; 2.0; 3.0; 4.5 |]), "a.npy")
    Assert.Equal<float32[]>([| 1.0f; 2.0f; 3.0f; 4.5f |], a.ToSingles())
    Assert.Equal<int[]>([| 2; 2 |], a.Shape)
    let b = Npy.Parse(npyBytes "|u1" [ 3 ] false [| 1uy; 2uy; 255uy |], "b.npy")
    Assert.Equal<int64[]>([| 1L; 2L; 255L |], b.ToInt64s())
    let big = Npy.Parse(npyBytes ">i4" [ 2 ] false [| 0uy; 0uy; 1uy; 2uy; 255uy; 255uy; 255uy; 254uy |], "c.npy")
    Assert.Equal<int64[]>([| 258L; -2L |], big.ToInt64s())
    // version 2: 4-byte header length
    let v1 = npyBytes "<i8" [ 1 ] false (i8 [| 42L |])
    let hlen = int v1.[8] ||| (int v1.[9] <<< 8)
    let v2 = Array.concat [ v1.[.. 5]; [| 2uy; 0uy; byte hlen; byte (hlen >>> 8); 0uy; 0uy |]; v1.[10 ..] ]
    Assert.Equal<int64[]>([| 42L |], (Npy.Parse(v2, "v2.npy")).ToInt64s())
    userError [ "x.npy"; "magic string" ] (fun () -> Npy.Parse("PK\003\004 not numpy"B, "x.npy"))
    userError [ "x.npy"; "needs 32 data bytes but the file holds 24 (truncated)" ] (fun () ->
        let full = npyBytes "<f8" [ 2; 2 ] false (f8 [| 1.0; 2.0; 3.0; 4.0 |])
        Npy.Parse(full.[.. full.Length - 9], "x.npy"))
    userError [ "x.npy"; "Fortran-order" ] (fun () -> Npy.Parse(npyBytes "<f4" [ 2; 2 ] true (f4 (Array.zeroCreate 4)), "x.npy"))
    userError [ "x.npy"; "unsupported numpy dtype '<c8'" ] (fun () -> Npy.Parse(npyBytes "<c8" [ 1 ] false (Array.zeroCreate 8), "x.npy"))
    userError [ "x.npy"; "version 7" ] (fun () -> Npy.Parse(Array.concat [ v1.[.. 5]; [| 7uy |]; v1.[7 ..] ], "x.npy"))
    use d = new TempDir()
    userError [ "missing.npy not found" ] (fun () -> Npy.Read(Path.Combine(d.Path, "missing.npy")))

// ---------------------------------------------------------------------------------------------------------------
// Data root

[<Fact>]
let ``DataRoot: --data wins, else GCNKD_DATA, else ./data; a missing dataset names root, folder and files`` () =
    let r = DataRoot.Resolve "some/dir"
    Assert.Equal(Path.GetFullPath "some/dir", r.Path)
    Assert.Equal("--data", r.Source)
    let fallback = DataRoot.Resolve null
    match Environment.GetEnvironmentVariable "GCNKD_DATA" with
    | null | "" -> Assert.Equal((Path.GetFullPath "data", "default ./data"), (fallback.Path, fallback.Source))
    | env -> Assert.Equal((Path.GetFullPath env, "GCNKD_DATA"), (fallback.Path, fallback.Source))
    use d = new TempDir()
    let root = DataRoot.Resolve d.Path
    userError [ "dataset MUTAG not found"; Path.Combine(d.Path, "MUTAG"); "data root " + d.Path; "from --data"; "MUTAG_A.txt, MUTAG_graph_indicator.txt, MUTAG_graph_labels.txt" ] (fun () ->
        TuFormat.Load(root, "MUTAG"))
    userError [ "dataset Cora not found"; "ind.cora.x"; "ind.cora.test.index" ] (fun () -> Planetoid.Load(root, "Cora", true))
    userError [ "dataset MUTAG not found"; Path.Combine(d.Path, "MUTAG", "gin_format"); "MUTAG.txt" ] (fun () -> GinFormat.Load(root, "MUTAG"))
    userError [ "dataset MNIST not found"; "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" ] (fun () -> Mnist.Load(root, "t10k"))
    d.Write("MUTAG/MUTAG_A.txt", "1, 2\n")
    userError [ "dataset MUTAG is incomplete"; "MUTAG_graph_indicator.txt, MUTAG_graph_labels.txt not found" ] (fun () -> TuFormat.Load(root, "MUTAG"))

// ---------------------------------------------------------------------------------------------------------------
// TU fixtures: the format and every error path

/// Two graphs (a path 1-2-3 and an edge 4-5), raw labels 3 and -1, three node labels.
let private writeTu (d: TempDir) =
    d.Write("TOY_A.txt", "1, 2\n2, 1\n2, 3\n3, 2\n4, 5\n5, 4\n1, 2\n3, 3\n")
    d.Write("TOY_graph_indicator.txt", "1\n1\n1\n2\n2\n\n")
    d.Write("TOY_graph_labels.txt", "3\n-1\n")
    d.Write("TOY_node_labels.txt", "0\n2\n1\n1\n0\n")
    d.Write("TOY_node_attributes.txt", "0.5, 1\n1.5, 2\n2.5, 3\n3.5, 4\n4.5, 5\n")

let private tuPath (d: TempDir) file = Path.Combine(d.Path, file)

[<Fact>]
let ``TU fixture: labels sorted and remapped, duplicate and self-loop edges dropped, one-hot labels, attributes`` () =
    use d = new TempDir()
    writeTu d
    let ds = TuFormat.LoadFolder(d.Path, "TOY")
    Assert.Equal((2, 3), (ds.NumClasses, ds.NumFeatures))
    Assert.Equal<int[]>([| 1; 0 |], ds.Graphs |> Array.map (fun g -> g.Label))
    Assert.Equal<int[]>([| 0; 1; 3; 4 |], ds.Graphs.[0].Adj.RowPtr)
    Assert.Equal<int[]>([| 1; 0; 2; 1 |], ds.Graphs.[0].Adj.ColIdx)
    Assert.Equal<float32[]>([| 1.0f; 0.0f; 0.0f; 0.0f; 0.0f; 1.0f; 0.0f; 1.0f; 0.0f |], ds.Graphs.[0].Features.Data)
    let wa = TuFormat.LoadFolder(d.Path, "TOY", useNodeAttributes = true)
    Assert.Equal(5, wa.NumFeatures)
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 0.0f; 3.5f; 4.0f; 1.0f; 0.0f; 0.0f; 4.5f; 5.0f |], wa.Graphs.[1].Features.Data)
    // without node labels: one-hot degree over 0..max degree (2)
    File.Delete(tuPath d "TOY_node_labels.txt")
    let deg = TuFormat.LoadFolder(d.Path, "TOY")
    Assert.Equal(3, deg.NumFeatures)
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 0.0f; 0.0f; 0.0f; 1.0f; 0.0f; 1.0f; 0.0f |], deg.Graphs.[0].Features.Data)

[<Fact>]
let ``TU errors name the file, the line and what was expected`` () =
    use d = new TempDir()
    let check (file: string) (text: string) (fragments: string list) =
        writeTu d
        d.Write(file, text)
        userError (tuPath d file :: fragments) (fun () -> TuFormat.LoadFolder(d.Path, "TOY", useNodeAttributes = true))
    check "TOY_A.txt" "1, 2\n2, x\n" [ "line 2"; "field 2 is not an integer"; "'2, x'" ]
    check "TOY_A.txt" "1, 2\n2\n" [ "line 2"; "2 integer fields"; "'2'" ]
    check "TOY_A.txt" "1, 2\n2, 1\n1, 9\n" [ "line 3"; "node ids in 1..5" ]
    check "TOY_A.txt" "1, 2\n3, 4\n" [ "line 2"; "node 3 is in graph 1 and node 4 in graph 2" ]
    check "TOY_graph_indicator.txt" "1\n1\n3\n2\n2\n" [ "line 3"; "a graph id in 1..2" ]
    check "TOY_graph_indicator.txt" "1\n1\n\n2\n2\n" [ "line 3"; "1 integer field"; "got ''" ]
    check "TOY_graph_indicator.txt" "1\n1\n1\n1\n1\n" [ "graph 2 has no nodes" ]
    check "TOY_graph_labels.txt" "3\nyes\n" [ "line 2"; "graph label" ]
    check "TOY_node_labels.txt" "0\n2\n1\n1\n" [ "4 lines, but the graph indicator lists 5 nodes" ]
    check "TOY_node_labels.txt" "0\n2\n1, 4\n1\n0\n" [ "line 3"; "1 integer field" ]
    check "TOY_node_attributes.txt" "0.5, 1\n1.5, 2\n2.5, 3\n3.5, four\n4.5, 5\n" [ "line 4"; "field 2 is not a number" ]

// ---------------------------------------------------------------------------------------------------------------
// GIN fixtures

/// Ten one-node graphs except graph 0 (a triangle with attribute columns) and graph 1 (an edge listed twice).
let private ginText =
    "10\n3 1\n5 2 1 2 0.5 0.25\n7 2 0 2 1 1\n5 2 0 1 0 0\n2 0\n7 1 1\n7 2 0 0\n"
    + String.Join("", [ for g in 2 .. 9 -> sprintf "1 %d\n5 0\n" (g % 2) ])

let private writeGin (d: TempDir) =
    d.Write("TOY/gin_format/TOY.txt", ginText)
    for k in 1 .. 10 do
        d.Write(sprintf "TOY/gin_format/10fold_idx/test_idx-%d.txt" k, sprintf "%d\n" (k - 1))
        d.Write(sprintf "TOY/gin_format/10fold_idx/train_idx-%d.txt" k, String.Join("\n", [ for g in 0 .. 9 do if g <> k - 1 then yield string g ]))

[<Fact>]
let ``GIN fixture: tags by first appearance, attribute columns ignored, edges de-duplicated, folds read`` () =
    use d = new TempDir()
    writeGin d
    let ds = GinFormat.Load(DataRoot.At d.Path, "TOY")
    Assert.Equal((2, 2), (ds.NumClasses, ds.NumFeatures))                // tags 5 -> 0, 7 -> 1
    Assert.Equal<float32[]>([| 1.0f; 0.0f; 0.0f; 1.0f; 1.0f; 0.0f |], ds.Graphs.[0].Features.Data)
    Assert.Equal(6, Csr.nnz ds.Graphs.[0].Adj)
    Assert.Equal(2, Csr.nnz ds.Graphs.[1].Adj)
    Assert.Equal<int[]>([| 1; 0; 0; 1; 0; 1; 0; 1; 0; 1 |], ds.Graphs |> Array.map (fun g -> g.Label))
    Assert.Equal<int[][]>(Array.init 10 (fun k -> [| k |]), ds.Folds.Value)
    let deg = GinFormat.Load(DataRoot.At d.Path, "TOY", GinFeatures.Degree)
    Assert.Equal(3, deg.NumFeatures)                                      // degrees {0, 1, 2}
    Assert.Equal<float32[]>([| 0.0f; 0.0f; 1.0f |], deg.Graphs.[0].Features.Data.[.. 2])
    Assert.Equal<float32[]>([| 1.0f; 0.0f; 0.0f |], deg.Graphs.[5].Features.Data)
    // no fold folder: no folds
    Directory.Delete(Path.Combine(d.Path, "TOY", "gin_format", "10fold_idx"), true)
    Assert.True((GinFormat.Load(DataRoot.At d.Path, "TOY")).Folds.IsNone)

[<Fact>]
let ``GIN errors name the file, the line and what was expected`` () =
    use d = new TempDir()
    let file = Path.Combine(d.Path, "TOY", "gin_format", "TOY.txt")
    let check (text: string) (fragments: string list) =
        writeGin d
        d.Write("TOY/gin_format/TOY.txt", text)
        userError (file :: fragments) (fun () -> GinFormat.Load(DataRoot.At d.Path, "TOY"))
    let lines = ginText.Split('\n')
    let withLine i (s: string) = String.Join("\n", lines |> Array.mapi (fun j l -> if j = i then s else l))
    check (withLine 0 "ten") [ "line 1"; "the number of graphs" ]
    check (withLine 1 "3 1 0") [ "line 2"; "'n label'"; "graph 1 of 10" ]
    check (withLine 2 "5 2 1 3") [ "line 3"; "neighbour 2 must be a node id in 0..2" ]
    check (withLine 2 "5 3 1 2") [ "line 3"; "3 neighbours announced, 2 fields follow" ]
    check (withLine 2 "5 2 1 2 0.5 abc") [ "line 3"; "attribute column 2 is not a number" ]
    check (withLine 2 "x 2 1 2") [ "line 3"; "node line"; "of graph 1" ]
    check (String.Join("\n", lines.[.. 20])) [ "line 22"; "node line"; "of graph 9"; "got the end of the file" ]
    check (String.Join("\n", lines.[.. 21])) [ "line 23"; "'n label' (node count and label) of graph 10 of 10"; "got the end of the file" ]
    check (ginText + "1 0\n") [ "line 25"; "the end of the file after the 10 graphs" ]
    let folds = Path.Combine(d.Path, "TOY", "gin_format", "10fold_idx")
    let checkFold (name: string) (text: string) (fragments: string list) =
        writeGin d
        if isNull text then File.Delete(Path.Combine(folds, name)) else d.Write("TOY/gin_format/10fold_idx/" + name, text)
        userError fragments (fun () -> GinFormat.Load(DataRoot.At d.Path, "TOY"))
    checkFold "test_idx-4.txt" null [ folds; "incomplete"; "test_idx-4.txt not found" ]
    checkFold "test_idx-4.txt" "3\n12\n" [ Path.Combine(folds, "test_idx-4.txt"); "line 2"; "a graph index in 0..9" ]
    checkFold "test_idx-4.txt" "3\n1\n" [ Path.Combine(folds, "test_idx-4.txt"); "line 2"; "1 is also in test_idx-2.txt" ]
    checkFold "train_idx-3.txt" "0\n1\n" [ Path.Combine(folds, "train_idx-3.txt"); "complement of test_idx-3.txt" ]

// ---------------------------------------------------------------------------------------------------------------
// The restricted unpickler and Planetoid error paths

/// The bytes of a pickle written as a string of byte values (\xHH escapes).
let private pk (s: string) = s |> Seq.map (fun c -> if int c > 255 then failwith "not a byte" else byte c) |> Array.ofSeq

[<Fact>]
let ``Pickle: hand-written protocol-2 pickles load; disallowed globals, calls, opcodes and truncation are clear errors`` () =
    match Pickle.Load(pk "\x80\x02}q\x00(K\x01]q\x01(K\x02K\x03eK\x02h\x01u.", "dict.pkl") with
    | :? Collections.Generic.Dictionary<obj, obj> as d ->
        Assert.Equal<obj list>([ box 2L; box 3L ], d.[box 1L] :?> Collections.Generic.List<obj> |> List.ofSeq)
        Assert.Same(d.[box 1L], d.[box 2L])                                // memo: the same list object
    | o -> failwithf "expected a dict, got %A" o
    let t = Pickle.Load(pk "\x80\x02(J\xfe\xff\xff\xffM,\x01U\x02ab\x88NG?\xf8\x00\x00\x00\x00\x00\x00\x8a\x02\x00\x80t.", "t.pkl") :?> obj[]
    Assert.Equal<obj[]>([| box -2L; box 300L; box "ab"; box true; null; box 1.5; box -32768L |], t)
    userError [ "evil.pkl"; "GLOBAL os.system is not allowed"; "numpy.ndarray" ] (fun () -> Pickle.Load(pk "\x80\x02cos\nsystem\nq\x00.", "evil.pkl"))
    userError [ "call.pkl"; "a call of __builtin__.list, which this reader does not interpret" ] (fun () -> Pickle.Load(pk "\x80\x02c__builtin__\nlist\n)R.", "call.pkl"))
    userError [ "p4.pkl"; "protocol 4"; "protocol 0-2" ] (fun () -> Pickle.Load(pk "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", "p4.pkl"))
    userError [ "s.pkl"; "opcode 0x53 ('S')"; "byte 2" ] (fun () -> Pickle.Load(pk "\x80\x02S'abc'\n.", "s.pkl"))
    userError [ "nostop.pkl"; "ends without STOP" ] (fun () -> Pickle.Load(pk "\x80\x02K\x01", "nostop.pkl"))
    userError [ "memo.pkl"; "memo entry 5 read before it was written" ] (fun () -> Pickle.Load(pk "\x80\x02h\x05.", "memo.pkl"))
    let cora = File.ReadAllBytes(Path.Combine(dataRoot.Value.Path, "Cora", "ind.cora.x"))
    userError [ "cut.pkl"; "truncated" ] (fun () -> Pickle.Load(cora.[.. cora.Length / 2], "cut.pkl"))

[<Fact>]
let ``Planetoid errors: bad test.index lines, mismatched row counts, wrong pickled types, truncated pickles`` () =
    use d = new TempDir()
    let src = Path.Combine(dataRoot.Value.Path, "Cora")
    let reset () =
        for f in Planetoid.RequiredFiles "Cora" do File.Copy(Path.Combine(src, f), Path.Combine(d.Path, "Cora", f), true)
    Directory.CreateDirectory(Path.Combine(d.Path, "Cora")) |> ignore
    let p (part: string) = Path.Combine(d.Path, "Cora", "ind.cora." + part)
    let load () = Planetoid.Load(DataRoot.At d.Path, "Cora", false)
    let index = File.ReadAllLines(Path.Combine(src, "ind.cora.test.index"))
    let check (setup: unit -> unit) (fragments: string list) =
        reset ()
        setup ()
        userError fragments load
    check (fun () -> File.WriteAllLines(p "test.index", index |> Array.mapi (fun i l -> if i = 6 then "17o8" else l))) [ p "test.index"; "line 7"; "one test node id" ]
    check (fun () -> File.WriteAllLines(p "test.index", index |> Array.mapi (fun i l -> if i = 2 then "12" else l))) [ p "test.index"; "line 3"; "a test node id >= 1708" ]
    check (fun () -> File.WriteAllLines(p "test.index", index |> Array.mapi (fun i l -> if i = 2 then index.[0] else l))) [ p "test.index"; "line 3"; index.[0] + " repeats" ]
    check (fun () -> File.WriteAllLines(p "test.index", index.[1..])) [ p "test.index"; "999 test ids, but tx has 1000 rows" ]
    check (fun () -> File.Copy(p "ty", p "y", true)) [ p "y"; "1000 rows, but x has 140" ]
    check (fun () -> File.Copy(p "y", p "graph", true)) [ p "graph"; "expected a pickled dict" ]
    check (fun () -> File.Copy(p "graph", p "x", true)) [ p "x"; "a pickled dict; expected a scipy csr_matrix" ]
    check (fun () -> File.WriteAllBytes(p "allx", (File.ReadAllBytes(p "allx")).[.. 5000])) [ p "allx"; "truncated" ]
    check (fun () -> File.Delete(p "graph")) [ "dataset Cora is incomplete"; "ind.cora.graph not found" ]
    reset ()
    Assert.Equal(2708, (load ()).Labels.Length)

// ---------------------------------------------------------------------------------------------------------------
// MNIST error paths (IDX fixtures)

let private idx (magic: int) (dims: int list) (data: byte[]) =
    let be (v: int) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]
    Array.concat ([ be magic ] @ List.map be dims @ [ data ])

let private gzip (bytes: byte[]) =
    use mem = new MemoryStream()
    (use gz = new Compression.GZipStream(mem, Compression.CompressionLevel.Fastest, true)
     gz.Write(bytes, 0, bytes.Length))
    mem.ToArray()

[<Fact>]
let ``MNIST errors: bad magic, truncated data, count mismatch, not gzip, label out of range; plain IDX accepted`` () =
    use d = new TempDir()
    let img = idx 2051 [ 2; 2; 3 ] [| 0uy; 255uy; 51uy; 0uy; 0uy; 0uy; 255uy; 255uy; 255uy; 0uy; 0uy; 0uy |]
    let lab = idx 2049 [ 2 ] [| 3uy; 9uy |]
    let write (i: byte[]) (l: byte[]) =
        d.WriteBytes("MNIST/t10k-images-idx3-ubyte.gz", gzip i)
        d.WriteBytes("MNIST/t10k-labels-idx1-ubyte.gz", gzip l)
    let load () = Mnist.Load(DataRoot.At d.Path, "t10k")
    let imgPath = Path.Combine(d.Path, "MNIST", "t10k-images-idx3-ubyte.gz")
    let labPath = Path.Combine(d.Path, "MNIST", "t10k-labels-idx1-ubyte.gz")
    write img lab
    let m = load ()
    Assert.Equal((2, 2, 3), (m.Count, m.Rows, m.Cols))
    Assert.Equal<float32[]>([| 0.0f; 1.0f; 0.2f |], m.Pixels.[.. 2])
    Assert.Equal<int[]>([| 3; 9 |], m.Labels)
    write (idx 2049 [ 2; 2; 3 ] img.[16..]) lab
    userError [ imgPath; "magic number 2049 (0x00000801); expected 2051" ] load
    write img.[.. img.Length - 2] lab
    userError [ imgPath; "declares 2 x 2 x 3 = 12 bytes of data but the file holds 11 (truncated)" ] load
    write img.[.. 10] lab
    userError [ imgPath; "too short for the 16-byte IDX header" ] load
    write img (idx 2049 [ 3 ] [| 1uy; 2uy; 3uy |])
    userError [ labPath; "3 labels, but t10k-images-idx3-ubyte.gz has 2 images" ] load
    write img (idx 2049 [ 2 ] [| 1uy; 12uy |])
    userError [ labPath; "label 12 of item 1; expected a digit 0..9" ] load
    write img lab
    d.WriteBytes("MNIST/t10k-images-idx3-ubyte.gz", img)
    userError [ imgPath; "not a valid gzip file" ] load
    // uncompressed files when the .gz are absent
    File.Delete imgPath
    File.Delete labPath
    d.WriteBytes("MNIST/t10k-images-idx3-ubyte", img)
    d.WriteBytes("MNIST/t10k-labels-idx1-ubyte", lab)
    Assert.Equal<int[]>([| 3; 9 |], (load ()).Labels)
