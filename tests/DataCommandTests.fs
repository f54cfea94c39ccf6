/// `gcnkd data list|check|fetch`: the published-statistics check on the real data root and on fixtures the tests
/// write, user mistakes (exit code 2, one message), and fetching from a local HTTP server the test starts.
module GcnKd.Tests.DataCommandTests

open System
open System.IO
open System.IO.Compression
open System.Net
open System.Net.Sockets
open System.Security.Cryptography
open System.Threading.Tasks
open Xunit
open GcnKd
open GcnKd.Cli
open GcnKd.Host.Data
open GcnKd.Host.Errors
open GcnKd.Tests.TestData

let private check (names: string list) (root: string) =
    use out = new StringWriter()
    let code = DataCommand.Check({ Names = names; Data = Some root }, out)
    code, out.ToString()

let private lineOf (text: string) (label: string) =
    text.Split('\n') |> Array.tryFind (fun l -> l.StartsWith(label + " ")) |> Option.defaultWith (fun () -> failwithf "no line for %s in:\n%s" label text)

/// `gcnkd ARGS` through the host's Main: exit code, stdout, stderr (serialised: Console is process-wide).
let private gate = obj ()
let private runMain (args: string[]) =
    lock gate (fun () ->
        let out, err = new StringWriter(), new StringWriter()
        let oldOut, oldErr = Console.Out, Console.Error
        Console.SetOut out
        Console.SetError err
        try
            let code = GcnKd.Host.Program.Main args
            code, out.ToString(), err.ToString()
        finally
            Console.SetOut oldOut
            Console.SetError oldErr)

// ---------------------------------------------------------------------------------------------------------------
// fixtures

/// MUTAG's TU files for the first `count` of 188 graphs built to reproduce MUTAG's published statistics exactly
/// (3371 nodes, 3721 edges, 7 node labels, 125 / 63 graphs): paths of 18 (175 graphs) or 17 nodes plus chords.
let private tuMutag (count: int) =
    let sizes = Array.init 188 (fun g -> if g < 175 then 18 else 17)
    let offsets = Array.scan (+) 0 sizes
    let paths = [ for g in 0 .. 187 do for i in 0 .. sizes.[g] - 2 -> g, i, i + 1 ]
    let chords = [ for g in 0 .. 187 do for i in 0 .. sizes.[g] - 3 -> g, i, i + 2 ] |> List.truncate (3721 - paths.Length)
    let edges = paths @ chords |> List.filter (fun (g, _, _) -> g < count)
    let id g i = offsets.[g] + i + 1
    [ "MUTAG_A.txt", edges |> List.collect (fun (g, a, b) -> [ sprintf "%d, %d" (id g a) (id g b); sprintf "%d, %d" (id g b) (id g a) ])
      "MUTAG_graph_indicator.txt", [ for g in 0 .. count - 1 do for _ in 1 .. sizes.[g] -> string (g + 1) ]
      "MUTAG_graph_labels.txt", [ for g in 0 .. count - 1 -> if g < 125 then "1" else "-1" ]
      "MUTAG_node_labels.txt", [ for g in 0 .. count - 1 do for i in 0 .. sizes.[g] - 1 -> string (i % 7) ] ]
    |> List.map (fun (name, lines) -> name, String.Join("\n", lines) + "\n")

let private writeFiles (dir: string) (files: (string * string) list) =
    Directory.CreateDirectory dir |> ignore
    for name, text in files do File.WriteAllText(Path.Combine(dir, name), text)

/// A zip holding `files` under the folder `folder/` (the TU zip layout).
let private zipOf (folder: string) (files: (string * string) list) =
    use mem = new MemoryStream()
    do
        use zip = new ZipArchive(mem, ZipArchiveMode.Create, true)
        for name, text in files do
            use w = new StreamWriter(zip.CreateEntry(folder + "/" + name).Open())
            w.Write text
    mem.ToArray()

