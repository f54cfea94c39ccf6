// What the GFKD probes share: the built assemblies, MUTAG with its 70 / 30 split (seed 0, the 30 % never read
// here) and loading a GFKD-family checkpoint (a teacher, or a student) with its batch-norm state.
// `#load "probe_common.fsx"` after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set.
#r "../../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train

let loadDataset (name: string) = GcnKd.Host.Data.GinFormat.Load(GcnKd.Host.Data.DataRoot.Resolve null, name)

/// A checkpoint's named tensors.
let loadNamed (file: string) =
    GcnKd.Host.Checkpoints.CheckpointFile.Load(file).Tensors |> Seq.map (fun struct (n, x) -> n, x) |> Array.ofSeq

/// The frozen teacher of a GFKD reproduction block (RUNS/DATASET-MODEL/student-real/teacher).
let loadTeacher (runs: string) (dataset: string) (model: string) (data: GraphDataset) =
    GfkdRegistry.teacherOf model data (loadNamed (sprintf "%s/%s-%s/student-real/teacher/model.safetensors" runs dataset model))

/// MUTAG and the indices of its 70 % (GFKD's split, seed 0).
let mutagTrain () =
    let data = loadDataset "MUTAG"
    data, fst (GfkdRegistry.split data 0)

/// The share of the nodes carrying each one-hot feature (MUTAG: the 7 atom types), printed.
let featureShares (width: int) (gs: GraphSample[]) =
    let h = Array.zeroCreate<float> width
    let n = gs |> Array.sumBy (fun g -> g.Adj.Rows)
    for g in gs do
        for i in 0 .. g.Adj.Rows - 1 do
            for k in 0 .. width - 1 do h.[k] <- h.[k] + float g.Features.Data.[i * width + k]
    h |> Array.map (fun x -> sprintf "%.2f" (x / float n)) |> String.concat " "

/// Mean degree (stored entries per node).
let degree (gs: GraphSample[]) = gs |> Array.averageBy (fun g -> float (Csr.nnz g.Adj) / float g.Adj.Rows)
