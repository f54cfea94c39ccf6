/// The host's commands end to end on the real data: the smoke version of `gcnkd reproduce teachers` (what CI runs
/// on real data), and the user errors of `gcnkd train`.
module GcnKd.Tests.HostTests

open System
open System.IO
open System.Text.Json
open Xunit
open GcnKd
open GcnKd.Cli
open GcnKd.Host.Experiments
open GcnKd.Tests.TestData

[<Fact>]
let ``reproduce teachers --quick trains every row on the real data and writes both tables`` () =
    use dir = new TempDir()
    let opts = { ReproduceOptions.Table = "teachers"; Quick = true; Resume = false; Only = []; Data = Some dataRoot.Value.Path; Out = dir.Path }
    let rows = ReproduceCommand.Execute(opts, TextWriter.Null)
    Assert.Equal(ReproduceCommand.Teachers.Length, rows.Count)
    for r in rows do
        Assert.Equal(1, r.N)
        Assert.InRange(r.Mean, 0.0, 100.0)
        Assert.True(r.Params > 0)
    let md = File.ReadAllText(Path.Combine(dir.Path, "teachers-quick.md"))
    Assert.Contains("numbers are NOT results", md)
    use json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "teachers-quick.json")))
    Assert.Equal(rows.Count, json.RootElement.GetProperty("rows").GetArrayLength())
    // every run directory holds its checkpoint, epoch log and metrics
    for run in [ "Cora-gcn/seed-0"; "MUTAG-gin/seed-0-fold-1"; "PROTEINS-gin/fold-1"; "MNIST-points-dgcnn/seed-0" ] do
        let d = Path.Combine(dir.Path, "runs-quick", run)
        for f in [ "model.safetensors"; "epochs.csv"; "metrics.json" ] do
            Assert.True(File.Exists(Path.Combine(d, f)), sprintf "%s missing in %s" f d)
    Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp*", SearchOption.AllDirectories))

/// The quickstart's steps shortened to a few epochs and iterations (the real ones take minutes).
let private tinyQuickstart =
    { Train.Quickstart.defaults with
        TeacherEpochs = 2; StudentEpochs = 2; FitIterations = 3; FakeEpochs = 2; FineTuneEpochs = 2; SubsetSize = 40
        Genetic = { Train.Quickstart.defaults.Genetic with Population = 4; Generations = 2 } }

[<Fact>]
let ``quickstart runs every step on MUTAG and leaves the table, a loadable checkpoint per model and the GA's generations`` () =
    use dir = new TempDir()
    let out = Path.Combine(dir.Path, "qs")
    let r = QuickstartCommand.Execute({ QuickstartOptions.Dataset = "MUTAG"; Data = Some dataRoot.Value.Path; Out = out }, tinyQuickstart, TextWriter.Null)
    Assert.Equal<string list>([ "teacher"; "student alone"; "KD"; "LSP"; "GFKD"; "pruned KD student" ], r.Rows |> List.map (fun x -> x.Step))
    Assert.Equal((131, 57), (r.TrainGraphs, r.TestGraphs))
    use json = JsonDocument.Parse(File.ReadAllText(Path.Combine(out, "summary.json")))
    Assert.Equal(6, json.RootElement.GetProperty("rows").GetArrayLength())
    Assert.Contains("| pruned KD student |", File.ReadAllText(Path.Combine(out, "summary.md")))
    Assert.Equal(3, File.ReadAllLines(Path.Combine(out, "ga.csv")).Length)
    let report = File.ReadAllText(Path.Combine(out, "report.html"))
    for name in [ "teacher"; "kd"; "pruned" ] do Assert.Contains(sprintf "<h2>%s</h2>" name, report)
    Assert.Contains("done in", File.ReadAllText(Path.Combine(out, "log.txt")))
    Assert.Contains("\"ga_generations\": \"2\"", File.ReadAllText(Path.Combine(out, "config.json")))
    // each checkpoint holds its model's parameters (the pruned one fewer than the student's)
    let count name = GcnKd.Host.Checkpoints.CheckpointFile.Load(Path.Combine(out, name, "model.safetensors")).Tensors |> Seq.filter (fun struct (n: string, _) -> not (n.StartsWith "state.")) |> Seq.sumBy (fun struct (_, t: Tensor) -> t.Numel)
    for row, name in List.zip r.Rows [ "teacher"; "student"; "kd"; "lsp"; "gfkd"; "pruned" ] do
        Assert.Equal(row.Params, count name)
        Assert.InRange(row.Test, 0.0, 1.0)
        Assert.True(File.ReadAllLines(Path.Combine(out, name, "epochs.csv")).Length > 1, name)
    // a student's checkpoint scores again through eval, on the quickstart's split
    let _, _, scores = EvalCommand.Execute({ EvalOptions.Checkpoint = Path.Combine(out, "kd", "model.safetensors"); Dataset = None; Model = None; Parts = GfkdParts; ValFraction = None; Data = Some dataRoot.Value.Path }).ToTuple()
    Assert.Equal(r.Rows.[2].Test, (scores |> Seq.find (fun x -> x.Part = "test (30 %)")).Accuracy, 12)
    Assert.True(r.Rows.[5].Params <= r.Rows.[2].Params)
    Assert.Empty(Directory.GetFiles(out, "*.tmp*", SearchOption.AllDirectories))
    userErrorMessage [ "--dataset Cora"; "MUTAG" ] (fun () ->
        QuickstartCommand.Execute({ QuickstartOptions.Dataset = "Cora"; Data = Some dataRoot.Value.Path; Out = out }, tinyQuickstart, TextWriter.Null)) |> ignore

