// GFKD probe on MUTAG (seed 0, one 70/30 split): a GCN5_64 teacher, then each named method (GfkdRegistry.methodNames)
// and a GCN3_32 student scored on the 30 %. Not the reproduction (that is `gcnkd reproduce gfkd`, issue 5).
// Run after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set and DOTNET_GCLOHThreshold=0x800000:
//   dotnet fsi experiments/gfkd/probe_mutag.fsx DENSITY_WEIGHT INIT_SHIFT BN_WEIGHT METHOD...
//   e.g. 0 0 0.01 randg gfkd-arm deepinvg kd-real   (the released settings; density target 0.14 = real MUTAG)
#load "probe_common.fsx"
open GcnKd
open GcnKd.Train
open Probe_common
let sw = System.Diagnostics.Stopwatch.StartNew()
let data = loadDataset "MUTAG"
let train, test = GfkdRegistry.split data 0
// the teacher protocol of this probe (2026-12-06): epoch chosen on a 10 % carve of the 70 %
let tr, va = Splits.carveValidation (Rng.create 104729) 0.1 (data.Graphs |> Array.map (fun g -> g.Label)) train
let o = Registry.trainGraph "GCN5_64" data 0 None None tr va test ignore
printfn "teacher test %.3f val %.3f (%.1fs)" o.TestAccuracy o.ValAccuracy sw.Elapsed.TotalSeconds
let teacher = GfkdRegistry.teacherOf "GCN5_64" data o.Tensors
let fit = { FittingConfig.released with DensityWeight = float32 (fsi.CommandLineArgs.[1]); TargetDensity = 0.14; InitShift = float32 (fsi.CommandLineArgs.[2]); BnWeight = float32 (fsi.CommandLineArgs.[3]) }
for name in fsi.CommandLineArgs.[4..] do
    sw.Restart()
    let m = GfkdRegistry.methodOfName name
    let graphs, rep = GfkdRegistry.transferGraphs m fit data train teacher (NodeCountSource.Range(10, 29)) None 0 (FitControl.logOnly ignore)
    let t1 = sw.Elapsed.TotalSeconds
    let r = GfkdRegistry.distil m (FakeDistillConfig.released 0) "GCN3_32" data teacher graphs test ignore
    printfn "%s: student %.3f | fake density %.3f (real %.3f) nodes %.1f (%.1f) | fit %A | gen %.1fs total %.1fs" name r.TestAccuracy rep.MeanDensity rep.RealMeanDensity rep.MeanNodes rep.RealMeanNodes (rep.LastFit |> Option.map (fun l -> l.Loss, l.CrossEntropy, l.BnPrior, l.TargetAccuracy)) t1 sw.Elapsed.TotalSeconds
