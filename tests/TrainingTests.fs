/// Trainers and the train command: selection reads validation only (the returned epoch maximises the validation
/// metric), the test part is read once, after the last epoch; end-to-end runs of `gcnkd train` on MUTAG, a PPI
/// fixture and tiny point clouds write complete run directories.
module GcnKd.Tests.TrainingTests

open System
open System.IO
open System.Text.Json
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Train
open GcnKd.Evolution
open GcnKd.Host.Errors
open GcnKd.Host.Experiments
open GcnKd.Tests.TestData
open GcnKd.Cli

// ---------------------------------------------------------------------------------------------------------------
// Selection on a synthetic log

let private logOf (metrics: (int * int)[]) =
    metrics |> Array.mapi (fun e (m, l) ->
        { Epoch = e; Lr = 0.01; TrainLoss = 0.0; TrainMetric = 0.0; ValLoss = float l / 4.0; ValMetric = float m / 4.0 })

[<Fact>]
let ``Selection: the chosen epoch has the best validation metric, ties to the lower loss, then the earlier epoch`` () =
    // few distinct values so ties happen often
    let gen = Gen.arrayOf (Gen.zip (Gen.choose (0, 3)) (Gen.choose (0, 3))) |> Gen.filter (fun a -> a.Length > 0)
    Props.forAll gen (fun raw ->
        let log = logOf raw
        let sel = log |> Array.fold (fun s e -> Selection.offer e (fun () -> e.Epoch) s) Selection.empty
        let expected = log |> Array.sortBy (fun e -> -e.ValMetric, e.ValLoss, e.Epoch) |> Array.head
        sel.BestEpoch = expected.Epoch && sel.Best = Some expected.Epoch && sel.BestMetric = expected.ValMetric)

[<Fact>]
let ``Selection by validation loss: the chosen epoch has the lowest loss, ties to the better metric, then the earlier epoch`` () =
    let gen = Gen.arrayOf (Gen.zip (Gen.choose (0, 3)) (Gen.choose (0, 3))) |> Gen.filter (fun a -> a.Length > 0)
    Props.forAll gen (fun raw ->
        let log = logOf raw
        let sel = log |> Array.fold (fun s e -> Selection.offerBy ValidationLoss e (fun () -> e.Epoch) s) Selection.empty
        let expected = log |> Array.sortBy (fun e -> e.ValLoss, -e.ValMetric, e.Epoch) |> Array.head
        sel.BestEpoch = expected.Epoch && sel.Best = Some expected.Epoch && sel.BestLoss = expected.ValLoss)

[<Fact>]
let ``CvEpochs: the chosen epoch maximises the folds' mean validation accuracy (ties: lower mean loss, then earlier), over the epochs every fold reached`` () =
    let fold = Gen.arrayOf (Gen.zip (Gen.choose (0, 3)) (Gen.choose (0, 3))) |> Gen.filter (fun a -> a.Length > 0)
    let gen = Gen.choose (1, 4) |> Gen.bind (fun k -> Gen.arrayOfLength k fold)
    Props.forAll gen (fun raws ->
        let logs = raws |> Array.map logOf
        let n = logs |> Array.map Array.length |> Array.min
        let c = CvEpochs.choose ValidationMetric logs
        // brute force over the truncated epochs, in quarters (exact integer sums, so ties are exact)
        let sums e = raws |> Array.sumBy (fun r -> fst r.[e]), raws |> Array.sumBy (fun r -> snd r.[e])
        let expected = [| 0 .. n - 1 |] |> Array.sortBy (fun e -> let m, l = sums e in -m, l, e) |> Array.head
        let m, l = sums expected
        c.Epoch = expected && c.Folds = logs.Length && abs (c.MeanValMetric - float m / 4.0 / float logs.Length) < 1e-12
        && abs (c.MeanValLoss - float l / 4.0 / float logs.Length) < 1e-12)

[<Fact>]
let ``CvEpochs refuses logs without validation numbers or with misnumbered epochs`` () =
    let noVal = [| [| { Epoch = 0; Lr = 0.01; TrainLoss = 0.0; TrainMetric = 0.0; ValLoss = nan; ValMetric = nan } |] |]
    Assert.Throws<ArgumentException>(fun () -> CvEpochs.choose ValidationMetric noVal |> ignore) |> ignore
    let shifted = [| logOf [| 1, 1; 2, 2 |]; logOf [| 1, 1; 2, 2 |] |> Array.map (fun e -> { e with Epoch = e.Epoch + 1 }) |]
    Assert.Throws<ArgumentException>(fun () -> CvEpochs.choose ValidationMetric shifted |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> CvEpochs.meanLog [||] |> ignore) |> ignore

