// Data-free diagnostics of a GFKD fit on MUTAG (seed 0 split, a teacher checkpoint): the fitting's own numbers only
// (teacher agreement with the fake graphs' targets, CE, BN prior, density), never a test score. Used to choose the
// batch-norm prior's form (experiments/gfkd/README.md).
// Run after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_bn.fsx TEACHER_MODEL TEACHER_CHECKPOINT [key=value ...]
//   keys (defaults: GcnKd's fitting defaults, GfkdRegistry.defaultFitting): form=raw|standardized, bn=WEIGHT,
//   iterations=N, features=softmax|straight-through, method=gfkd-arm (any data-free method of `gcnkd gfkd`),
//   credit=batch|per-graph, input=WEIGHT (the input-share prior's), dataset=MUTAG, seed=0 (the fake graphs' seed), feature-lr=LR, structure-lr=LR, density=WEIGHT,
//   students=GCN3_32,GIN3_32 (distil them from the exported graphs and score them on the real 70 %, a yardstick)
#load "probe_common.fsx"
open GcnKd
open GcnKd.Train
open Probe_common
let args = fsi.CommandLineArgs
let model, ckpt = args.[1], args.[2]
let options = args.[3..] |> Array.map (fun a -> match a.Split('=', 2) with [| k; v |] -> k, v | _ -> failwithf "expected key=value, got '%s'" a) |> Map.ofArray
let get key fallback parse = match options.TryFind key with Some v -> parse v | None -> fallback
let dataset = get "dataset" "MUTAG" id
let seed = get "seed" 0 int
let methodName = get "method" "gfkd-arm" id
let data = loadDataset dataset
let train, _ = GfkdRegistry.split data 0
let named = loadNamed ckpt
let teacher = GfkdRegistry.teacherOf model data named
let real = train |> Array.map (fun i -> data.Graphs.[i])
let fit =
    let d = GfkdRegistry.defaultFitting (GfkdPriors.meanDensity real)
    { d with
        Iterations = get "iterations" d.Iterations int
        BnWeight = get "bn" d.BnWeight float32
        BnForm = get "form" d.BnForm (function "raw" -> BnPriorForm.Raw | _ -> BnPriorForm.Standardized)
        Features = get "features" d.Features (function "straight-through" -> FeatureRelaxation.StraightThrough | _ -> FeatureRelaxation.Softmax)
        BnCredit = get "credit" d.BnCredit (function "per-graph" -> BnCredit.PerGraph | _ -> BnCredit.Batch)
        InputWeight = get "input" d.InputWeight float32
        FeatureLr = get "feature-lr" d.FeatureLr float32
        StructureLr = get "structure-lr" d.StructureLr float32
        DensityWeight = get "density" d.DensityWeight float32 }
let iterations = fit.Iterations
// the real training graphs' own prior value, for scale
let b = GraphTrainer.prepare data.Graphs train
let _, norms = teacher.Forward b.Batch b.Features
printfn "real 70%%: BN prior %.4f" (GfkdPriors.batchNormWith fit.BnForm norms teacher.Running).Item0
let log (l: FittingLog) = if l.Iteration % 300 = 0 || l.Iteration = iterations - 1 then printfn "%5d CE %.4f BN %.4f density %.3f agreement %.3f" l.Iteration l.CrossEntropy l.BnPrior l.Density l.TargetAccuracy
let vocabulary = GfkdRegistry.degreeVocabulary data
let m = GfkdRegistry.methodOfName methodName
let graphs, rep = GfkdRegistry.transferGraphs m fit data train teacher (GfkdRegistry.nodeSource data train None) vocabulary seed (FitControl.logOnly log)
printfn "feature shares: exported %s; the teacher implies %s; real 70 %% %s" (featureShares data.NumFeatures graphs)
    (teacher.ImpliedShares |> Array.map (sprintf "%.2f") |> String.concat " ") (featureShares data.NumFeatures real)
printfn "transfer density %.3f (real %.3f); as exported: BN prior %.1f, teacher agreement %.3f, soft-label confidence %.3f" rep.MeanDensity rep.RealMeanDensity rep.ExportedBnPrior rep.ExportedAgreement rep.ExportedConfidence
// students=GCN3_32,GIN3_32: distil each from the exported graphs (the released student settings) and score it on
// the real 70 % (a yardstick for diagnosis, never the 30 %)
for student in get "students" [||] (fun v -> v.Split(',')) do
    let r = GfkdRegistry.distil m (FakeDistillConfig.released seed) student data teacher graphs train ignore
    printfn "%s distilled from these graphs, on the real 70 %%: %.3f" student r.TestAccuracy