let private sha256 (bytes: byte[]) = Convert.ToHexStringLower(SHA256.HashData bytes)

let private freePort () =
    let l = new TcpListener(IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> IPEndPoint).Port
    l.Stop()
    port

/// A local HTTP server answering GET /path with the bytes of `files` (404 otherwise), recording every request path.
type private LocalServer(files: Map<string, byte[]>) =
    let port = freePort ()
    let listener = new HttpListener()
    do
        listener.Prefixes.Add(sprintf "http://127.0.0.1:%d/" port)
        listener.Start()
    let requests = Collections.Concurrent.ConcurrentQueue<string>()
    let serve =
        Task.Run(fun () ->
            while listener.IsListening do
                try
                    let ctx = listener.GetContext()
                    requests.Enqueue ctx.Request.Url.AbsolutePath
                    match files.TryFind ctx.Request.Url.AbsolutePath with
                    | Some bytes ->
                        ctx.Response.ContentLength64 <- int64 bytes.Length
                        ctx.Response.OutputStream.Write(bytes, 0, bytes.Length)
                    | None -> ctx.Response.StatusCode <- 404
                    ctx.Response.Close()
                with _ -> ())
    member _.Url(path: string) = sprintf "http://127.0.0.1:%d%s" port path
    member _.Requests = List.ofSeq requests
    interface IDisposable with
        member _.Dispose() =
            listener.Stop()
            listener.Close()
            serve.Wait(5000) |> ignore

let private fetchOptions name (url: string option) (sha: string option) root = { Name = name; Url = url; Sha256 = sha; Data = Some root }

let private fetch o =
    use out = new StringWriter()
    let code = DataFetch.Run(o, out)
    code, out.ToString()

// ---------------------------------------------------------------------------------------------------------------
// data check

[<Fact>]
let ``data check passes on the real data root for every dataset present`` () =
    let root = dataRoot.Value
    let code, text = check [] root.Path
    Assert.True((code = 0), text)
    let present =
        [ for d in DatasetSources.all do
            for l in DatasetLayouts.Of d.Name do
                if l.Presence root = DataPresence.Present && not (isNull (box l.Measure)) then yield sprintf "%s [%s]" d.Name l.Version ]
    Assert.NotEmpty present
    for label in present do Assert.StartsWith(label.PadRight(24) + " ok (", lineOf text label)
    Assert.DoesNotContain("MISMATCH", text)

[<Fact>]
let ``a fixture with MUTAG's published numbers passes, one graph fewer is a mismatch with exit code 1`` () =
    use dir = new TempDir()
    writeFiles (Path.Combine(dir.Path, "MUTAG")) (tuMutag 188)
    let code, text = check [ "MUTAG" ] dir.Path
    Assert.True((code = 0), text)
    Assert.StartsWith("MUTAG [TU]               ok (188 graphs, 3371 nodes, 3721 edges, 2 classes, 7 features", lineOf text "MUTAG [TU]")
    Assert.Contains("missing: not fetched by GcnKd", lineOf text "MUTAG [GIN]")
    Assert.Contains(Path.Combine(dir.Path, "MUTAG", "gin_format"), lineOf text "MUTAG [GIN]")

    writeFiles (Path.Combine(dir.Path, "MUTAG")) (tuMutag 187)
    let code, text = check [ "MUTAG" ] dir.Path
    Assert.Equal(1, code)
    let line = lineOf text "MUTAG [TU]"
    Assert.Contains("MISMATCH graphs: expected 188, found 187", line)
    Assert.Contains("class counts: expected [125, 63], found [125, 62]", line)
    Assert.Contains("1 dataset version(s) do NOT match", text)