[<Fact>]
let ``Selection: snapshots are taken only for new bests and early stopping counts epochs since the best`` () =
    let log = logOf [| 1, 0; 2, 0; 2, 1; 1, 0; 0, 0 |]
    let mutable snaps = 0
    let sel = log |> Array.fold (fun s e -> Selection.offer e (fun () -> snaps <- snaps + 1; e.Epoch) s) Selection.empty
    Assert.Equal(2, snaps)
    Assert.Equal(1, sel.BestEpoch)
    Assert.Equal(3, sel.SinceBest)
    Assert.True(Selection.shouldStop 3 sel)
    Assert.False(Selection.shouldStop 4 sel)
    Assert.False(Selection.shouldStop 0 sel)

// ---------------------------------------------------------------------------------------------------------------
// Tiny synthetic data

/// Graphs whose class is visible in their features (class c: feature c is 1 on every node), random edges.
let private tinyGraphs (seed: int) (count: int) =
    let r = Rng.create seed
    Array.init count (fun g ->
        let n = 3 + Rng.intAt r (int64 g) 4
        let label = g % 2
        let src = Array.init (n - 1) id
        let dst = Array.init (n - 1) (fun i -> i + 1)
        let adj = Csr.ofCoo n n (Array.append src dst) (Array.append dst src) None
        let x = Array.init (n * 3) (fun k -> if k % 3 = label then 1.0f else Rng.uniformAt r (int64 (1000 * g + k)))
        { Adj = adj; Features = Tensor.ofArray [| n; 3 |] x; Label = label })

let private tinyGin =
    { GinConfig.InFeatures = 3; Width = 8; NumLayers = 3; NumClasses = 2; MlpLayers = 2; Eps = FixedEps 0.0f; FinalDropout = 0.5f
      Pooling = SumPool; Norm = NormSettings.torch; LayerWidths = None }

let private ginSpec =
    { GraphSpec.Init = Gin.init tinyGin; InitState = (fun () -> Gin.initState tinyGin)
      Forward = fun p s ctx b x -> Gin.forward tinyGin p s ctx b x }

let private graphCfg epochs seed =
    { Epochs = epochs; BatchSize = 4; EvalBatchSize = 3; Lr = 0.01f; WeightDecay = 0.0f; Schedule = Constant; Patience = 0; SelectBy = ValidationMetric; Seed = seed }

[<Fact>]
let ``GraphTrainer: the returned epoch maximises validation accuracy and the returned model has that accuracy`` () =
    let graphs = tinyGraphs 3 24
    let train, valid, test = [| 0 .. 13 |], [| 14 .. 19 |], [| 20 .. 23 |]
    Props.forAllN (Props.casesScaled 0.2) Props.seed (fun seed ->
        let r = GraphTrainer.train (graphCfg 6 seed) ginSpec graphs train valid test ignore
        let best = r.Log |> Array.maxBy (fun e -> e.ValMetric)
        let valBatches = GraphTrainer.chunks 5 valid |> Array.map (GraphTrainer.prepare graphs)
        let _, reAcc = GraphTrainer.evaluate ginSpec r.Params r.State valBatches
        r.Log.Length = 6 && r.Log.[r.BestEpoch].ValMetric = best.ValMetric && r.ValAccuracy = best.ValMetric
        && abs (reAcc - r.ValAccuracy) < 1e-9 && r.TestAccuracy >= 0.0 && r.TestAccuracy <= 1.0)

