/// The node distillation trainer: a zero-weight distillation term leaves training exactly as the student alone
/// (KD with alpha 0, any feature term with lambda 0), the schedule switches the term off, FitNet learns one
/// regressor per pair, and a KD student does learn from its teacher's soft labels on unlabelled nodes.
[<Xunit.Collection("threads")>]
module GcnKd.Tests.DistillTrainerTests

open Xunit
open GcnKd
open GcnKd.Train
open GcnKd.Tests.TestData
open GcnKd.Cli

/// Two 30-node communities (dense inside, a few edges across), features = a noisy community indicator in 8
/// dimensions; 6 labelled nodes, 20 for validation, the rest for test.
let private toy =
    lazy
        let n, rng = 60, System.Random(7)
        let label i = if i < 30 then 0 else 1
        let edges =
            [| for i in 0 .. n - 1 do
                 for j in i + 1 .. n - 1 do
                     let p = if label i = label j then 0.15 else 0.01
                     if rng.NextDouble() < p then yield i, j
                                                  yield j, i |]
        let adj = Csr.ofCoo n n (Array.map fst edges) (Array.map snd edges) None
        let x = Array.init (n * 8) (fun k -> let i, d = k / 8, k % 8 in float32 (rng.NextDouble() - 0.5) + (if d = label i then 0.6f else 0.0f))
        let labels = Array.init n label
        let perm = Array.init n id |> Array.sortBy (fun _ -> rng.Next())
        adj, Tensor.ofArray [| n; 8 |] x, labels, perm.[0..5], perm.[6..25], perm.[26..]

let private gcn (f: int) = { GcnConfig.InFeatures = f; Hidden = [ 16 ]; OutFeatures = 2; Dropout = 0.5f; Bias = true }
let private studentCfg (f: int) = { GcnConfig.InFeatures = f; Hidden = [ 4 ]; OutFeatures = 2; Dropout = 0.5f; Bias = true }

/// A teacher GCN trained on every node's label (so it knows more than the student's 6 labels), in eval mode.
let private teacher =
    lazy
        let adj, x, labels, _, valNodes, _ = toy.Value
        let a = Gcn.prepare adj
        let cfg = { Epochs = 100; Lr = 0.01f; WeightDecay = 5e-4f; Patience = 0; Seed = 3 }
        let all = Array.init labels.Length id
        let r = NodeTrainer.train cfg { Init = Gcn.init (gcn 8); Forward = fun p ctx -> Gcn.forward (gcn 8) p ctx a x } labels all valNodes valNodes ignore
        Gcn.forward (gcn 8) r.Params ForwardContext.Eval a x

let private run (m: DistillMethod) (options: DistillOptions) =
    let adj, x, labels, train, valNodes, test = toy.Value
    let a = Gcn.prepare adj
    let cfg = { Train = { Epochs = 40; Lr = 0.01f; WeightDecay = 5e-4f; Patience = 0; Seed = 11 }; Method = m; Options = options }
    let spec = { NodeSpec.Init = Gcn.init (studentCfg 8); Forward = fun p ctx -> Gcn.forward (studentCfg 8) p ctx a x }
    DistillTrainer.train cfg spec adj teacher.Value labels train valNodes test ignore

let private lastPair lambda schedule = { Pairs = [ { TeacherLayer = -1; StudentLayer = -1 } ]; Lambda = lambda; Schedule = schedule }

let private sameRun (a: NodeDistillResult<GcnParams>) (b: NodeDistillResult<GcnParams>) =
    Assert.Equal(a.Result.BestEpoch, b.Result.BestEpoch)
    Assert.Equal(a.Result.TestAccuracy, b.Result.TestAccuracy)
    Assert.Equal<float[]>(a.Result.Log |> Array.map (fun l -> l.TrainLoss), b.Result.Log |> Array.map (fun l -> l.TrainLoss))
    for (_, p), (_, q) in Array.zip (Tree.leaves a.Result.Params) (Tree.leaves b.Result.Params) do
        Assert.Equal<float32[]>(p.Data, q.Data)