let private trainOptions dataset model out =
    { TrainOptions.Dataset = dataset; Model = model; Protocol = KFold 10; Seed = 0; Seeds = 1; Epochs = Some 1; Points = None; TrainSize = None; ValFraction = None; Dropout = None; Resume = false
      Data = Some dataRoot.Value.Path; Out = out }

[<Fact>]
let ``train names the known datasets and models when given unknown ones`` () =
    use dir = new TempDir()
    userError [ "unknown dataset 'Coraa'"; "Cora"; "MUTAG" ] (fun () -> TrainCommand.Execute(trainOptions "Coraa" "gcn" dir.Path, TextWriter.Null))
    userError [ "model 'gin' does not do node classification"; "gcn" ] (fun () -> TrainCommand.Execute(trainOptions "Cora" "gin" dir.Path, TextWriter.Null))
    userError [ "model 'gcn' does not do graph classification"; "GIN5_64" ] (fun () -> TrainCommand.Execute(trainOptions "MUTAG" "gcn" dir.Path, TextWriter.Null))
    Assert.Empty(Directory.GetFileSystemEntries dir.Path)

[<Fact>]
let ``a missing data root names the dataset folder and the files expected`` () =
    use dir = new TempDir()
    let o = { trainOptions "Cora" "gcn" (Path.Combine(dir.Path, "out")) with Data = Some (Path.Combine(dir.Path, "nowhere")) }
    userError [ "Cora"; "ind.cora.x" ] (fun () -> TrainCommand.Execute(o, TextWriter.Null))
    Assert.False(Directory.Exists(Path.Combine(dir.Path, "out")))