[<Fact>]
let ``GraphTrainer continued from a snapshot taken after any epoch ends exactly where an uninterrupted run does`` () =
    let graphs = tinyGraphs 3 24
    let train, valid, test = [| 0 .. 13 |], [| 14 .. 19 |], [| 20 .. 23 |]
    let ce = fun _ (b: PreparedBatch) _ (out: ModelOutput) -> Loss.crossEntropy out.Logits b.Labels
    let cfg = { graphCfg 6 3 with WeightDecay = 0.01f; Patience = 4; SelectBy = ValidationLoss }
    let whole = GraphTrainer.trainWith ce cfg ginSpec graphs train valid test ignore
    Props.forAllN (Props.casesScaled 0.2) (Gen.choose (1, 5)) (fun stopAfter ->
        // the snapshot after epoch `stopAfter`, through its checkpoint form (safetensors bytes and metadata)
        let mutable saved = None
        let onState (encode: unit -> TrainSnapshot) = if saved.IsNone then (let s = encode () in if s.Metadata |> List.contains ("next_epoch", string stopAfter) then saved <- Some s)
        GraphTrainer.trainFrom ce cfg ginSpec graphs train valid test { Snapshots.none with OnState = onState } ignore |> ignore
        let snap = saved.Value
        let bytes = Safetensors.encode (snap.Tensors |> Array.map (fun (n, t) -> n, t)) (Map.ofList snap.Metadata)
        let tensors, meta = Safetensors.decode bytes
        let back = { Tensors = tensors; Metadata = meta |> Map.toList }
        let mutable epochsRun = 0
        let resumed = GraphTrainer.trainFrom ce cfg ginSpec graphs train valid test { Snapshots.none with Resume = Some back } (fun _ -> epochsRun <- epochsRun + 1)
        let same (a: (string * Tensor)[]) (b: (string * Tensor)[]) = Array.forall2 (fun (n1, t1: Tensor) (n2, t2: Tensor) -> n1 = n2 && t1.Data = t2.Data) a b
        epochsRun = whole.Log.Length - stopAfter && resumed.Log = whole.Log && resumed.BestEpoch = whole.BestEpoch
        && resumed.TestAccuracy = whole.TestAccuracy && same (Tree.leaves resumed.Params) (Tree.leaves whole.Params)
        && same (Tree.leaves resumed.State) (Tree.leaves whole.State))

[<Fact>]
let ``a training snapshot of another model is refused, naming the tensor`` () =
    let graphs = tinyGraphs 3 12
    let ce = fun _ (b: PreparedBatch) _ (out: ModelOutput) -> Loss.crossEntropy out.Logits b.Labels
    let mutable saved = None
    GraphTrainer.trainFrom ce (graphCfg 2 0) ginSpec graphs [| 0 .. 7 |] [| 8 .. 11 |] [||] { Snapshots.none with OnState = fun e -> saved <- Some (e ()) } ignore |> ignore
    let wider = { tinyGin with Width = 9 }
    let widerSpec = { ginSpec with Init = Gin.init wider; InitState = (fun () -> Gin.initState wider); Forward = fun p s ctx b x -> Gin.forward wider p s ctx b x }
    let e = Assert.ThrowsAny<ArgumentException>(fun () ->
        GraphTrainer.trainFrom ce (graphCfg 3 0) widerSpec graphs [| 0 .. 7 |] [| 8 .. 11 |] [||] { Snapshots.none with Resume = saved } ignore |> ignore)
    Assert.Contains("expected shape", e.Message)

[<Fact>]
let ``GraphTrainer reads the test part only after the last epoch`` () =
    let graphs = tinyGraphs 5 12
    let mutable epochs = 0
    // an out-of-range test index fails only when the test part is read
    Assert.ThrowsAny<exn>(fun () ->
        GraphTrainer.train (graphCfg 3 0) ginSpec graphs [| 0 .. 7 |] [| 8 .. 11 |] [| 99 |] (fun _ -> epochs <- epochs + 1) |> ignore) |> ignore
    Assert.Equal(3, epochs)

let private tinyNodes () =
    let n = 30
    let r = Rng.create 9
    let labels = Array.init n (fun i -> i % 3)
    let src = Array.init (n - 1) id
    let dst = Array.init (n - 1) (fun i -> i + 1)
    let adj = Csr.ofCoo n n (Array.append src dst) (Array.append dst src) None
    let x = Tensor.ofArray [| n; 4 |] (Array.init (4 * n) (fun k -> if k % 4 = labels.[k / 4] then 1.0f else Rng.uniformAt r (int64 k)))
    adj, x, labels