[<Fact>]
let ``a distillation term of weight zero trains exactly as the student alone`` () =
    let alone = run DistillMethod.StudentAlone (lastPair 1.0f DistillSchedule.Always)
    Assert.All(alone.DistillLoss, fun d -> Assert.Equal(0.0, d))
    sameRun alone (run (DistillMethod.Kd(4.0f, 0.0f)) (lastPair 1.0f DistillSchedule.Always))
    for m in [ DistillMethod.Lsp LspScore.defaultRbf; DistillMethod.AttentionTransfer 2.0f ] do
        sameRun alone (run m (lastPair 0.0f DistillSchedule.Always))
    // a positive weight changes the run
    let lsp = run (DistillMethod.Lsp LspScore.defaultRbf) (lastPair 10.0f DistillSchedule.Always)
    Assert.True(lsp.DistillLoss.[0] > 0.0)
    Assert.NotEqual<float[]>(alone.Result.Log |> Array.map (fun l -> l.TrainLoss), lsp.Result.Log |> Array.map (fun l -> l.TrainLoss))

[<Fact>]
let ``the schedule switches the term off after K epochs, and FitNet learns one regressor per pair`` () =
    let r = run (DistillMethod.Lsp LspScore.defaultRbf) (lastPair 1.0f (DistillSchedule.FirstEpochs 5))
    Assert.All(r.DistillLoss.[0..4], fun d -> Assert.True(d > 0.0))
    Assert.All(r.DistillLoss.[5..], fun d -> Assert.Equal(0.0, d))
    let f = run DistillMethod.FitNet (lastPair 1.0f DistillSchedule.Always)
    Assert.True(f.DistillLoss.[0] > 0.0)
    // the FitNet term falls as the regressor and the student fit the teacher's features
    Assert.True(f.DistillLoss.[f.DistillLoss.Length - 1] < f.DistillLoss.[0], sprintf "FitNet term %A" f.DistillLoss)

[<Fact>]
let ``a KD student learns the teacher's labels of the unlabelled nodes`` () =
    let adj, x, labels, _, _, test = toy.Value
    // agreement with the teacher's predictions on the test nodes, student alone vs KD (T = 1, alpha = 0.9)
    let agree (r: NodeDistillResult<GcnParams>) =
        let s = Gcn.forward (studentCfg 8) r.Result.Params ForwardContext.Eval (Gcn.prepare adj) x
        let st, tt = Sparse.gatherRows test s.Logits, Sparse.gatherRows test teacher.Value.Logits
        let c = tt.Shape.[1]
        let argmax r = [| 0 .. c - 1 |] |> Array.maxBy (fun j -> tt.Data.[r * c + j])
        Loss.accuracy st (Array.init test.Length argmax)
    let alone = run DistillMethod.StudentAlone (lastPair 1.0f DistillSchedule.Always)
    let kd = run (DistillMethod.Kd(1.0f, 0.9f)) (lastPair 1.0f DistillSchedule.Always)
    Assert.True(agree kd >= agree alone, sprintf "KD agrees with the teacher on %.3f of test nodes, the student alone on %.3f" (agree kd) (agree alone))
    Assert.True(kd.DistillLoss.[kd.DistillLoss.Length - 1] < kd.DistillLoss.[0])
    ignore labels

[<Fact>]
let ``method names parse, and unknown ones are named`` () =
    Assert.Equal(DistillMethod.StudentAlone, DistillMethod.ofName "none" "rbf")
    Assert.Equal(DistillMethod.Lsp(LspScore.L1Exp 100.0f), DistillMethod.ofName "LSP" "l1exp")
    Assert.Equal(("lsp", "rbf(sigma=1)"), DistillMethod.describe (DistillMethod.ofName "lsp" "rbf"))
    let e = Assert.Throws<System.ArgumentException>(fun () -> DistillMethod.ofName "hint" "rbf" |> ignore)
    Assert.Contains("unknown distillation method 'hint'", e.Message)
    Assert.Contains("none, kd, fitnet, at, lsp", e.Message)

