// GFKD from an F# script: teacher, fake graphs, student, in a dozen lines (the README's example).
// Run after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set:  dotnet fsi experiments/gfkd/quickstart.fsx
#r "../../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train

let data = GcnKd.Host.Data.GinFormat.Load(GcnKd.Host.Data.DataRoot.Resolve null, "MUTAG")
let train, test = GfkdRegistry.split data 0                       // GFKD's 70 / 30
let outcome, _ = GfkdRegistry.trainTeacher "GCN5_64" data 0 None train test (fun _ _ -> ())   // length by 5-fold CV inside the 70 %
let teacher = GfkdRegistry.teacherOf "GCN5_64" data outcome.Tensors
let realDensity = GfkdPriors.meanDensity (train |> Array.map (fun i -> data.Graphs.[i]))
let gfkd = GfkdMethod.Gfkd StructureEstimator.Arm
let log (l: FittingLog) = if l.Iteration % 500 = 0 then printfn "iteration %d: CE %.3f, density %.3f" l.Iteration l.CrossEntropy l.Density
let graphs, report =
    GfkdRegistry.transferGraphs gfkd (GfkdRegistry.defaultFitting realDensity) data train teacher
        (GfkdRegistry.nodeSource data train None) None 0 { FitControl.logOnly log with CheckpointEvery = 500 }
let student = GfkdRegistry.distil gfkd (FakeDistillConfig.released 0) "GCN3_32" data teacher graphs test ignore
printfn "teacher %.1f %%, student from %d fake graphs (density %.3f, real %.3f): %.1f %%"
    (100.0 * outcome.TestAccuracy) report.Graphs report.MeanDensity report.RealMeanDensity (100.0 * student.TestAccuracy)