[<Fact>]
let ``data list and check say what is present, partial or missing and what to download`` () =
    use dir = new TempDir()
    writeFiles (Path.Combine(dir.Path, "MUTAG")) (tuMutag 2)
    writeFiles (Path.Combine(dir.Path, "PubMed")) [ "ind.pubmed.x", "not read" ]
    use out = new StringWriter()
    Assert.Equal(0, DataCommand.List(Some dir.Path, out))
    let text = out.ToString()
    Assert.Equal(DatasetSources.all.Length + 1, text.Trim().Split('\n').Length)
    Assert.Contains("partial", lineOf text "MUTAG")
    Assert.Contains("GIN in MUTAG" + string Path.DirectorySeparatorChar + "gin_format" + string Path.DirectorySeparatorChar + " (missing)", lineOf text "MUTAG")
    Assert.Contains("partial", lineOf text "PubMed")
    Assert.Contains("lacks ind.pubmed.y, ind.pubmed.tx", lineOf text "PubMed")
    Assert.Contains("missing", lineOf text "ModelNet40")
    let _, text = check [ "PubMed"; "PPI" ] dir.Path
    let pubmed = lineOf text "PubMed [Planetoid]"
    Assert.Contains("partial: lacks ind.pubmed.y", pubmed)
    Assert.Contains("https://github.com/kimiyoung/planetoid/raw/master/data/ind.pubmed.allx", pubmed)
    Assert.DoesNotContain("ind.pubmed.x ", pubmed)
    Assert.Contains("https://data.dgl.ai/dataset/ppi.zip", lineOf text "PPI [DGL]")
    Assert.Contains(Path.Combine(dir.Path, "PPI"), lineOf text "PPI [DGL]")
    Assert.DoesNotContain("MUTAG", text)

[<Fact>]
let ``unknown dataset names exit with code 2 and one message naming them and the known ones`` () =
    for args in [ [| "data"; "check"; "MUTAG"; "Coraa" |]; [| "data"; "fetch"; "Coraa" |] ] do
        let code, _, err = runMain args
        Assert.Equal(2, code)
        Assert.Contains("unknown dataset 'Coraa' (known: MUTAG, PTC_MR, PROTEINS, IMDB-BINARY, COLLAB, Cora, CiteSeer, PubMed, PPI, MNIST, ModelNet40)", err)
        Assert.DoesNotContain("   at ", err)

[<Fact>]
let ``data subcommands parse into typed options with canonical names`` () =
    match (Cli.parse [| "data"; "check"; "cora"; "PTC"; "mutag"; "--data"; "d" |]).Command with
    | RunDataCheck c -> Assert.Equal<string list>([ "Cora"; "PTC_MR"; "MUTAG" ], c.Names); Assert.Equal(Some "d", c.Data)
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "data"; "fetch"; "imdb-b"; "--url"; "http://localhost:1/x"; "--sha256"; String('A', 64) |]).Command with
    | RunDataFetch f -> Assert.Equal("IMDB-BINARY", f.Name); Assert.Equal(Some "http://localhost:1/x", f.Url); Assert.Equal(Some(String('a', 64)), f.Sha256)
    | other -> failwithf "unexpected %A" other
    Assert.Equal(RunDataList None, (Cli.parse [| "data"; "list" |]).Command)
    let usage argv = match (Cli.parse argv).Command with Usage(text, true) -> text | other -> failwithf "expected a usage error, got %A" other
    Assert.Contains("--url must be an http(s) URL", usage [| "data"; "fetch"; "MUTAG"; "--url"; "ftp://x" |])
    Assert.Contains("--sha256 must be 64 hexadecimal digits", usage [| "data"; "fetch"; "MUTAG"; "--sha256"; "abc" |])
    Assert.Contains("no valid subcommand", usage [| "data" |])