[<Fact>]
let ``distill PPI (fixture): the paper's teacher and student, LSP on the released schedule, then KD from the saved teacher`` () =
    use d = new TempDir()
    TrainingTests.writePpiFixture d
    use out = new TempDir()
    let opts m teacher =
        { DistillCliOptions.Dataset = "ppi"; Method = m; Kernel = "l1exp"; Lambda = 1.0f; DistillEpochs = Some 1; Seed = 0; Seeds = 1
          Epochs = Some 3; Teacher = teacher; Points = None; TrainSize = None; Resume = false; Data = Some d.Path; Out = System.IO.Path.Combine(out.Path, m) }
    let lsp = GcnKd.Host.Experiments.DistillCommand.Execute(opts "lsp" None, System.IO.TextWriter.Null)
    Assert.Equal("micro_f1", lsp.Metric)
    Assert.Equal(Tree.count (Gat.init (Gat.ppiTeacher 5 4) (Rng.create 0)), lsp.TeacherParams)
    Assert.Equal(Tree.count (Gat.init (Gat.ppiStudent 5 4) (Rng.create 0)), lsp.StudentParams)
    Assert.InRange(lsp.Mean, 0.0, 1.0)
    // the released schedule shortened to 1 epoch: the term is on at epoch 0 only
    let csv = System.IO.File.ReadAllLines(System.IO.Path.Combine(out.Path, "lsp", "seed-0", "distill.csv"))
    Assert.Equal(4, csv.Length)
    Assert.True(float (csv.[1].Split(',').[1]) > 0.0)
    Assert.Equal(0.0, float (csv.[2].Split(',').[1]))
    let teacher = System.IO.Path.Combine(out.Path, "lsp", "teacher", "model.safetensors")
    let kd = GcnKd.Host.Experiments.DistillCommand.Execute(opts "kd" (Some teacher), System.IO.TextWriter.Null)
    Assert.Equal(lsp.TeacherTest, kd.TeacherTest)
    Assert.False(System.IO.Directory.Exists(System.IO.Path.Combine(out.Path, "kd", "teacher")))

// ---- dynamic graphs (DGCNN): each model builds its own kNN graphs; LSP compares them on their union ----

/// 16 clouds of 12 points in 3-d: class 0 on a line, class 1 on a circle, jittered.
let private clouds =
    lazy
        let rng = System.Random(5)
        Array.init 16 (fun c ->
            let label = c % 2
            let pts =
                Array.init 12 (fun i ->
                    let t = float i / 12.0
                    let x, y = if label = 0 then t - 0.5, 0.1 * t else 0.5 * cos (6.28 * t), 0.5 * sin (6.28 * t)
                    [| float32 (x + 0.05 * rng.NextDouble()); float32 (y + 0.05 * rng.NextDouble()); float32 (0.05 * rng.NextDouble()) |])
            Registry.cloudAsGraph { Points = Tensor.ofArray [| 12; 3 |] (Array.concat pts); Label = label })

let private dgTeacher = { Dgcnn.config 3 2 with EdgeWidths = [ 8; 8 ]; K = 5; Embedding = 16; HeadWidths = [ 8 ] }
let private dgStudent = { dgTeacher with EdgeWidths = [ 4; 4 ]; K = 3; Embedding = 8 }

let private pass (cfg: DgcnnConfig) (p: DgcnnParams) (s: DgcnnState) ctx (b: GraphBatch) x =
    let r = Dgcnn.run cfg p s ctx (fun k h -> Knn.graph k true b.NodeGraph b.NumGraphs h) b.NodeGraph b.NumGraphs x
    { Output = r.Output; Graphs = r.Graphs }, r.State