[<Fact>]
let ``reproduce lsp --quick runs every method on every dataset, reusing one teacher per dataset`` () =
    use dir = new TempDir()
    let opts = { ReproduceOptions.Table = "lsp"; Quick = true; Resume = false; Only = []; Data = Some dataRoot.Value.Path; Out = dir.Path }
    let rows = ReproduceLsp.Execute(opts, TextWriter.Null)
    Assert.Equal(ReproduceLsp.Studies |> Array.sumBy (fun st -> st.Methods.Length), rows.Count)
    // PPI is not in the data root: its rows say so and carry the paper's number only
    let ran, notRun = rows |> List.ofSeq |> List.partition (fun r -> not (r.Command.StartsWith "not run"))
    Assert.All(notRun, fun r -> Assert.Equal("PPI", r.Dataset); Assert.Equal(0, r.N); Assert.True(Double.IsNaN r.Mean))
    Assert.Equal(Some 96.1, (notRun |> List.find (fun r -> r.Method = "lsp")).Published)
    Assert.Equal(3640748, notRun.Head.TeacherParams)
    Assert.Contains("the PPI files are not in the data root (expected PPI/train_graph.json", notRun.Head.Command)
    Assert.DoesNotContain(dataRoot.Value.Path, notRun.Head.Command)
    for r in ran do
        Assert.Equal(1, r.N)
        Assert.True(r.TeacherParams > 3 * r.StudentParams, sprintf "teacher %d vs student %d parameters" r.TeacherParams r.StudentParams)
        Assert.InRange(r.Mean, 0.0, 100.0)
    // the teacher is trained once per dataset (by the student-alone row), every other row loads it
    for ds in ran |> List.map (fun r -> r.Dataset) |> List.distinct do
        let lspDir = Path.Combine(dir.Path, "runs-quick", ds + "-lsp")
        Assert.True(File.Exists(Path.Combine(lspDir, "none", "teacher", "model.safetensors")))
        Assert.False(Directory.Exists(Path.Combine(lspDir, "kd", "teacher")))
        let csv = File.ReadAllLines(Path.Combine(lspDir, "lsp-rbf-auto", "seed-0", "distill.csv"))
        Assert.Equal("epoch,distill_loss", csv.[0])
        Assert.True(float (csv.[1].Split(',').[1]) > 0.0, "the LSP term is positive at the first epoch")
    let teachers = ran |> Seq.groupBy (fun r -> r.Dataset) |> Seq.map (fun (_, rs) -> rs |> Seq.map (fun r -> r.TeacherMetric) |> Seq.distinct |> Seq.length)
    Assert.All(teachers, fun n -> Assert.Equal(1, n))
    use json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "lsp-quick.json")))
    Assert.Equal(rows.Count, json.RootElement.GetProperty("rows").GetArrayLength())
    // --resume keeps every finished row (nothing is trained again) and writes the same table
    let table = File.ReadAllText(Path.Combine(dir.Path, "lsp-quick.md"))
    let removed = Path.Combine(dir.Path, "runs-quick", "Cora-lsp", "kd", "metrics.json")
    File.Delete removed
    let log = new StringWriter()
    let again = ReproduceLsp.Execute({ opts with Resume = true }, log)
    Assert.Equal(rows.Count, again.Count)
    Assert.Contains("== Cora / none: kept from", log.ToString())
    Assert.Contains("== Cora / kd\n", log.ToString().Replace("\r", ""))
    Assert.True(File.Exists removed, "the unfinished row ran again")
    Assert.Equal(table, File.ReadAllText(Path.Combine(dir.Path, "lsp-quick.md")))

[<Fact>]
let ``distill refuses datasets it cannot run and teacher checkpoints that do not fit`` () =
    use dir = new TempDir()
    let opts dataset teacher =
        { DistillCliOptions.Dataset = dataset; Method = "lsp"; Kernel = "rbf"; Lambda = 1.0f; DistillEpochs = None; Seed = 0; Seeds = 1
          Epochs = Some 1; Teacher = teacher; Points = None; TrainSize = None; Resume = false; Data = Some dataRoot.Value.Path; Out = dir.Path }
    userError [ "distill runs on the Planetoid node datasets"; "MUTAG" ] (fun () -> DistillCommand.Execute(opts "MUTAG" None, TextWriter.Null))
    userError [ "--method fitnet is not available on MNIST-points"; "none, kd or lsp" ]
        (fun () -> DistillCommand.Execute({ opts "MNIST-points" None with Method = "fitnet" }, TextWriter.Null))
    userError [ "--points and --train-size apply to the point clouds (MNIST-points, ModelNet40), not Cora" ]
        (fun () -> DistillCommand.Execute({ opts "Cora" None with TrainSize = Some 100 }, TextWriter.Null))
    let bogus = Path.Combine(dir.Path, "bogus.safetensors")
    File.WriteAllText(bogus, "not a checkpoint")
    userError [ bogus; "safetensors" ] (fun () -> DistillCommand.Execute(opts "Cora" (Some bogus), TextWriter.Null))

