// GcnKd from F#, step by step: a small LSP distillation on Cora. CI runs this script (`dotnet fsi
// experiments/explore.fsx`) after building, so it never rots. Run it the same way, with GCNKD_DATA (or ./data)
// holding Cora's Planetoid files. EPOCHS (default 60) shortens every training for a quick look; the paper's
// schedule is 1000 epochs with early stopping (omit the cap: `dotnet fsi experiments/explore.fsx 0`).
#r "../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train

let epochs = match fsi.CommandLineArgs |> Array.tryItem 1 |> Option.map int with Some 0 -> None | Some n -> Some n | None -> Some 60

// 1. The data: Planetoid's Cora, its fixed split (140 labelled nodes, 500 validation, 1000 test).
let data = GcnKd.Host.Data.Planetoid.Load(GcnKd.Host.Data.DataRoot.Resolve null, "Cora", true)
printfn "Cora: %d nodes, %d directed edges, %d features, %d classes; %d / %d / %d train / val / test nodes"
    data.Adj.Rows (Csr.nnz data.Adj) data.Features.Shape.[1] data.NumClasses data.Train.Length data.Val.Length data.Test.Length

// 2. The teacher: a GAT of 2 x (8 heads x 32), trained on the labelled nodes, its epoch chosen on validation.
let teacherRun, teacherParams = DistillRegistry.trainNodeTeacher data 0 epochs ignore
printfn "teacher: %d parameters, validation %.1f %%, test %.1f %%" teacherRun.ParamCount (100.0 * teacherRun.ValAccuracy) (100.0 * teacherRun.TestAccuracy)

// 3. What LSP matches: each node's distribution of similarities to its neighbours (softmax over the edges of
//    exp(-||z_i - z_j||^2 / 2)). Here node 0's, from the teacher's last hidden layer.
let teacher = DistillRegistry.teacherOutputs data teacherParams
let graph = Graph.removeSelfLoops data.Adj
let lsp = LocalStructure.distribution LspScore.defaultRbf graph (List.last teacher.Hidden)
let row0 = [ graph.RowPtr.[0] .. graph.RowPtr.[1] - 1 ]
printfn "node 0's neighbours %A, local structure %A" [ for e in row0 -> graph.ColIdx.[e] ] [ for e in row0 -> lsp.Data.[e] ]

// 4. The student (a GAT of 2 x (2 heads x 8), 18.6x smaller) alone, then with LSP against the teacher.
let student (m: DistillMethod) = fst (DistillRegistry.distillNode data teacher teacherRun.ParamCount m DistillRegistry.defaultOptions 0 epochs ignore)
let alone = student DistillMethod.StudentAlone
let withLsp = student (DistillMethod.Lsp LspScore.defaultRbf)
printfn "student: %d parameters; alone %.1f %%, with LSP %.1f %% (test, the epoch chosen on validation)"
    alone.ParamCount (100.0 * alone.TestAccuracy) (100.0 * withLsp.TestAccuracy)

// 5. One seed proves nothing: `gcnkd reproduce lsp` runs 10 seeds per method and writes experiments/results/lsp.md.