[<Fact>]
let ``the catalog, the host layouts and the published table describe the same dataset versions`` () =
    Assert.Equal<string list>([ "MUTAG"; "PTC_MR"; "PROTEINS"; "IMDB-BINARY"; "COLLAB"; "Cora"; "CiteSeer"; "PubMed"; "PPI"; "MNIST"; "ModelNet40" ], DatasetSources.names)
    for d in DatasetSources.all do
        Assert.Equal<string list>(d.Versions |> List.map (fun v -> v.Version), DatasetLayouts.Of d.Name |> Seq.map (fun l -> l.Version) |> List.ofSeq)
        for l in DatasetLayouts.Of d.Name do
            Assert.Equal(isNull (box l.Measure), (PublishedStats.tryFind d.Name l.Version).IsNone)
        for v in d.Versions do
            for f in v.Download |> Option.map (fun dl -> dl.Files) |> Option.defaultValue [] do
                f.Sha256 |> Option.iter (fun h -> Assert.Matches("^[0-9a-f]{64}$", h))
    Assert.Equal("MNIST", (DatasetSources.tryFind " mnist-POINTS").Value.Name)
    Assert.True((DatasetSources.tryFind "MNIST-pointz").IsNone)

[<Fact>]
let ``averages are compared at the published precision and class counts as a multiset`` () =
    let p = (PublishedStats.tryFind "MUTAG" "TU").Value
    let m: StatsCheck.Measured = { Items = 188; Nodes = 3371L; Edges = 3721L; Classes = 2; Features = 7; ClassCounts = [| 63; 125 |]; Split = [||] }
    Assert.Empty(StatsCheck.check p m)
    let bad = StatsCheck.check p { m with Nodes = 3372L; ClassCounts = [| 64; 124 |] }
    Assert.Equal("avg nodes: expected 17.93, found 17.94; class counts: expected [125, 63], found [124, 64]", StatsCheck.describeMismatches p bad)

// ---------------------------------------------------------------------------------------------------------------
// data fetch

[<Fact>]
let ``fetch from a local server with the right checksum unpacks the dataset atomically and it loads`` () =
    use dir = new TempDir()
    let zip = zipOf "MUTAG" (tuMutag 3)
    use server = new LocalServer(Map [ "/tu/MUTAG.zip", zip ])
    // the temporary folder a killed fetch of MUTAG left behind is removed
    Directory.CreateDirectory(Path.Combine(dir.Path, ".gcnkd-fetch-MUTAG-0123", "download")) |> ignore
    let code, text = fetch (fetchOptions "MUTAG" (Some(server.Url "/tu")) (Some(sha256 zip)) dir.Path)
    Assert.Equal(0, code)
    Assert.Contains("verified", text)
    Assert.Equal<string list>([ "/tu/MUTAG.zip" ], server.Requests)
    let ds = TuFormat.Load(DataRoot.At dir.Path, "MUTAG")
    Assert.Equal(3, ds.Graphs.Length)
    let source = File.ReadAllText(Path.Combine(dir.Path, "MUTAG", "SOURCE.md"))
    Assert.Contains(server.Url "/tu/MUTAG.zip", source)
    Assert.Contains(sha256 zip, source)
    Assert.Contains(DateTime.UtcNow.ToString "yyyy-MM-dd", source)
    Assert.Equal<string[]>([| Path.Combine(dir.Path, "MUTAG") |], Directory.GetFileSystemEntries dir.Path)
    // fetched again: already there, nothing requested
    Assert.Equal(0, fst (fetch (fetchOptions "MUTAG" (Some(server.Url "/tu")) None dir.Path)))
    Assert.Equal(1, server.Requests.Length)

[<Fact>]
let ``fetch without a recorded checksum prints the computed hash and says it is not verified`` () =
    use dir = new TempDir()
    let zip = zipOf "PPI" [ for s in [ "train"; "valid"; "test" ] do for f in [ "graph.json"; "feats.npy"; "labels.npy"; "graph_id.npy" ] -> sprintf "%s_%s" s f, "not read" ]
    use server = new LocalServer(Map [ "/ppi.zip", zip ])
    let code, text = fetch (fetchOptions "PPI" (Some(server.Url "")) None dir.Path)
    Assert.Equal(0, code)
    Assert.Contains(sprintf "sha256 %s: NOT verified" (sha256 zip), text)
    Assert.True(File.Exists(Path.Combine(dir.Path, "PPI", "test_graph_id.npy")))
    Assert.Contains("not verified", File.ReadAllText(Path.Combine(dir.Path, "PPI", "SOURCE.md")))