[<Fact>]
let ``NodeTrainer: selection on validation accuracy, test nodes read only at the end`` () =
    let adj, x, labels = tinyNodes ()
    let mc = { GcnConfig.InFeatures = 4; Hidden = [ 8 ]; OutFeatures = 3; Dropout = 0.5f; Bias = true }
    let a = Gcn.prepare adj
    let spec = { NodeSpec.Init = Gcn.init mc; Forward = fun p ctx -> Gcn.forward mc p ctx a x }
    let cfg = { NodeTrainConfig.Epochs = 8; Lr = 0.05f; WeightDecay = 5e-4f; Patience = 0; Seed = 1 }
    let train, valid, test = [| 0 .. 11 |], [| 12 .. 20 |], [| 21 .. 29 |]
    let r = NodeTrainer.train cfg spec labels train valid test ignore
    let best = r.Log |> Array.maxBy (fun e -> e.ValMetric)
    Assert.Equal(best.ValMetric, r.Log.[r.BestEpoch].ValMetric)
    let _, reAcc = NodeTrainer.evaluate (spec.Forward r.Params ForwardContext.Eval).Logits labels valid
    Assert.Equal(r.ValAccuracy, reAcc, 9)
    let mutable epochs = 0
    Assert.ThrowsAny<exn>(fun () -> NodeTrainer.train cfg spec labels train valid [| 500 |] (fun _ -> epochs <- epochs + 1) |> ignore) |> ignore
    Assert.Equal(8, epochs)

// ---------------------------------------------------------------------------------------------------------------
// Inductive multi-label (PPI)

let private tinyInductive (seed: int) (graphs: int) (features: int) (labels: int) =
    let r = Rng.create seed
    Array.init graphs (fun g ->
        let n = 6 + g % 3
        let src = Array.init (n - 1) id
        let dst = Array.init (n - 1) (fun i -> i + 1)
        let x = Array.init (n * features) (fun k -> Rng.normalAt r (int64 (10000 * g + k)))
        // label l is on when feature l is positive: learnable
        let t = Array.init (n * labels) (fun k -> if x.[(k / labels) * features + k % labels % features] > 0.0f then 1.0f else 0.0f)
        { LabelledGraph.Adj = Csr.ofCoo n n (Array.append src dst) (Array.append dst src) None
          Features = Tensor.ofArray [| n; features |] x; Targets = Tensor.ofArray [| n; labels |] t })

[<Fact>]
let ``InductiveTrainer: micro-F1 selection on validation graphs; test graphs read only after the last epoch`` () =
    let all = tinyInductive 4 8 5 4
    let data = { InductiveDataset.Name = "tiny"; Train = all.[0..3]; Val = all.[4..5]; Test = all.[6..7]; NumFeatures = 5; NumLabels = 4 }
    let mc = { Gat.ppiStudent 5 4 with Hidden = [ 2, 8 ] }
    let spec = { InductiveSpec.Init = Gat.init mc; Forward = fun p ctx b x -> Gat.forward mc p ctx (Gat.prepare b.Adj) x }
    let cfg = { InductiveTrainConfig.Epochs = 5; BatchSize = 2; Lr = 0.01f; WeightDecay = 0.0f; Patience = 0; Seed = 2 }
    let r = InductiveTrainer.train cfg spec data ignore
    let best = r.Log |> Array.maxBy (fun e -> e.ValMetric)
    Assert.Equal(best.ValMetric, r.Log.[r.BestEpoch].ValMetric)
    let _, reF1 = InductiveTrainer.evaluate spec r.Params (data.Val |> Array.map (fun g -> InductiveTrainer.prepare [| g |]))
    Assert.Equal(r.ValF1, reF1, 9)
    Assert.InRange(r.TestF1, 0.0, 1.0)
    Assert.True(r.Log |> Array.forall (fun e -> e.TrainLoss > 0.0 && e.ValLoss > 0.0 && e.TrainMetric >= 0.0 && e.TrainMetric <= 1.0))
    // a test graph of the wrong width fails only when the test part is read
    let bad = { data with Test = [| { data.Test.[0] with Features = Tensor.zeros [| data.Test.[0].Features.Shape.[0]; 7 |] } |] }
    let mutable epochs = 0
    Assert.ThrowsAny<exn>(fun () -> InductiveTrainer.train cfg spec bad (fun _ -> epochs <- epochs + 1) |> ignore) |> ignore
    Assert.Equal(5, epochs)

// ---------------------------------------------------------------------------------------------------------------
// Point clouds