[<Fact>]
let ``a run directory counts as finished only with a readable metrics.json for all its seeds`` () =
    use dir = new TempDir()
    let path = Path.Combine(dir.Path, "metrics.json")
    Assert.Null(DistillCommand.ReadFinished(dir.Path, 3))
    File.WriteAllText(path, "{ \"dataset\": \"Cora\", \"n\": ")
    Assert.Null(DistillCommand.ReadFinished(dir.Path, 3))
    File.WriteAllText(path, """{"dataset":"Cora","method":"kd","kernel":"-","metric":"accuracy","mean":0.8,"std":0.01,"n":3,"teacher_test_accuracy":0.82,"teacher_params":10,"student_params":2}""")
    Assert.Null(DistillCommand.ReadFinished(dir.Path, 10))
    let s = DistillCommand.ReadFinished(dir.Path, 3)
    Assert.Equal(("kd", 0.8, 0.82, 2), (s.Method, s.Mean, s.TeacherTest, s.StudentParams))

let private gfkdOptions dataset methodName out =
    { GfkdCliOptions.Dataset = dataset; Method = methodName; TeacherModel = "GCN5_64"; Students = [ "GCN3_32"; "GIN3_32" ]; Teacher = None
      Seed = 0; Seeds = 2; Iterations = Some 5; Epochs = Some 2; TeacherEpochs = Some 2; Nodes = None
      DensityWeight = None; BnWeight = None; BnPrior = None; BnCredit = None; InputWeight = None; Features = None; InitShift = None; Released = false; Resume = false; Data = Some dataRoot.Value.Path; Out = out }

[<Fact>]
let ``gfkd fits fake graphs on MUTAG, writes them loadable with their report, and a resumed run keeps and continues seeds`` () =
    use dir = new TempDir()
    let o = gfkdOptions "MUTAG" "gfkd-arm" dir.Path
    let s = GfkdCommand.Execute(o, TextWriter.Null)
    Assert.Equal<string list>([ "GCN3_32"; "GIN3_32" ], s.Students |> Seq.map (fun st -> st.Model) |> List.ofSeq)
    Assert.True(s.Students |> Seq.forall (fun st -> st.N = 2 && st.Test |> Array.forall (fun a -> a >= 0.0 && a <= 1.0)))
    Assert.Equal(0.140, s.RealDensity, 3)
    for f in [ "teacher/model.safetensors"; "config.json"; "metrics.json"; "seed-0/fit.safetensors"; "seed-1/fake.txt"; "seed-1/student-GIN3_32/model.safetensors" ] do
        Assert.True(File.Exists(Path.Combine(dir.Path, f)), f)
    Assert.Equal(6, File.ReadAllLines(Path.Combine(dir.Path, "seed-0", "fit.csv")).Length)
    // the exported fake graphs load back through the GIN loader, with the report's density and the data's feature width
    let data = DatasetCatalog.LoadGraph(dataRoot.Value, "MUTAG")
    let fake = GcnKd.Host.Data.GinFormat.LoadFile(Path.Combine(dir.Path, "seed-0", "fake.txt"), "fake", tagVocabulary = Array.init data.NumFeatures id)
    Assert.Equal((131, data.NumFeatures, data.NumClasses), (fake.Graphs.Length, fake.NumFeatures, fake.NumClasses))
    use report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "seed-0", "transfer.json")))
    Assert.Equal(report.RootElement.GetProperty("mean_density").GetDouble(), GfkdPriors.meanDensity fake.Graphs, 6)
    // resume: seed 0 is kept, seed 1 continues from its last fitting checkpoint and gives the same students
    File.Delete(Path.Combine(dir.Path, "seed-1", "metrics.json"))
    let log = new StringWriter()
    let again = GfkdCommand.Execute({ o with Resume = true }, log)
    Assert.Contains("teacher: loaded", log.ToString())
    Assert.Contains("seed 0: kept", log.ToString())
    Assert.Contains("seed 1: resuming generation at iteration 5", log.ToString())
    for a, b in Seq.zip s.Students again.Students do Assert.Equal<float[]>(a.Test, b.Test)
    // a checkpoint from another method's fake graphs is refused with the file's name
    File.Copy(Path.Combine(dir.Path, "seed-0", "fit.safetensors"), Path.Combine(dir.Path, "seed-1", "fit.safetensors"), true)
    File.Delete(Path.Combine(dir.Path, "seed-1", "metrics.json"))
    userError [ Path.Combine(dir.Path, "seed-1", "fit.safetensors"); "other fake graphs" ] (fun () -> GfkdCommand.Execute({ o with Resume = true }, TextWriter.Null))