[<Fact>]
let ``a wrong checksum fails with a clear message, exit code 2, and leaves nothing in the data root`` () =
    use dir = new TempDir()
    let zip = zipOf "MUTAG" (tuMutag 3)
    use server = new LocalServer(Map [ "/MUTAG.zip", zip; "/ind.cora.x", "not Cora"B ])
    let wrong = String('0', 64)
    userError [ "checksum mismatch for " + server.Url "/MUTAG.zip"; "expected sha256 " + wrong; "got " + sha256 zip; "nothing was written to " + Path.Combine(dir.Path, "MUTAG") ]
        (fun () -> fetch (fetchOptions "MUTAG" (Some(server.Url "")) (Some wrong) dir.Path))
    Assert.Empty(Directory.GetFileSystemEntries dir.Path)
    // the recorded checksums (Cora's real files) reject a file that is not the official one
    userError [ "checksum mismatch for " + server.Url "/ind.cora.x"; "expected sha256 23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab" ]
        (fun () -> fetch (fetchOptions "Cora" (Some(server.Url "")) None dir.Path))
    Assert.Empty(Directory.GetFileSystemEntries dir.Path)
    let code, _, err = runMain [| "data"; "fetch"; "MUTAG"; "--url"; server.Url ""; "--sha256"; wrong; "--data"; dir.Path |]
    Assert.Equal(2, code)
    Assert.StartsWith("error: checksum mismatch", err)
    Assert.Empty(Directory.GetFileSystemEntries dir.Path)

[<Fact>]
let ``an unreachable server gives the offline message with the URL and the destination, exit code 2`` () =
    use dir = new TempDir()
    let url = sprintf "http://127.0.0.1:%d/tu" (freePort ())
    let msg = userErrorMessage [ "could not download " + url + "/MUTAG.zip"; "by hand"; "unzip it so that " + Path.Combine(dir.Path, "MUTAG") + " holds MUTAG_A.txt" ]
                (fun () -> fetch (fetchOptions "MUTAG" (Some url) None dir.Path))
    Assert.DoesNotContain("   at ", msg)
    Assert.Empty(Directory.GetFileSystemEntries dir.Path)
    let code, _, err = runMain [| "data"; "fetch"; "MUTAG"; "--url"; url; "--data"; dir.Path |]
    Assert.Equal(2, code)
    Assert.Contains("could not download " + url + "/MUTAG.zip", err)

[<Fact>]
let ``fetch into a partial folder downloads only the missing file and keeps the others`` () =
    use dir = new TempDir()
    let cora = Path.Combine(dir.Path, "Cora")
    writeFiles cora [ for part in [ "y"; "tx"; "ty"; "allx"; "ally"; "graph"; "test.index" ] -> "ind.cora." + part, "kept " + part ]
    let x = "fixture x"B
    use server = new LocalServer(Map [ "/ind.cora.x", x ])
    let code, _ = fetch (fetchOptions "Cora" (Some(server.Url "")) (Some(sha256 x)) dir.Path)
    Assert.Equal(0, code)
    Assert.Equal<string list>([ "/ind.cora.x" ], server.Requests)
    Assert.Equal<byte[]>(x, File.ReadAllBytes(Path.Combine(cora, "ind.cora.x")))
    Assert.Equal("kept graph", File.ReadAllText(Path.Combine(cora, "ind.cora.graph")))
    Assert.Equal(9, Directory.GetFiles(cora).Length) // 8 Planetoid files and SOURCE.md
    Assert.Equal<string[]>([| cora |], Directory.GetFileSystemEntries dir.Path)