/// Two classes of 2-D shapes: a segment (class 0) or a ring (class 1), jittered.
let private tinyClouds (seed: int) (count: int) (points: int) =
    let r = Rng.create seed
    Array.init count (fun i ->
        let label = i % 2
        let pts = Array.zeroCreate<float32> (3 * points)
        for p in 0 .. points - 1 do
            let t = float32 p / float32 points
            let j = 0.05f * Rng.normalAt r (int64 (i * 1000 + p))
            if label = 0 then pts.[3 * p] <- 2.0f * t - 1.0f + j
            else
                pts.[3 * p] <- cos (6.2831855f * t) + j
                pts.[3 * p + 1] <- sin (6.2831855f * t)
        { PointCloud.Points = Tensor.ofArray [| points; 3 |] pts; Label = label })

[<Fact>]
let ``DGCNN point-cloud training: runs through the graph trainer, selects on validation, names its tensors`` () =
    let data = { PointCloudDataset.Name = "tiny-clouds"; Train = tinyClouds 1 20 12; Test = tinyClouds 2 6 12; NumClasses = 2 }
    let struct (train, valid) = TrainCommand.PointParts(data, Nullable())
    Assert.Equal(18, train.Length)
    Assert.Equal(2, valid.Length)
    let r = Registry.trainPoints "dgcnn" data 0 (Some 2) train valid ignore
    Assert.Equal(2, r.Log.Length)
    Assert.Equal("accuracy", r.Metric)
    // the preset selects on the lowest validation loss
    let best = r.Log |> Array.minBy (fun e -> e.ValLoss)
    Assert.Equal(best.Epoch, r.BestEpoch)
    Assert.Equal(best.ValMetric, r.ValAccuracy)
    Assert.InRange(r.TestAccuracy, 0.0, 1.0)
    Assert.Contains(r.Tensors, fun (n, _) -> n.StartsWith "EdgeConvs")
    Assert.Contains(r.Tensors, fun (n, _) -> n.StartsWith "state.")
    Assert.Equal(r.ParamCount, r.Tensors |> Array.filter (fun (n, _) -> not (n.StartsWith "state.")) |> Array.sumBy (fun (_, t) -> t.Numel))
    // the cosine schedule anneals over the epochs actually run
    Assert.Contains(("schedule", sprintf "%A" (Cosine(2, 1e-5f))), r.Config)
    Assert.Throws<ArgumentException>(fun () -> Registry.trainPoints "pointnet" data 0 (Some 1) train valid ignore |> ignore) |> ignore

[<Fact>]
let ``Point-cloud parts: a stratified training subset, validation carved from it, disjoint, the same for every call`` () =
    let data = { PointCloudDataset.Name = "c"; Train = tinyClouds 1 200 4; Test = [||]; NumClasses = 2 }
    let struct (train, valid) = TrainCommand.PointParts(data, Nullable 100)
    Assert.Equal(90, train.Length)
    Assert.Equal(10, valid.Length)
    Assert.Empty(Set.intersect (set train) (set valid))
    Assert.Equal(5, valid |> Array.filter (fun i -> data.Train.[i].Label = 0) |> Array.length)
    let struct (again, _) = TrainCommand.PointParts(data, Nullable 100)
    Assert.Equal<int[]>(train, again)
    let struct (all, v) = TrainCommand.PointParts(data, Nullable())
    Assert.Equal(200, all.Length + v.Length)
    userError [ "--train-size 201"; "200 training clouds" ] (fun () -> TrainCommand.PointParts(data, Nullable 201))

// ---------------------------------------------------------------------------------------------------------------
// The train command end to end

let private options dataset model protocol epochs dataDir outDir : GcnKd.Cli.TrainOptions =
    { GcnKd.Cli.TrainOptions.Dataset = dataset; Model = model; Protocol = protocol; Seed = 0; Seeds = 1; Epochs = Some epochs
      Points = None; TrainSize = None; ValFraction = None; Dropout = None; Resume = false; Data = Some dataDir; Out = outDir }

let private json (path: string) =
    Assert.True(File.Exists path, sprintf "%s exists" path)
    JsonDocument.Parse(File.ReadAllText path).RootElement

