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
    let opts = { ReproduceOptions.Table = "teachers"; Quick = true; Resume = false; Data = Some dataRoot.Value.Path; Out = dir.Path }
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

let private trainOptions dataset model out =
    { TrainOptions.Dataset = dataset; Model = model; Protocol = KFold 10; Seed = 0; Seeds = 1; Epochs = Some 1; Points = None; TrainSize = None; ValFraction = None; Dropout = None
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
    let opts = { ReproduceOptions.Table = "lsp"; Quick = true; Resume = false; Data = Some dataRoot.Value.Path; Out = dir.Path }
    let rows = ReproduceLsp.Execute(opts, TextWriter.Null)
    Assert.Equal(ReproduceLsp.Studies |> Array.sumBy (fun st -> st.Methods.Length), rows.Count)
    // PPI is not in the data root: its rows say so and carry the paper's number only
    let ran, notRun = rows |> List.ofSeq |> List.partition (fun r -> not (r.Command.StartsWith "not run"))
    Assert.All(notRun, fun r -> Assert.Equal("PPI", r.Dataset); Assert.Equal(0, r.N); Assert.True(Double.IsNaN r.Mean))
    Assert.Equal(Some 96.1, (notRun |> List.find (fun r -> r.Method = "lsp")).Published)
    Assert.Equal(3640748, notRun.Head.TeacherParams)
    Assert.Contains("PPI", notRun.Head.Command)
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
          Epochs = Some 1; Teacher = teacher; Points = None; TrainSize = None; Data = Some dataRoot.Value.Path; Out = dir.Path }
    userError [ "distill runs on the Planetoid node datasets"; "MUTAG" ] (fun () -> DistillCommand.Execute(opts "MUTAG" None, TextWriter.Null))
    userError [ "--method fitnet is not available on MNIST-points"; "none, kd or lsp" ]
        (fun () -> DistillCommand.Execute({ opts "MNIST-points" None with Method = "fitnet" }, TextWriter.Null))
    userError [ "--points and --train-size apply to MNIST-points, not Cora" ]
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