[<Fact>]
let ``gfkd refuses node datasets and teacher checkpoints of another model`` () =
    use dir = new TempDir()
    userError [ "gfkd runs on the graph classification datasets"; "Cora" ] (fun () -> GfkdCommand.Execute(gfkdOptions "Cora" "randg" dir.Path, TextWriter.Null))
    let first = GfkdCommand.Execute({ gfkdOptions "MUTAG" "randg" (Path.Combine(dir.Path, "a")) with Seeds = 1; Students = [ "GCN3_32" ] }, TextWriter.Null)
    Assert.True(first.Students.[0].N = 1)
    let teacher = Path.Combine(dir.Path, "a", "teacher", "model.safetensors")
    userError [ teacher; "does not fit a GIN5_64 teacher on MUTAG" ]
        (fun () -> GfkdCommand.Execute({ gfkdOptions "MUTAG" "randg" (Path.Combine(dir.Path, "b")) with TeacherModel = "GIN5_64"; Teacher = Some teacher }, TextWriter.Null))

[<Fact>]
let ``reproduce gfkd --quick runs the chosen datasets with every method and lists the others as not run`` () =
    use dir = new TempDir()
    let opts = { ReproduceOptions.Table = "gfkd"; Quick = true; Resume = false; Only = [ "MUTAG"; "IMDB-B" ]; Data = Some dataRoot.Value.Path; Out = dir.Path }
    let rows = ReproduceGfkd.Execute(opts, TextWriter.Null) |> List.ofSeq
    Assert.Equal(4 * 2 * ReproduceGfkd.Methods.Length * 2, rows.Length)
    let ran, notRun = rows |> List.partition (fun r -> not (r.Command.StartsWith "not run"))
    Assert.Equal<Set<string>>(set [ "MUTAG"; "IMDB-BINARY" ], ran |> List.map (fun r -> r.Dataset) |> set)
    Assert.Equal<Set<string>>(set [ "PTC_MR"; "PROTEINS" ], notRun |> List.map (fun r -> r.Dataset) |> set)
    Assert.True(ran |> List.forall (fun r -> r.N = 1 && r.Mean >= 0.0 && r.Mean <= 100.0 && r.TransferDensity >= 0.0 && r.TransferDensity <= 1.0))
    // one teacher per dataset and teacher model, shared by its methods
    for (_, rs) in ran |> List.groupBy (fun r -> r.Dataset, r.Teacher) do
        Assert.Equal(1, rs |> List.map (fun r -> r.TeacherAccuracy) |> List.distinct |> List.length)
    // IMDB-BINARY's fake graphs carry the degree one-hot of their own structure
    let imdb = DatasetCatalog.LoadGraph(dataRoot.Value, "IMDB-BINARY")
    let vocabulary = (Train.GfkdRegistry.degreeVocabulary imdb).Value
    let fake = GcnKd.Host.Data.GinFormat.LoadFile(Path.Combine(dir.Path, "runs-quick", "gfkd", "IMDB-BINARY-GCN5_64", "deepinvg", "seed-0", "fake.txt"), "fake")
    Assert.True(fake.Graphs |> Array.forall (fun g -> g.Features.Shape.[1] > 0))
    Assert.True(fake.Graphs.Length > 0 && vocabulary.Length = imdb.NumFeatures)
    let md = File.ReadAllText(Path.Combine(dir.Path, "gfkd-quick.md"))
    Assert.Contains("numbers are NOT results", md)
    Assert.Contains("| MUTAG | GCN5_64", md)

let private evolveOptions out =
    { EvolveCliOptions.Model = "lenet"; Dataset = None; Fold = None; Seed = 0; Seeds = 2; Generations = Some 3; Population = Some 6; Subset = Some 200; Form = None
      Epochs = Some 1; FineTuneEpochs = Some 1; KdTemperature = None; Lsp = false; Teacher = None; TrainSize = Some 600; Resume = false
      Data = Some dataRoot.Value.Path; Out = out }