let private runDynamic (m: DistillMethod) (lambda: float32) =
    let tp, ts = Dgcnn.init dgTeacher (Rng.create 1), Dgcnn.initState dgTeacher
    let cfg = { Epochs = 4; BatchSize = 4; EvalBatchSize = 8; Lr = 0.01f; WeightDecay = 0.0f; Schedule = Constant; Patience = 0
                SelectBy = ValidationLoss; Seed = 2 }
    let options = { Pairs = [ { TeacherLayer = 0; StudentLayer = 0 }; { TeacherLayer = 1; StudentLayer = 1 } ]; Lambda = lambda; Schedule = DistillSchedule.Always }
    DistillTrainer.trainDynamic cfg m options (Dgcnn.init dgStudent) (fun () -> Dgcnn.initState dgStudent) (pass dgStudent)
        (fun b x -> fst (pass dgTeacher tp ts ForwardContext.Eval b x)) clouds.Value [| 0 .. 9 |] [| 10 .. 12 |] [| 13 .. 15 |] ignore

[<Fact>]
let ``dynamic-graph distillation: LSP of weight zero is the student alone; a positive weight adds the union-graph term`` () =
    let alone, t0 = runDynamic DistillMethod.StudentAlone 1.0f
    let zero, tz = runDynamic (DistillMethod.Lsp LspScore.defaultRbf) 0.0f
    Assert.All(Array.append t0 tz, fun d -> Assert.Equal(0.0, d))
    Assert.Equal<float[]>(alone.Log |> Array.map (fun l -> l.TrainLoss), zero.Log |> Array.map (fun l -> l.TrainLoss))
    for (_, p), (_, q) in Array.zip (Tree.leaves alone.Params) (Tree.leaves zero.Params) do
        Assert.Equal<float32[]>(p.Data, q.Data)
    let lsp, terms = runDynamic (DistillMethod.Lsp LspScore.defaultRbf) 1.0f
    Assert.All(terms, fun d -> Assert.True(d > 0.0))
    Assert.NotEqual<float[]>(alone.Log |> Array.map (fun l -> l.TrainLoss), lsp.Log |> Array.map (fun l -> l.TrainLoss))
    let kd, kdTerms = runDynamic (DistillMethod.Kd(4.0f, 0.5f)) 1.0f
    Assert.All(kdTerms, fun d -> Assert.True(d > 0.0))
    Assert.InRange(kd.TestAccuracy, 0.0, 1.0)

[<Fact>]
let ``dynamic-graph distillation refuses FitNet and AT, and layer pairs outside the models`` () =
    let e = Assert.Throws<System.ArgumentException>(fun () -> runDynamic DistillMethod.FitNet 1.0f |> ignore)
    Assert.Contains("not available for dynamic graphs", e.Message)
    let tp, ts = Dgcnn.init dgTeacher (Rng.create 1), Dgcnn.initState dgTeacher
    let cfg = { Epochs = 1; BatchSize = 4; EvalBatchSize = 8; Lr = 0.01f; WeightDecay = 0.0f; Schedule = Constant; Patience = 0
                SelectBy = ValidationLoss; Seed = 2 }
    let options = { Pairs = [ { TeacherLayer = 2; StudentLayer = 0 } ]; Lambda = 1.0f; Schedule = DistillSchedule.Always }
    let e2 =
        Assert.Throws<System.ArgumentException>(fun () ->
            DistillTrainer.trainDynamic cfg (DistillMethod.Lsp LspScore.defaultRbf) options (Dgcnn.init dgStudent) (fun () -> Dgcnn.initState dgStudent)
                (pass dgStudent) (fun b x -> fst (pass dgTeacher tp ts ForwardContext.Eval b x)) clouds.Value [| 0 .. 9 |] [| 10 .. 12 |] [| 13 .. 15 |] ignore
            |> ignore)
    Assert.Contains("layer pair (2, 0) is outside the teacher's 2 and the student's 2 graph layers", e2.Message)