[<Fact>]
let ``train MUTAG: 2 folds, 2 epochs, a complete run directory with parseable JSON`` () =
    use out = new TempDir()
    let o = options "MUTAG" "gin" (GcnKd.Cli.KFold 2) 2 dataRoot.Value.Path out.Path
    let s = TrainCommand.Execute(o, TextWriter.Null)
    Assert.Equal(2, s.N)
    for fold in [ "fold-1"; "fold-2" ] do
        let d = Path.Combine(out.Path, fold)
        Assert.True(File.Exists(Path.Combine(d, "model.safetensors")))
        let csv = File.ReadAllLines(Path.Combine(d, "epochs.csv"))
        Assert.Equal(3, csv.Length)
        let m = json (Path.Combine(d, "metrics.json"))
        Assert.Equal("accuracy", m.GetProperty("metric").GetString())
        Assert.InRange(m.GetProperty("test_accuracy").GetDouble(), 0.0, 1.0)
    let m = json (Path.Combine(out.Path, "metrics.json"))
    Assert.Equal(2, m.GetProperty("test_accuracy").GetArrayLength())
    Assert.InRange(m.GetProperty("mean").GetDouble(), 0.0, 1.0)
    let c = json (Path.Combine(out.Path, "config.json"))
    Assert.Equal("MUTAG", c.GetProperty("dataset").GetString())
    Assert.Equal("2", c.GetProperty("settings").GetProperty("epochs").GetString())

[<Fact>]
let ``train MUTAG over 2 seeds repeats the folds, on the same validation parts of the asked fraction`` () =
    use out = new TempDir()
    let o = { options "MUTAG" "gin" (GcnKd.Cli.KFold 2) 1 dataRoot.Value.Path out.Path with Seeds = 2; ValFraction = Some 0.2 }
    let s = TrainCommand.Execute(o, TextWriter.Null)
    Assert.Equal(4, s.N)
    Assert.Contains("20% validation", s.Protocol)
    Assert.Contains("seeds 0..1", s.Protocol)
    for run in [ "seed-0-fold-1"; "seed-0-fold-2"; "seed-1-fold-1"; "seed-1-fold-2" ] do
        Assert.True(File.Exists(Path.Combine(out.Path, run, "metrics.json")), sprintf "%s/metrics.json exists" run)
    let data = GcnKd.Host.Experiments.DatasetCatalog.LoadGraph(dataRoot.Value, "MUTAG")
    let labels = data.Graphs |> Array.map (fun g -> g.Label)
    let parts seed = fst (TrainCommand.Partitions(GcnKd.Cli.KFold 2, data, labels, seed, 0.2))
    let p0, p1 = parts 0, parts 1
    // stratified folds re-drawn per seed, the validation part carved with a fixed key: 20% of each training part
    for struct (_, train, v, test) in Seq.append p0 p1 do
        Assert.Equal(labels.Length, train.Length + v.Length + test.Length)
        Assert.InRange(float v.Length / float (train.Length + v.Length), 0.17, 0.23)
        Assert.Empty(Set.intersect (Set.ofArray v) (Set.ofArray test))
    Assert.NotEqual<int[]>((let struct (_, _, _, t) = p0.[0] in t), (let struct (_, _, _, t) = p1.[0] in t))

// PPI fixture in DGL's layout, written under DIR/PPI

let private npy (descr: string) (shape: int list) (data: byte[]) =
    let shapeStr = match shape with [ d ] -> sprintf "(%d,)" d | ds -> "(" + String.Join(", ", ds) + ")"
    let header = sprintf "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" descr shapeStr
    let pad = (64 - (10 + header.Length + 1) % 64) % 64
    let h = header + String(' ', pad) + "\n"
    Array.concat [ [| 0x93uy |]; "NUMPY"B; [| 1uy; 0uy; byte (h.Length &&& 0xff); byte (h.Length >>> 8) |]; Text.Encoding.ASCII.GetBytes h; data ]

