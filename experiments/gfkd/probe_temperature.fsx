// Does a hotter KD temperature help students learn from an over-confident teacher's fake graphs? (diagnostic; the
// real 70 % is the yardstick, the 30 % is not read): students distilled from a reproduction's seed-0 transfer set at
// several temperatures, each scored on the real 70 %, with the teacher's soft-label confidence on the transfer set at
// that temperature.
// Run after `dotnet build GcnKd.sln -c Release` and a MUTAG reproduction, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_temperature.fsx RUNS TEACHER METHOD STUDENT T1 [T2 ...]
#load "probe_common.fsx"
open GcnKd
open GcnKd.Train
open Probe_common
let args = fsi.CommandLineArgs
let runs, teacherModel, methodName, student = args.[1], args.[2], args.[3], args.[4]
let data, train = mutagTrain ()
let teacher = loadTeacher runs "MUTAG" teacherModel data
let file = sprintf "%s/MUTAG-%s/%s/seed-0/fake.txt" runs teacherModel methodName
let fake = (GcnKd.Host.Data.GinFormat.LoadFile(file, "fake", GcnKd.Host.Data.GinFeatures.Auto, Array.init data.NumFeatures id)).Graphs
for t in args.[5..] |> Array.map float32 do
    let cfg = { FakeDistillConfig.released 0 with Temperature = t }
    let r = GfkdRegistry.distil (GfkdRegistry.methodOfName methodName) cfg student data teacher fake train ignore
    printfn "T %4.1f: teacher confidence %.3f, %s on the real 70 %%: %.3f" t (GfkdRegistry.teacherOnGraphs t teacher fake).Confidence student r.TestAccuracy
