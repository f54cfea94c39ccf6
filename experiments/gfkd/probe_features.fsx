// What the fake graphs look like next to the real ones (no test data read): the node-feature histogram (MUTAG's 7
// atom types) and the mean degree of each method's exported seed-0 graphs, how the frozen teacher classifies those
// exported graphs (agreement with their target labels, share predicted as class 1, mean largest probability of its
// soft labels at the students' temperature 2), and the teacher's batch-norm
// prior on them per batch norm (standardized, as the fit minimises it; the real 70 % as a yardstick).
// Run after `dotnet build GcnKd.sln -c Release` and a MUTAG reproduction, with GCNKD_DATA set:
//   dotnet fsi experiments/gfkd/probe_features.fsx RUNS   (RUNS = the reproduction's runs/gfkd folder)
#load "probe_common.fsx"
open GcnKd
open GcnKd.Train
open Probe_common
let runs = fsi.CommandLineArgs.[1]
let data, train = mutagTrain ()
let width = data.NumFeatures
let hist = featureShares width
let real = train |> Array.map (fun i -> data.Graphs.[i])
let perNorm (teacher: FrozenTeacher) (inputs: Tensor list) =
    List.map2 (fun x r -> sprintf "%.1f" (GfkdPriors.batchNormWith BnPriorForm.Standardized [ x ] [ r ]).Item0) inputs teacher.Running |> String.concat " "
printfn "%-8s %-17s %-34s %6s %8s %8s %8s" "teacher" "graphs" "atom-type shares" "degree" "agrees" "class 1" "p_max T2"
printfn "%-8s %-17s %-34s %6.2f" "" "real 70 %" (hist real) (degree real)
for t in [ "GCN5_64"; "GIN5_64" ] do
    let teacher = loadTeacher runs "MUTAG" t data
    let rb = GraphTrainer.prepare real (Array.init real.Length id)
    let _, realInputs = teacher.Forward rb.Batch rb.Features
    printfn "%-8s real 70 %%, batch-norm prior per norm: %s" t (perNorm teacher realInputs)
    for m in [ "randg"; "deepinvg"; "gfkd-arm"; "gfkd-reinforce"; "gfkd-multinomial" ] do
        let f = sprintf "%s/MUTAG-%s/%s/seed-0/fake.txt" runs t m
        if System.IO.File.Exists f then
            let fake = (GcnKd.Host.Data.GinFormat.LoadFile(f, "fake", GcnKd.Host.Data.GinFeatures.Auto, Array.init width id)).Graphs
            let b = GraphTrainer.prepare fake (Array.init fake.Length id)
            let logits, inputs = teacher.Forward b.Batch b.Features
            let pred = Array.init fake.Length (fun i -> if logits.Data.[2 * i] > logits.Data.[2 * i + 1] then 0 else 1)
            let agree = Array.map2 (fun p (g: GraphSample) -> if p = g.Label then 1.0 else 0.0) pred fake |> Array.average
            // the teacher's soft labels at the students' KD temperature (T = 2): their mean largest probability
            let v = GfkdRegistry.teacherOnGraphs 2.0f teacher fake
            printfn "%-8s %-17s %-34s %6.2f %8.2f %8.2f %8.3f" t m (hist fake) (degree fake) agree (pred |> Array.averageBy float) v.Confidence
            printfn "%-8s %-17s batch-norm prior per norm: %s" "" "" (perNorm teacher inputs)
