/// `gcnkd eval`: a checkpoint written by `train` scores exactly what its run reported on the same parts, and every
/// mismatch between checkpoint, model and dataset is one user error.
module GcnKd.Tests.EvalTests

open System
open System.IO
open System.Text.Json
open Xunit
open GcnKd
open GcnKd.Cli
open GcnKd.Host.Experiments
open GcnKd.Tests.TestData

let private train dataset model protocol out =
    let o = { TrainOptions.Dataset = dataset; Model = model; Protocol = protocol; Seed = 0; Seeds = 1; Epochs = Some 3; Points = None; TrainSize = None
              ValFraction = None; Dropout = None; Resume = false; Data = Some dataRoot.Value.Path; Out = out }
    TrainCommand.Execute(o, TextWriter.Null, 1) |> ignore

let private metric (file: string) (name: string) =
    use doc = JsonDocument.Parse(File.ReadAllText file)
    doc.RootElement.GetProperty(name).GetDouble()

let private eval checkpoint dataset model parts =
    { EvalOptions.Checkpoint = checkpoint; Dataset = dataset; Model = model; Parts = parts; ValFraction = None; Data = Some dataRoot.Value.Path }

let private part (name: string) (scores: Train.PartScore seq) = scores |> Seq.find (fun s -> s.Part = name)

[<Fact>]
let ``eval of a train checkpoint reproduces the run's validation and test accuracy, graph and node datasets`` () =
    use dir = new TempDir()
    // MUTAG, GIN on the standard fold 1
    let g = Path.Combine(dir.Path, "gin")
    train "MUTAG" "gin" (KFold 10) g
    let ckpt = Path.Combine(g, "fold-1", "model.safetensors")
    let model, dataset, scores = EvalCommand.Execute(eval ckpt None None (StandardFold 1)).ToTuple()
    Assert.Equal(("gin", "MUTAG"), (model, dataset))
    let m = Path.Combine(g, "fold-1", "metrics.json")
    Assert.Equal(metric m "test_accuracy", (part "test" scores).Accuracy, 12)
    Assert.Equal(metric m "val_accuracy", (part "validation" scores).Accuracy, 12)
    Assert.Equal(188, scores |> Seq.sumBy (fun s -> s.Items))
    let _, _, all = EvalCommand.Execute(eval ckpt None None AllGraphs).ToTuple()
    Assert.Equal(188, (part "all" all).Items)
    // Cora, GCN on the Planetoid split
    let c = Path.Combine(dir.Path, "gcn")
    train "Cora" "gcn" (KFold 10) c
    let _, _, node = EvalCommand.Execute(eval (Path.Combine(c, "seed-0", "model.safetensors")) None None AllGraphs).ToTuple()
    Assert.Equal(metric (Path.Combine(c, "seed-0", "metrics.json")) "test_accuracy", (part "test" node).Accuracy, 12)
    Assert.Equal<string list>([ "train"; "validation"; "test" ], node |> Seq.map (fun s -> s.Part) |> List.ofSeq)

[<Fact>]
let ``eval names the tensor, the model and the dataset when a checkpoint does not fit`` () =
    use dir = new TempDir()
    let c = Path.Combine(dir.Path, "gcn")
    train "Cora" "gcn" (KFold 10) c
    let ckpt = Path.Combine(c, "seed-0", "model.safetensors")
    // another model: its parameters are missing
    userError [ ckpt; "sage"; "is missing" ] (fun () -> EvalCommand.Execute(eval ckpt None (Some "sage") AllGraphs))
    // another dataset: the input layer's shape differs
    userError [ ckpt; "CiteSeer"; "expected shape" ] (fun () -> EvalCommand.Execute(eval ckpt (Some "CiteSeer") None AllGraphs))
    // graph parts on a node dataset, unknown models, corrupt files
    userError [ "--fold"; "Cora" ] (fun () -> EvalCommand.Execute(eval ckpt None None (StandardFold 2)))
    userError [ "unknown node model 'gin'" ] (fun () -> EvalCommand.Execute(eval ckpt None (Some "gin") AllGraphs))
    let bad = Path.Combine(dir.Path, "bad.safetensors")
    File.WriteAllBytes(bad, [| 1uy; 2uy; 3uy |])
    userError [ bad ] (fun () -> EvalCommand.Execute(eval bad None None AllGraphs))
    // a checkpoint without metadata needs --model and --dataset
    let plain = Path.Combine(dir.Path, "plain.safetensors")
    GcnKd.Host.Checkpoints.CheckpointFile.Save(plain, [ ("W", Tensor.zeros [| 2; 2 |]) ])
    userError [ "--model" ] (fun () -> EvalCommand.Execute(eval plain None None AllGraphs))
    userError [ "parameter 'Layers.0.GcnBlock.Conv.W' is missing" ] (fun () -> EvalCommand.Execute(eval plain (Some "MUTAG") (Some "GCN3_32") AllGraphs))
    // a tensor the model does not have
    let extra = Path.Combine(dir.Path, "extra.safetensors")
    let loaded = GcnKd.Host.Checkpoints.CheckpointFile.Load ckpt
    GcnKd.Host.Checkpoints.CheckpointFile.Save(extra, Seq.append (loaded.Tensors |> Seq.map (fun struct (n, t) -> (n, t))) [ ("Extra.W", Tensor.zeros [| 1 |]) ], Collections.Generic.Dictionary(loaded.Metadata))
    userError [ "'Extra.W' of the checkpoint is not part of a gcn on Cora" ] (fun () -> EvalCommand.Execute(eval extra None None AllGraphs))

[<Fact>]
let ``eval options parse, their contradictions refused`` () =
    match (Cli.parse [| "eval"; "--checkpoint"; "m.safetensors"; "--split"; "70/30"; "--split-seed"; "3" |]).Command with
    | RunEval e -> Assert.Equal(HoldOutParts(0.7, 3), e.Parts)
    | c -> failwithf "unexpected %A" c
    match (Cli.parse [| "eval"; "--checkpoint"; "m.safetensors"; "--gfkd-split"; "--model"; "GCN5_64" |]).Command with
    | RunEval e -> Assert.Equal((GfkdParts, Some "GCN5_64"), (e.Parts, e.Model))
    | c -> failwithf "unexpected %A" c
    for argv in [ [| "eval"; "--checkpoint"; "m"; "--fold"; "11" |]; [| "eval"; "--checkpoint"; "m"; "--fold"; "1"; "--gfkd-split" |]
                  [| "eval"; "--checkpoint"; "m"; "--split-seed"; "1" |]; [| "eval" |] ] do
        match (Cli.parse argv).Command with
        | Usage(_, true) -> ()
        | c -> failwithf "expected a usage error for %A, got %A" argv c
