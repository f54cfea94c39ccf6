// The frozen teacher's batch-norm prior on each method's EXPORTED seed-0 graphs (one-hot features, mode structure),
// per batch norm, in the standardized form the fit minimises (no test data; the real 70 % is printed as a yardstick).
// Run after `dotnet build GcnKd.sln -c Release` and a MUTAG reproduction, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_export_bn.fsx RUNS   (RUNS = the reproduction's runs/gfkd folder)
#r "../../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train
let runs = fsi.CommandLineArgs.[1]
let data = GcnKd.Host.Data.GinFormat.Load(GcnKd.Host.Data.DataRoot.Resolve null, "MUTAG")
let train, _ = GfkdRegistry.split data 0
let perLayer (teacher: FrozenTeacher) (gs: GraphSample[]) =
    let b = GraphTrainer.prepare gs (Array.init gs.Length id)
    let _, inputs = teacher.Forward b.Batch b.Features
    List.map2 (fun x r -> (GfkdPriors.batchNormWith BnPriorForm.Standardized [ x ] [ r ]).Item0) inputs teacher.Running
    |> List.map (sprintf "%8.1f") |> String.concat " "
for t in [ "GCN5_64"; "GIN5_64" ] do
    let ck = GcnKd.Host.Checkpoints.CheckpointFile.Load(sprintf "%s/MUTAG-%s/student-real/teacher/model.safetensors" runs t)
    let teacher = GfkdRegistry.teacherOf t data (ck.Tensors |> Seq.map (fun struct (n, x) -> n, x) |> Array.ofSeq)
    printfn "%s %-17s: %s" t "real 70 %" (perLayer teacher (train |> Array.map (fun i -> data.Graphs.[i])))
    for m in [ "randg"; "deepinvg"; "gfkd-arm"; "gfkd-reinforce"; "gfkd-multinomial" ] do
        let f = sprintf "%s/MUTAG-%s/%s/seed-0/fake.txt" runs t m
        if System.IO.File.Exists f then
            let fake = (GcnKd.Host.Data.GinFormat.LoadFile(f, "fake", GcnKd.Host.Data.GinFeatures.Auto, Array.init data.NumFeatures id)).Graphs
            printfn "%s %-17s: %s" t m (perLayer teacher fake)
