// Data-free diagnostics of a GFKD fit on MUTAG (seed 0 split, a teacher checkpoint): the fitting's own numbers only
// (teacher agreement with the fake graphs' targets, CE, BN prior, density), never a test score. Used to choose the
// batch-norm prior's form (experiments/gfkd/README.md).
// Run after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_bn.fsx TEACHER_MODEL TEACHER_CHECKPOINT FORM BN_WEIGHT [ITERATIONS]
//   FORM: raw | standardized
#r "../../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train
let args = fsi.CommandLineArgs
let model, ckpt, form, weight = args.[1], args.[2], args.[3], float32 args.[4]
let iterations = if args.Length > 5 then int args.[5] else 1500
let root = GcnKd.Host.Data.DataRoot.Resolve(null)
let data = GcnKd.Host.Data.GinFormat.Load(root, "MUTAG")
let train, _ = GfkdRegistry.split data 0
let named = GcnKd.Host.Checkpoints.CheckpointFile.Load(ckpt).Tensors |> Seq.map (fun (struct (n, t)) -> n, t) |> Array.ofSeq
let teacher = GfkdRegistry.teacherOf model data named
let real = train |> Array.map (fun i -> data.Graphs.[i])
let fit =
    { GfkdRegistry.defaultFitting (GfkdPriors.meanDensity real) with
        Iterations = iterations; BnWeight = weight
        BnForm = (if form = "raw" then BnPriorForm.Raw else BnPriorForm.Standardized) }
// the real training graphs' own prior value, for scale
let b = GraphTrainer.prepare data.Graphs train
let _, norms = teacher.Forward b.Batch b.Features
printfn "real 70%%: BN prior %.4f" (GfkdPriors.batchNormWith fit.BnForm norms teacher.Running).Item0
let log (l: FittingLog) = if l.Iteration % 300 = 0 || l.Iteration = iterations - 1 then printfn "%5d CE %.4f BN %.4f density %.3f agreement %.3f" l.Iteration l.CrossEntropy l.BnPrior l.Density l.TargetAccuracy
let _, rep = GfkdRegistry.transferGraphs (GfkdMethod.Gfkd StructureEstimator.Arm) fit data train teacher (GfkdRegistry.nodeSource data train None) None 0 (FitControl.logOnly log)
printfn "transfer density %.3f (real %.3f)" rep.MeanDensity rep.RealMeanDensity