/// A small PPI in DGL's layout under DIR/PPI (4 train, 2 validation, 2 test graphs; 5 features, 4 labels).
let writePpiFixture (d: TempDir) =
    let features, labels = 5, 4
    let split name (graphs: LabelledGraph[]) =
        let n = graphs |> Array.sumBy (fun g -> g.Features.Shape.[0])
        let offsets = graphs |> Array.scan (fun o g -> o + g.Features.Shape.[0]) 0
        let links =
            [ for gi, g in Array.indexed graphs do
                for i in 0 .. g.Adj.Rows - 1 do
                    for e in g.Adj.RowPtr.[i] .. g.Adj.RowPtr.[i + 1] - 1 do
                        yield sprintf "{\"source\": %d, \"target\": %d}" (offsets.[gi] + i) (offsets.[gi] + g.Adj.ColIdx.[e]) ]
        let nodes = [ for i in 0 .. n - 1 -> sprintf "{\"id\": %d}" i ]
        d.Write(Path.Combine("PPI", name + "_graph.json"), sprintf "{\"nodes\": [%s], \"links\": [%s]}" (String.Join(", ", nodes)) (String.Join(", ", links)))
        let f4 (xs: float32[]) = xs |> Array.collect BitConverter.GetBytes
        d.WriteBytes(Path.Combine("PPI", name + "_feats.npy"), npy "<f4" [ n; features ] (f4 (graphs |> Array.collect (fun g -> g.Features.Data))))
        d.WriteBytes(Path.Combine("PPI", name + "_labels.npy"), npy "<f4" [ n; labels ] (f4 (graphs |> Array.collect (fun g -> g.Targets.Data))))
        let ids = graphs |> Array.mapi (fun gi g -> Array.create g.Features.Shape.[0] (int64 (gi + 1))) |> Array.concat
        d.WriteBytes(Path.Combine("PPI", name + "_graph_id.npy"), npy "<i8" [ n ] (ids |> Array.collect BitConverter.GetBytes))
    let all = tinyInductive 7 8 features labels
    split "train" all.[0..3]
    split "valid" all.[4..5]
    split "test" all.[6..7]

[<Fact>]
let ``train PPI (fixture) through the CLI path: micro-F1 run directory for the GAT teacher`` () =
    use d = new TempDir()
    writePpiFixture d
    use out = new TempDir()
    let s = TrainCommand.Execute(options "ppi" "gat" (GcnKd.Cli.KFold 10) 3 d.Path out.Path, TextWriter.Null)
    Assert.Equal("PPI", s.Dataset)
    Assert.Equal(1, s.N)
    Assert.InRange(s.Mean, 0.0, 1.0)
    let run = Path.Combine(out.Path, "seed-0")
    Assert.True(File.Exists(Path.Combine(run, "model.safetensors")))
    Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "epochs.csv")).Length)
    let m = json (Path.Combine(run, "metrics.json"))
    Assert.Equal("micro_f1", m.GetProperty("metric").GetString())
    Assert.InRange(m.GetProperty("val_micro_f1").GetDouble(), 0.0, 1.0)
    Assert.InRange(m.GetProperty("test_micro_f1").GetDouble(), 0.0, 1.0)
    let top = json (Path.Combine(out.Path, "metrics.json"))
    Assert.Equal("micro_f1", top.GetProperty("metric").GetString())
    Assert.Equal(1, top.GetProperty("test_micro_f1").GetArrayLength())
    let c = json (Path.Combine(out.Path, "config.json"))
    Assert.Equal("2", c.GetProperty("settings").GetProperty("batch_graphs").GetString())
    Assert.Equal("0.005", c.GetProperty("settings").GetProperty("lr").GetString())
    // a graph-only model on PPI, --points outside point clouds: user errors
    userError [ "model 'dgcnn'"; "gat, gat-student" ] (fun () -> TrainCommand.Execute(options "PPI" "dgcnn" (GcnKd.Cli.KFold 10) 1 d.Path out.Path, TextWriter.Null))
    userError [ "--points"; "MNIST-points" ] (fun () ->
        TrainCommand.Execute({ options "PPI" "gat" (GcnKd.Cli.KFold 10) 1 d.Path out.Path with Points = Some 64 }, TextWriter.Null))

/// Two classes of 8x8 images: a bright top half or a bright bottom half, with noise.
let private halves (n: int) (seed: int) : ImageSet =
    let r = Rng.create seed
    let labels = Array.init n (fun i -> i % 2)
    let pixels = Array.init (n * 64) (fun k ->
        let i, p = k / 64, k % 64
        let top = p < 32
        let bright = (labels.[i] = 0) = top
        (if bright then 0.8f else 0.1f) + 0.2f * Rng.uniformAt r (int64 k))
    { Pixels = pixels; Labels = labels; Channels = 1; Height = 8; Width = 8 }

