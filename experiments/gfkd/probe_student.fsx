// Why students distilled from fake graphs collapse (diagnostic; no test data read): each seed-0 student of a
// MUTAG reproduction, scored on the real 70 % (the teacher's training graphs, used here only as a yardstick) as it
// is (batch norms with the running statistics it gathered on fake graphs) and after recalibrating its batch norms on
// those real graphs (train-mode passes, weights frozen). If recalibration restores the accuracy, the student learnt
// the teacher's function and only its normalisation statistics are foreign.
// Run after `dotnet build GcnKd.sln -c Release` and a MUTAG reproduction, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_student.fsx RUNS   (RUNS = the reproduction's runs/gfkd folder)
#load "probe_common.fsx"
open GcnKd
open GcnKd.Train
open Probe_common
let runs = fsi.CommandLineArgs.[1]
let data, train = mutagTrain ()
let rb = GraphTrainer.prepare data.Graphs train
let load (model: string) (file: string) =
    let named = loadNamed file
    let cfg = GfkdRegistry.modelConfig model data
    let p, s = Registry.paramsAndState named
    cfg, Tree.ofNamed (GfkdFamily.init cfg (Rng.create 0)) p, Tree.ofNamed (GfkdFamily.initState cfg) s
let accuracy cfg p s =
    let r = GfkdFamily.run cfg p s ForwardContext.Eval (GfkdFamily.prepareBatch cfg rb.Batch) rb.Features
    Loss.accuracy r.Output.Logits rb.Labels, r.Output.Logits
let recalibrate cfg p s =
    let prepared = GfkdFamily.prepareBatch cfg rb.Batch
    Seq.fold (fun st k -> (GfkdFamily.run cfg p st (ForwardContext.Train(Rng.create k)) prepared rb.Features).State) s (seq { 1 .. 60 })
let share1 (logits: Tensor) = Array.init (logits.Shape.[0]) (fun i -> if logits.Data.[2 * i + 1] > logits.Data.[2 * i] then 1.0 else 0.0) |> Array.average
printfn "%-8s %-17s %-8s %10s %10s %10s" "teacher" "method" "student" "as is" "class 1" "recal."
for t in [ "GCN5_64"; "GIN5_64" ] do
    let tc, tp, ts = load t (sprintf "%s/MUTAG-%s/student-real/teacher/model.safetensors" runs t)
    let ta, tl = accuracy tc tp ts
    printfn "%-8s %-17s %-8s %10.3f %10.3f" t "(teacher)" "" ta (share1 tl)
    for m in [ "randg"; "deepinvg"; "gfkd-arm"; "gfkd-reinforce"; "gfkd-multinomial"; "kd-real" ] do
        for st in [ "GCN3_32"; "GIN3_32" ] do
            let f = sprintf "%s/MUTAG-%s/%s/seed-0/student-%s/model.safetensors" runs t m st
            if System.IO.File.Exists f then
                let c, p, s = load st f
                let a, l = accuracy c p s
                let a2, _ = accuracy c p (recalibrate c p s)
                printfn "%-8s %-17s %-8s %10.3f %10.3f %10.3f" t m st a (share1 l) a2
