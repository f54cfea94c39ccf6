/// The host's commands end to end on the real data: the smoke version of `gcnkd reproduce teachers` (what CI runs
/// on real data), and the user errors of `gcnkd train`.
module GcnKd.Tests.HostTests

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
    let opts = { ReproduceOptions.Table = "teachers"; Quick = true; Data = Some dataRoot.Value.Path; Out = dir.Path }
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