[<Fact>]
let ``evolve prunes LeNet on MNIST, writes reusable thin checkpoints, and a resumed run keeps finished seeds`` () =
    use dir = new TempDir()
    let o = evolveOptions dir.Path
    let s = EvolveCommand.Execute(o, TextWriter.Null)
    Assert.Equal((431080L, 2293000L), (s.FullParams, s.FullMults))
    let ga = s.Methods |> Seq.find (fun m -> m.Method = "ga")
    // the baselines are compared at the GA's size
    for m in s.Methods do
        Assert.Equal<int[]>(ga.Counts, m.Counts)
        Assert.Equal(2, m.N)
        Assert.InRange(m.TestAfter, 0.0, 1.0)
    let thinCfg = GcnKd.Evolution.LeNetPruning.resize LeNet.config ga.Counts
    Assert.Equal((GcnKd.Evolution.ModelCost.lenet thinCfg).Params, ga.Params)
    for f in [ "full/model.safetensors"; "full/epochs.csv"; "config.json"; "metrics.json"; "seed-0/ga.csv"; "seed-0/ga.svg"; "seed-0/mask.txt"
               "seed-1/l1/model.safetensors"; "seed-1/random/epochs.csv"; "seed-0/ga/metrics.json" ] do
        Assert.True(File.Exists(Path.Combine(dir.Path, f)), f)
    Assert.Equal(4, File.ReadAllLines(Path.Combine(dir.Path, "seed-0", "ga.csv")).Length)
    Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(dir.Path, "seed-0", "ga.svg")))
    Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp*", SearchOption.AllDirectories))
    // the thin checkpoint loads into a LeNet of the kept widths and scores what the run reported
    let struct (thin, meta) = GcnKd.Host.Checkpoints.CheckpointFile.LoadTree(Path.Combine(dir.Path, "seed-0", "ga", "model.safetensors"), LeNet.init thinCfg (Rng.create 0))
    Assert.Equal(String.Join(",", ga.Counts), meta.["kept"])
    let settings = LeNetModel.Settings o
    let struct (set, _, _, test) = LeNetModel.LoadMnist(dataRoot.Value, settings, Nullable 600)
    let _, acc = GcnKd.Train.ImageTrainer.evaluate (GcnKd.Train.LeNetEvolution.forward thinCfg) thin 1000 set test
    use m0 = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "seed-0", "ga", "metrics.json")))
    Assert.Equal(m0.RootElement.GetProperty("test_after").GetDouble(), acc, 9)
    // resume keeps the full network and seed 0, reruns seed 1 to the same numbers
    File.Delete(Path.Combine(dir.Path, "seed-1", "metrics.json"))
    let log = new StringWriter()
    let again = EvolveCommand.Execute({ o with Resume = true }, log)
    Assert.Contains("full LeNet from", log.ToString())
    Assert.Contains("seed 0: finished earlier, kept", log.ToString())
    for a, b in Seq.zip s.Methods again.Methods do Assert.Equal((a.TestAfter, a.TestAfterStd), (b.TestAfter, b.TestAfterStd))

[<Fact>]
let ``evolve refuses a full-network checkpoint of another model, naming the file`` () =
    use dir = new TempDir()
    let bad = Path.Combine(dir.Path, "other.safetensors")
    GcnKd.Host.Checkpoints.CheckpointFile.SaveTree(bad, LeNet.init { LeNet.config with Fc1 = 10 } (Rng.create 0))
    userError [ bad; "does not fit the model"; "Fc1.W" ] (fun () -> EvolveCommand.Execute({ evolveOptions (Path.Combine(dir.Path, "run")) with Teacher = Some bad }, TextWriter.Null))
    let junk = Path.Combine(dir.Path, "junk.safetensors")
    File.WriteAllText(junk, "not a checkpoint")
    userError [ junk; "not a valid safetensors file" ] (fun () -> EvolveCommand.Execute({ evolveOptions (Path.Combine(dir.Path, "run2")) with Teacher = Some junk }, TextWriter.Null))