[<Fact>]
let ``the image trainer learns a separable task, selects on validation and can start from given parameters`` () =
    let set = halves 120 3
    let cfg = { LeNet.config with ImageSize = 8; Kernel = 2; Conv1 = 3; Conv2 = 4; Fc1 = 8; NumClasses = 2 }
    let fwd p (_: ForwardContext) x = LeNet.forward cfg p x
    let tc = { Epochs = 8; BatchSize = 16; EvalBatchSize = 50; Lr = 0.01f; WeightDecay = 0.0f; Schedule = Constant; Patience = 0; Seed = 1 }
    let init = LeNet.init cfg (Rng.create 0)
    let tr, va, te = [| 0 .. 79 |], [| 80 .. 99 |], [| 100 .. 119 |]
    let r = ImageTrainer.trainFrom ImageTrainer.crossEntropy tc fwd init set tr va te ignore
    Assert.True(r.TestAccuracy >= 0.9, sprintf "test accuracy %g" r.TestAccuracy)
    Assert.Equal(8, r.Log.Length)
    // the selected epoch is the best validation one, and its parameters are what was returned
    let bestVal = r.Log |> Array.map (fun e -> e.ValMetric) |> Array.max
    Assert.Equal(bestVal, r.ValAccuracy)
    Assert.Equal(bestVal, snd (ImageTrainer.evaluate fwd r.Params 7 set va))
    Assert.Equal(r.TestAccuracy, snd (ImageTrainer.evaluate fwd r.Params 7 set te))
    // one epoch from the trained parameters starts where training left off (low loss at once)
    let again = ImageTrainer.trainFrom ImageTrainer.crossEntropy { tc with Epochs = 1 } fwd r.Params set tr va te ignore
    Assert.True(again.Log.[0].TrainLoss < r.Log.[0].TrainLoss)
    Assert.Throws<ArgumentException>(fun () -> ImageTrainer.trainFrom ImageTrainer.crossEntropy tc fwd init { set with Labels = [| 0 |] } tr va te ignore |> ignore) |> ignore

[<Fact>]
let ``the GIN evolution pipeline scores the full mask as the full network and fine-tunes thin GINs of the kept widths`` () =
    let data = { GraphDataset.Name = "tiny"; Graphs = tinyGraphs 5 40; NumClasses = 2; NumFeatures = 3; Folds = None }
    let tr, va, te = [| 0 .. 23 |], [| 24 .. 31 |], [| 32 .. 39 |]
    let full = GraphTrainer.train (graphCfg 6 0) ginSpec data.Graphs tr va te ignore
    let size = GinEvolution.meanGraph data tr
    let sub = Fitness.subset tr 12 0
    Assert.Equal(12, sub.Length)
    Assert.True(sub |> Array.forall (fun i -> Array.contains i tr))
    let target = GinEvolution.target tinyGin (full.Params, full.State) data sub size
    let s = target.Structure
    // the full mask is the full network
    let batch = GraphTrainer.prepare data.Graphs sub
    let logits = (fst (Gin.forward tinyGin full.Params full.State ForwardContext.Eval batch.Batch batch.Features)).Logits
    let sc = (Fitness.score target (Prunable.full s)).Value
    Assert.Equal(Loss.accuracy logits batch.Labels, sc.Accuracy, 9)
    Assert.Equal(float (Loss.crossEntropy logits batch.Labels).Item0, sc.Loss, 5)
    let settings = { GinEvolution.defaults with Genetic = { Genetic.released with Population = 4; Generations = 3 }; FineTune = graphCfg 2 1 }
    let ga = Genetic.evolve settings.Genetic (Prunable.length s) [||] (Fitness.evaluator settings.Form target) ignore
    let counts = Prunable.keptCounts s ga.Best
    for name, mask in [ "ga", ga.Best; "l1", MaskBaselines.l1 s (full.Params, full.State) counts ] do
        let o = GinEvolution.fineTune settings tinyGin (full.Params, full.State) size 1 name mask data tr va te ignore
        Assert.Equal<int[]>(counts, o.Counts)
        Assert.Equal(int o.Cost.Params, Tree.count (fst o.Params))
        Assert.Equal<int list list>(Gin.layerWidths o.Config, counts |> Array.chunkBySize 2 |> Array.map List.ofArray |> List.ofArray)
        Assert.InRange(o.TestAfter, 0.0, 1.0)
        Assert.Equal(2, o.Log.Length)