[<Fact>]
let ``reproduce evolution --quick writes the table with each network's full, GA and baseline rows, and the GA plots`` () =
    use dir = new TempDir()
    let opts = { ReproduceOptions.Table = "evolution"; Quick = true; Resume = false; Only = []; Data = Some dataRoot.Value.Path; Out = dir.Path }
    let rows = ReproduceEvolution.Execute(opts, TextWriter.Null)
    Assert.Equal<string list>(List.replicate 3 [ "full"; "ga"; "l1"; "random" ] |> List.concat, rows |> Seq.map (fun r -> r.Method) |> List.ofSeq)
    Assert.Equal<string list>([ "LeNet-5"; "GIN5_64"; "GAT 8x8" ], rows |> Seq.map (fun r -> r.Model) |> Seq.distinct |> List.ofSeq)
    Assert.True(rows |> Seq.forall (fun r -> r.Params > 0L && r.Mean >= 0.0 && r.Mean <= 100.0))
    Assert.Equal(431080L, rows.[0].Params)
    Assert.Equal(92373L, rows.[8].Params)
    let md = File.ReadAllText(Path.Combine(dir.Path, "evolution-quick.md"))
    Assert.Contains("numbers are NOT results", md)
    Assert.Contains("conv1 20/20, conv2 50/50, fc1 500/500", md)
    for run in [ "lenet-mnist"; "gin-proteins"; "gat-cora" ] do
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(dir.Path, sprintf "evolution-quick-%s-ga.svg" run)))
    use json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "evolution-quick.json")))
    Assert.Equal(12, json.RootElement.GetProperty("rows").GetArrayLength())

[<Fact>]
let ``evolve --model gin prunes GIN5_64's channels on a standard fold, keeping thin checkpoints with their statistics`` () =
    use dir = new TempDir()
    let o = { evolveOptions dir.Path with Model = "gin"; Dataset = Some "MUTAG"; Fold = Some 2; Seeds = 1; Subset = Some 40; Epochs = Some 2; FineTuneEpochs = Some 2; TrainSize = None }
    let s = EvolveCommand.Execute(o, TextWriter.Null)
    let cfg = GcnKd.Train.GinEvolution.config (DatasetCatalog.LoadGraph(dataRoot.Value, "MUTAG"))
    let ga = s.Methods |> Seq.find (fun m -> m.Method = "ga")
    Assert.Equal(8, ga.Counts.Length)
    for m in s.Methods do Assert.Equal<int[]>(ga.Counts, m.Counts)
    let thinCfg = GcnKd.Evolution.GinPruning.resize cfg ga.Counts
    let template = Gin.init thinCfg (Rng.create 0), Gin.initState thinCfg
    let struct (thin, meta) = GcnKd.Host.Checkpoints.CheckpointFile.LoadTree(Path.Combine(dir.Path, "seed-0", "ga", "model.safetensors"), template)
    Assert.Equal(String.Join(",", ga.Counts), meta.["kept"])
    Assert.Equal(int ga.Params, Tree.count (fst thin))
    use config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "config.json")))
    Assert.Equal("GIN5_64", config.RootElement.GetProperty("model").GetString())
    userError [ "evolve --model gin runs on the graph classification datasets"; "Cora" ]
        (fun () -> EvolveCommand.Execute({ o with Dataset = Some "Cora"; Out = Path.Combine(dir.Path, "x") }, TextWriter.Null))

[<Fact>]
let ``evolve --model gat prunes heads and channels of the Cora GAT, fine-tuning with LSP`` () =
    use dir = new TempDir()
    let o = { evolveOptions dir.Path with Model = "gat"; Seeds = 1; Epochs = Some 5; FineTuneEpochs = Some 3; Lsp = true; TrainSize = None; Subset = None }
    let s = EvolveCommand.Execute(o, TextWriter.Null)
    let ga = s.Methods |> Seq.find (fun m -> m.Method = "ga")
    Assert.Equal(2, ga.Counts.Length)
    for m in s.Methods do Assert.Equal<int[]>(ga.Counts, m.Counts)
    let data = DatasetCatalog.LoadNode(dataRoot.Value, "Cora")
    let thinCfg = GcnKd.Evolution.GatPruning.resize (GcnKd.Train.GatEvolution.config data) ga.Counts
    let struct (thin, _) = GcnKd.Host.Checkpoints.CheckpointFile.LoadTree(Path.Combine(dir.Path, "seed-0", "ga", "model.safetensors"), Gat.init thinCfg (Rng.create 0))
    Assert.Equal(int ga.Params, Tree.count thin)
    Assert.Equal(92373L, s.FullParams)
    userError [ "evolve --model gat runs on Cora or CiteSeer"; "MUTAG" ]
        (fun () -> EvolveCommand.Execute({ o with Dataset = Some "MUTAG"; Out = Path.Combine(dir.Path, "x") }, TextWriter.Null))
