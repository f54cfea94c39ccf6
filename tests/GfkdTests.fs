/// GFKD's fake graphs, priors and generation loop: layouts, sampling and export, the batch-norm and entropy
/// priors (gradient checks and their zeros), reproducibility from the seed, and a short fit that lowers the
/// teacher's loss.
module GcnKd.Tests.GfkdTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests

let private spec mode features counts labels classes =
    { NodeCounts = counts; Labels = labels; NumClasses = classes; Mode = mode; Features = features }

[<Fact>]
let ``symmetric samples give undirected graphs without self-loops, directed ones one edge per variable`` () =
    let gen = Gen.zip3 (Gen.arrayOfLength 3 (Gen.choose (1, 9))) Props.seed (Gen.elements [ StructureMode.Symmetric; StructureMode.Directed ])
    Props.forAll gen (fun (counts, seed, mode) ->
        let s = spec mode (FakeFeatures.Learned 3) counts [| 0; 1; 0 |] 2
        let l = FakeGraphs.layout s
        let sample = Array.init l.Count (fun i -> Rng.intAt (Rng.create seed) (int64 i) 2 = 1)
        let adjs = FakeGraphs.adjacencies s sample
        let edges = adjs |> Array.sumBy Csr.nnz
        let on = sample |> Array.filter id |> Array.length
        let entries (a: Csr) = set [ for i in 0 .. a.Rows - 1 do for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> i, a.ColIdx.[e] ]
        l.Count = Array.sumBy (FakeGraphs.variableCount mode) counts
        && Array.forall2 (fun (a: Csr) n -> a.Rows = n) adjs counts
        && adjs |> Array.forall (fun a -> entries a |> Set.forall (fun (i, j) -> i <> j))
        && (match mode with
            | StructureMode.Symmetric -> edges = 2 * on && adjs |> Array.forall (fun a -> let e = entries a in e |> Set.forall (fun (i, j) -> e.Contains(j, i)))
            | StructureMode.Directed -> edges = on
            | StructureMode.Multinomial _ -> false)
        && Array.forall2 (fun d n -> (n < 2 && d = 0.0) || d >= 0.0 && d <= 1.0) (FakeGraphs.densities s sample) counts)

[<Fact>]
let ``balanced labels cover the classes evenly and node counts stay in range`` () =
    Props.forAll (Gen.zip3 (Gen.choose (0, 40)) (Gen.choose (1, 5)) Props.seed) (fun (count, classes, seed) ->
        let labels = FakeGraphs.balancedLabels count classes (Rng.create seed)
        let perClass = Array.init classes (fun c -> labels |> Array.filter ((=) c) |> Array.length)
        let sizes = FakeGraphs.drawNodeCounts (NodeCountSource.Range(10, 29)) count (Rng.create seed)
        let emp = FakeGraphs.drawNodeCounts (NodeCountSource.Empirical [| 12; 17; 28 |]) count (Rng.create seed)
        Array.max (Array.append perClass [| 0 |]) - Array.min perClass <= 1
        && sizes |> Array.forall (fun n -> n >= 10 && n <= 29)
        && emp |> Array.forall (fun n -> n = 12 || n = 17 || n = 28))

[<Fact>]
let ``export takes the mode structure and one-hot argmax features`` () =
    let s = spec StructureMode.Symmetric (FakeFeatures.Learned 3) [| 3; 2 |] [| 1; 0 |] 2
    // graph 0 pairs (0,1) (0,2) (1,2), graph 1 pair (0,1)
    let p = { Structure = [| 2.0f; -1.0f; 0.0f; -0.5f |]
              Features = Tensor.ofArray [| 5; 3 |] [| 0.f; 1.f; 0.f;  3.f; 1.f; 2.f;  0.f; 0.f; 5.f;  1.f; 1.f; 2.f;  9.f; 1.f; 1.f |] }
    let g = FakeGraphs.export s p
    Assert.Equal(2, g.Length)
    Assert.Equal<int[]>([| 0; 1; 3; 4 |], g.[0].Adj.RowPtr)   // edges 0-1 and 1-2
    Assert.Equal<int[]>([| 1; 0; 2; 1 |], g.[0].Adj.ColIdx)
    Assert.Equal(0, Csr.nnz g.[1].Adj)
    Assert.Equal<float32[]>([| 0.f; 1.f; 0.f; 1.f; 0.f; 0.f; 0.f; 0.f; 1.f |], g.[0].Features.Data)
    Assert.Equal<float32[]>([| 0.f; 0.f; 1.f; 1.f; 0.f; 0.f |], g.[1].Features.Data)
    Assert.Equal(1, g.[0].Label)

[<Fact>]
let ``degree features use the vocabulary, clipping unknown degrees down`` () =
    let a = Csr.ofCoo 4 4 [| 0; 1; 0; 2; 0; 3 |] [| 1; 0; 2; 0; 3; 0 |] None   // a star: degrees 3, 1, 1, 1
    let x = FakeGraphs.degreeFeatures [| 1; 2; 5 |] a
    Assert.Equal<float32[]>([| 0.f; 1.f; 0.f;  1.f; 0.f; 0.f;  1.f; 0.f; 0.f;  1.f; 0.f; 0.f |], x.Data)

// ---------------------------------------------------------------- priors

let private refNorm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v + 1e-12)

let private refBn (mean: float32[]) (var: float32[]) (x: Ref64.R) =
    let n, c = x.Shape.[0], x.Shape.[1]
    let mu = Array.init c (fun j -> Array.init n (fun i -> x.Data.[i * c + j]) |> Array.average)
    let v = Array.init c (fun j -> (Array.init n (fun i -> (x.Data.[i * c + j] - mu.[j]) ** 2.0) |> Array.average))
    Ref64.make [||] [| refNorm (Array.map2 (fun a b -> a - float b) mu mean) + refNorm (Array.map2 (fun a b -> a - float b) v var) |]

/// The standardized form: differences in units of the running statistics.
let private refBnStd (mean: float32[]) (var: float32[]) (x: Ref64.R) =
    let n, c = x.Shape.[0], x.Shape.[1]
    let mu = Array.init c (fun j -> Array.init n (fun i -> x.Data.[i * c + j]) |> Array.average)
    let v = Array.init c (fun j -> (Array.init n (fun i -> (x.Data.[i * c + j] - mu.[j]) ** 2.0) |> Array.average))
    let rv = var |> Array.map (fun r -> float r + 1e-5)
    Ref64.make [||] [| refNorm (Array.init c (fun j -> (mu.[j] - float mean.[j]) / sqrt rv.[j]))
                       + refNorm (Array.init c (fun j -> (v.[j] - float var.[j]) / rv.[j])) |]

[<Fact>]
let ``the batch-norm prior and its gradient match the float64 reference`` () =
    Props.forAll (Gen.zip3 (Props.dim 2 9) (Props.dim 1 6) Props.seed) (fun (n, c, seed) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let x = Tensor.randn r1 [| n; c |]
        let stats = { Mean = Tensor.randn r2 [| c |] * 0.5f; Var = Tensor.ofArray [| c |] (Array.init c (fun j -> 0.5f + float32 j * 0.3f)) }
        GradCheck.check "BN prior" (fun t -> GfkdPriors.batchNorm [ t.[0] ] [ stats ]) (fun r -> refBn stats.Mean.Data stats.Var.Data r.[0]) [| true |] [| x |]
        && GradCheck.check "standardized BN prior" (fun t -> GfkdPriors.batchNormWith BnPriorForm.Standardized [ t.[0] ] [ stats ])
               (fun r -> refBnStd stats.Mean.Data stats.Var.Data r.[0]) [| true |] [| x |])

[<Fact>]
let ``the batch-norm prior is zero when the batch statistics equal the running ones`` () =
    Props.forAll (Gen.zip3 (Props.dim 2 12) (Props.dim 1 8) Props.seed) (fun (n, c, seed) ->
        let x = Tensor.randn (Rng.create seed) [| n; c |] * 2.0f + 0.7f
        let mu = Reduce.meanAxis 0 false x
        let var = Reduce.meanAxis 0 false (Elementwise.square (x - mu))
        [ BnPriorForm.Raw; BnPriorForm.Standardized ] |> List.forall (fun form ->
            let v = (GfkdPriors.batchNormWith form [ x; x ] [ { Mean = mu; Var = var }; { Mean = mu; Var = var } ]).Item0
            let off = (GfkdPriors.batchNormWith form [ x ] [ { Mean = mu + 0.1f; Var = var } ]).Item0
            v < 1e-4f && off > 0.09f / (if form = BnPriorForm.Raw then 1.0f else sqrt (Array.max var.Data + 1e-5f))))

[<Fact>]
let ``the standardized batch-norm prior does not change when a layer's activations are rescaled with its statistics`` () =
    Props.forAll (Gen.zip3 (Props.dim 2 9) (Props.dim 1 6) Props.seed) (fun (n, c, seed) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let x = Tensor.randn r1 [| n; c |]
        let stats = { Mean = Tensor.randn r2 [| c |]; Var = Tensor.ofArray [| c |] (Array.init c (fun j -> 0.5f + float32 j)) }
        let k = 100.0f
        let scaled = { Mean = stats.Mean * k; Var = stats.Var * (k * k) }
        let a = (GfkdPriors.batchNormWith BnPriorForm.Standardized [ x ] [ stats ]).Item0
        let b = (GfkdPriors.batchNormWith BnPriorForm.Standardized [ x * k ] [ scaled ]).Item0
        abs (a - b) <= 1e-3f * (1.0f + abs a))

[<Fact>]
let ``the teacher's first layer and batch norm imply the shares of the one-hot features it was trained on`` () =
    // z = a W + b on one-hot rows with known shares: the running mean of z gives the shares back
    Props.forAll (Gen.zip3 (Props.dim 2 7) (Props.dim 8 24) Props.seed) (fun (width, channels, seed) ->
        let r1, r2, r3 = let a, b = Rng.split (Rng.create seed) in let c, d = Rng.split b in a, c, d
        let w = Tensor.randn r1 [| width; channels |]
        let b = Tensor.randn r2 [| channels |]
        let rows = 200
        let types = Array.init rows (fun i -> if i < rows / 2 then 0 else Rng.intAt r3 (int64 i) width)
        let x = Tensor.ofArray [| rows; width |] (Array.init (rows * width) (fun k -> if types.[k / width] = k % width then 1.0f else 0.0f))
        let z = Linear.apply { W = w; B = Some b } x
        let stats = { Mean = Reduce.meanAxis 0 false z; Var = Tensor.ones [| channels |] }
        let shares = Array.init width (fun k -> float (types |> Array.filter ((=) k) |> Array.length) / float rows)
        let implied = GfkdPriors.impliedInputShares w (Some b) stats
        Array.forall2 (fun a e -> abs (a - e) < 1e-3) implied shares)

[<Fact>]
let ``the input-share prior is the KL divergence from the implied shares, with its gradient`` () =
    let reference (t: float[]) (x: Ref64.R) =
        let n, c = x.Shape.[0], x.Shape.[1]
        let q = Array.init c (fun k -> Array.init n (fun i -> x.Data.[i * c + k]) |> Array.average)
        Ref64.make [||] [| Array.fold2 (fun acc p qk -> acc + (if p > 0.0 then p * log p else 0.0) - p * log (qk + 1e-8)) 0.0 t q |]
    Props.forAll (Gen.zip3 (Props.dim 1 6) (Props.dim 2 5) Props.seed) (fun (n, c, seed) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let x = Reduce.softmax (Tensor.randn r1 [| n; c |])
        let raw = Array.init c (fun k -> 0.1 + abs (float (Tensor.randn r2 [| c |]).Data.[k]))
        let t = raw |> Array.map (fun v -> v / Array.sum raw)
        GradCheck.check "input-share prior" (fun a -> GfkdPriors.inputShares t a.[0]) (fun r -> reference t r.[0]) [| true |] [| x |])
    // golden values: 0 at the target itself; log C - H(t) for uniform rows
    let t = [| 0.7; 0.2; 0.1 |]
    let atTarget = Tensor.ofArray [| 2; 3 |] [| 0.6f; 0.3f; 0.1f; 0.8f; 0.1f; 0.1f |]
    Assert.True(abs (GfkdPriors.inputShares t atTarget).Item0 < 1e-5f)
    let uniform = Tensor.full [| 4; 3 |] (1.0f / 3.0f)
    Assert.Equal(log 3.0 + (t |> Array.sumBy (fun p -> p * log p)), float (GfkdPriors.inputShares t uniform).Item0, 4)

[<Fact>]
let ``the entropy prior is zero for one-hot rows and log C for uniform ones`` () =
    let oneHot = Tensor.ofArray [| 2; 3 |] [| 100.f; 0.f; 0.f; 0.f; 0.f; 100.f |]
    Assert.True((GfkdPriors.entropy oneHot).Item0 < 1e-6f)
    Assert.Equal(log 3.0, float (GfkdPriors.entropy (Tensor.zeros [| 4; 3 |])).Item0, 5)

// ---------------------------------------------------------------- fitting

let private toyTeacher (conv: string) =
    let cfg = GfkdFamily.create conv 4 2
    let p = GfkdFamily.init cfg (Rng.create 5)
    // running statistics that a random batch will not match exactly
    let state = GfkdFamily.initState cfg
    FrozenTeacher.ofGfkd cfg p state

let private toySpec (features: FakeFeatures) =
    let counts = FakeGraphs.drawNodeCounts (NodeCountSource.Range(4, 9)) 8 (Rng.create 1)
    spec StructureMode.Symmetric features counts (FakeGraphs.balancedLabels 8 2 (Rng.create 2)) 2

let private fit (cfg: FittingConfig) (s: FakeGraphSpec) teacher seed =
    let logs = ResizeArray()
    let state = FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create seed))
    let final = FakeGraphFitting.run cfg s teacher (Rng.create (seed + 1)) logs.Add state
    final, logs.ToArray()

let private short = { FittingConfig.released with Iterations = 40; FeatureLr = 0.1f; DecayEvery = 1000 }

[<Fact>]
let ``generation is reproducible from its seed and a resumed run continues the same sequence`` () =
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher "GCN3_32"
    let a, la = fit short s teacher 3
    let b, lb = fit short s teacher 3
    Assert.Equal<float32[]>(a.Params.Structure, b.Params.Structure)
    Assert.Equal<float32[]>(a.Params.Features.Data, b.Params.Features.Data)
    Assert.Equal<FittingLog[]>(la, lb)
    // stop at 15, then continue from the saved state
    let half = FakeGraphFitting.run { short with Iterations = 15 } s teacher (Rng.create 4) ignore (FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create 3)))
    let resumed = FakeGraphFitting.run short s teacher (Rng.create 4) ignore half
    Assert.Equal<float32[]>(a.Params.Structure, resumed.Params.Structure)
    Assert.Equal<float32[]>(a.Params.Features.Data, resumed.Params.Features.Data)
    let c, _ = fit short s teacher 4
    Assert.NotEqual<float32[]>(a.Params.Structure, c.Params.Structure)

[<Theory>]
[<InlineData("GCN3_32", "arm")>]
[<InlineData("GIN3_32", "arm")>]
[<InlineData("GCN3_32", "reinforce")>]
let ``a short fit lowers the teacher's loss on the fake graphs`` (conv: string, estimator: string) =
    let s = toySpec (FakeFeatures.Learned 4)
    let e = if estimator = "arm" then StructureEstimator.Arm else StructureEstimator.Reinforce(4, true)
    let final, logs = fit { short with Estimator = e } s (toyTeacher conv) 7
    let first, last = logs.[0], logs.[logs.Length - 1]
    Assert.True(last.Loss < first.Loss, sprintf "loss %.4f -> %.4f" first.Loss last.Loss)
    Assert.True(final.BestLoss <= (logs |> Array.map (fun l -> l.Loss) |> Array.min) + 1e-9)

[<Fact>]
let ``a structure rate of 0 freezes the structure and skips the estimator, features still learn`` () =
    let s = toySpec (FakeFeatures.Learned 4)
    let start = FakeGraphs.init s 0.0f (Rng.create 7)
    let final, logs = fit { short with StructureLr = 0.0f } s (toyTeacher "GIN3_32") 7
    Assert.Equal<float32[]>(start.Structure, final.Params.Structure)
    Assert.NotEqual<float32[]>(start.Features.Data, final.Params.Features.Data)
    Assert.True(logs |> Array.forall (fun l -> Double.IsNaN l.StructureObjective))
    Assert.True(logs.[logs.Length - 1].Loss < logs.[0].Loss)

[<Fact>]
let ``the density prior makes fake graphs sparser; degree features learn the structure only`` () =
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher "GIN3_32"
    let _, free = fit short s teacher 9
    let _, sparse = fit { short with DensityWeight = 20.0f; TargetDensity = 0.1 } s teacher 9
    Assert.True(sparse.[sparse.Length - 1].Density < free.[free.Length - 1].Density - 0.1,
                sprintf "density %.3f with the prior vs %.3f without" sparse.[sparse.Length - 1].Density free.[free.Length - 1].Density)
    let d = toySpec (FakeFeatures.Degree [| 0; 1; 2; 3 |])
    let final, _ = fit short d teacher 9
    Assert.Equal(0, final.Params.Features.Numel)
    Assert.True(FakeGraphs.export d final.Params |> Array.forall (fun g -> g.Features.Shape.[1] = 4))

[<Fact>]
let ``straight-through features are the exported one-hot going forward and softmax's gradient going back`` () =
    Props.forAll (Gen.zip3 (Gen.choose (1, 7)) (Gen.choose (1, 6)) Props.seed) (fun (rows, width, seed) ->
        let logits = Tensor.randn (Rng.create seed) [| rows; width |]
        let v = Tensor.randn (Rng.create (seed + 1)) [| rows; width |]
        let st, gst = Autodiff.vjp (FakeGraphs.relaxedFeatures FeatureRelaxation.StraightThrough) logits v
        let _, gsm = Autodiff.vjp (FakeGraphs.relaxedFeatures FeatureRelaxation.Softmax) logits v
        let argmax i = Array.init width (fun c -> logits.Data.[i * width + c]) |> Array.indexed |> Array.maxBy snd |> fst
        st.Data = (FakeGraphs.oneHotArgmax logits).Data
        && Array.init rows id |> Array.forall (fun i -> st.Data.[i * width + argmax i] = 1.0f && Array.sum st.Data.[i * width .. i * width + width - 1] = 1.0f)
        && gst.Data = gsm.Data)

[<Theory>]
[<InlineData("GIN3_32")>]
[<InlineData("GCN3_32")>]
let ``with straight-through features the fit records the teacher on exactly the graphs it exports`` (conv: string) =
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher conv
    let cfg = { short with BnForm = BnPriorForm.Standardized }
    let gap relaxation =
        let c = { cfg with Features = relaxation }
        let rec go (st: FittingState) worst =
            if st.Iteration = 12 then worst
            else
                let v = Train.GfkdRegistry.teacherOnGraphs 2.0f teacher (FakeGraphs.export s st.Params)
                let next, log = FakeGraphFitting.step c s teacher (Rng.create 11) st
                go next (max worst (max (abs (log.BnPrior - v.BnPrior) / max 1.0 v.BnPrior) (abs (log.TargetAccuracy - v.Agreement))))
        go (FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create 10))) 0.0
    let st, sm = gap FeatureRelaxation.StraightThrough, gap FeatureRelaxation.Softmax
    Assert.True(st < 1e-5, sprintf "straight-through: the record and the exported graphs differ by %g" st)
    // the released softmax relaxation fits something other than what it exports (the gap this option closes)
    Assert.True(sm > 1e-2, sprintf "softmax: gap %g" sm)

[<Theory>]
[<InlineData("GIN3_32")>]
[<InlineData("GCN3_32")>]
let ``per-graph batch-norm credit is the prior of the mode batch with only that graph sampled`` (conv: string) =
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher conv
    let l = FakeGraphs.layout s
    Props.forAll (Gen.zip Props.seed (Gen.elements [ BnPriorForm.Raw; BnPriorForm.Standardized ])) (fun (seed, form) ->
        let p = FakeGraphs.init s 0.0f (Rng.create seed)
        let reference = FakeGraphs.mode s p.Structure
        let sample = Array.init l.Count (fun i -> Rng.intAt (Rng.create (seed + 1)) (int64 i) 2 = 1)
        let moments (z: bool[]) =
            let b, x = FakeGraphs.batch s FeatureRelaxation.Softmax p z
            let _, norms = teacher.Forward b x
            GfkdPriors.graphMoments b norms, float (GfkdPriors.batchNormWith form norms teacher.Running).Item0
        let rm, rBn = moments reference
        let sm, _ = moments sample
        let close (a: float) (b: float) = abs (a - b) <= 1e-4 * max 1.0 (abs b)
        let pooled = rm |> Array.reduce (Array.map2 (fun a b -> { Count = a.Count + b.Count; Sum = Array.map2 (+) a.Sum b.Sum; SumSq = Array.map2 (+) a.SumSq b.SumSq }))
        let credit = GfkdPriors.perGraphBatchNorm form teacher.Running rm sm
        let swapped g = Array.init l.Count (fun i -> if i >= l.Offsets.[g] && i < l.Offsets.[g + 1] then sample.[i] else reference.[i])
        close (GfkdPriors.batchNormOfMoments form pooled teacher.Running) rBn
        && (GfkdPriors.perGraphBatchNorm form teacher.Running rm rm |> Array.forall (fun v -> close v rBn))
        && Array.init s.Count id |> Array.forall (fun g -> close credit.[g] (snd (moments (swapped g)))))

[<Fact>]
let ``per-graph credit lowers the spread of ARM's batch-norm gradient`` () =
    // the structure gradient of the batch-norm term alone, over many seeds: the same estimator, two credits
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher "GIN3_32"
    let p = FakeGraphs.init s 0.0f (Rng.create 3)
    let cfg = { FittingConfig.released with BnForm = BnPriorForm.Standardized; BnWeight = 1.0f; Features = FeatureRelaxation.Softmax }
    let spread credit =
        let c = { cfg with BnCredit = credit }
        let full, rest = FakeGraphFitting.structureObjective c s teacher p, FakeGraphFitting.structureObjective { c with BnWeight = 0.0f } s teacher p
        let bnOnly z = Array.map2 (-) (full z) (rest z)
        let grads = Array.init 200 (fun k -> (FakeGraphs.estimate s StructureEstimator.Arm bnOnly p.Structure (Rng.create (100 + k))).Gradient)
        let n = grads.[0].Length
        Array.init n (fun i -> let xs = grads |> Array.map (fun g -> float g.[i]) in let m = Array.average xs in xs |> Array.averageBy (fun x -> (x - m) * (x - m))) |> Array.average
    let batch, perGraph = spread BnCredit.Batch, spread BnCredit.PerGraph
    Assert.True(perGraph < 0.5 * batch, sprintf "mean gradient variance: per-graph %g, batch %g" perGraph batch)

// ---------------------------------------------------------------- the student stage

let private studentSpec (cfg: GfkdConfig) : Train.GraphSpec<GfkdParams, GfkdState> =
    { Init = GfkdFamily.init cfg; InitState = (fun () -> GfkdFamily.initState cfg)
      Forward = fun p s ctx b x -> GfkdFamily.forward cfg p s ctx (GfkdFamily.prepareBatch cfg b) x }

[<Fact>]
let ``RandG graphs have the requested density and one-hot features`` () =
    let counts = FakeGraphs.drawNodeCounts (NodeCountSource.Range(20, 30)) 60 (Rng.create 1)
    let s = spec StructureMode.Directed (FakeFeatures.Learned 5) counts (FakeGraphs.balancedLabels 60 2 (Rng.create 2)) 2
    let g = Train.GfkdTrainer.randomGraphs s 0.15 (Rng.create 3)
    Assert.Equal(0.15, GfkdPriors.meanDensity g, 2)
    Assert.True(g |> Array.forall (fun x -> x.Features.Shape = [| x.Adj.Rows; 5 |] && x.Features.Data |> Array.sum = float32 x.Adj.Rows))
    // undirected even when the spec asks for directed fitting
    Assert.True(g |> Array.forall (fun x -> Csr.nnz x.Adj % 2 = 0))

[<Fact>]
let ``the student learns the teacher's function from transfer graphs alone, never reading their labels`` () =
    let teacherCfg = GfkdFamily.create "GIN3_32" 4 2
    let tp = GfkdFamily.init teacherCfg (Rng.create 11)
    let teacher = FrozenTeacher.ofGfkd teacherCfg tp (GfkdFamily.initState teacherCfg)
    let mk count seed =
        let counts = FakeGraphs.drawNodeCounts (NodeCountSource.Range(5, 12)) count (Rng.create seed)
        let s = spec StructureMode.Symmetric (FakeFeatures.Learned 4) counts (Array.zeroCreate count) 2
        Train.GfkdTrainer.randomGraphs s 0.3 (Rng.create (seed + 1))
    let transfer = mk 96 20
    // the held-out graphs carry the teacher's own predictions as labels: test accuracy = agreement with it
    let test =
        mk 64 30 |> Array.map (fun g ->
            let b = Train.GraphTrainer.prepare [| g |] [| 0 |]
            let logits, _ = teacher.Forward b.Batch b.Features
            { g with Label = (if logits.Data.[1] > logits.Data.[0] then 1 else 0) })
    let cfg = { Train.FakeDistillConfig.released 0 with Epochs = 25; BatchSize = 16 }
    let student = studentSpec { GfkdFamily.create "GCN3_32" 4 2 with FinalDropout = 0.0f }
    let r = Train.GfkdTrainer.distil cfg teacher student transfer test ignore
    Assert.True(r.Log.[r.Log.Length - 1].TrainLoss < 0.5 * r.Log.[0].TrainLoss, sprintf "KD loss %.4f -> %.4f" r.Log.[0].TrainLoss r.Log.[r.Log.Length - 1].TrainLoss)
    let majority = float (max (test |> Array.filter (fun g -> g.Label = 1) |> Array.length) (test |> Array.filter (fun g -> g.Label = 0) |> Array.length)) / 64.0
    Assert.True(r.TestAccuracy >= max 0.75 majority, sprintf "agreement %.3f, majority %.3f" r.TestAccuracy majority)
    Assert.Equal(cfg.Epochs - 1, r.BestEpoch)   // the last epoch, no selection
    let relabelled = transfer |> Array.map (fun g -> { g with Label = 1 - g.Label })
    let r2 = Train.GfkdTrainer.distil cfg teacher student relabelled test ignore
    Assert.Equal(r.TestAccuracy, r2.TestAccuracy)
    Assert.Equal<float32[]>(r.Params.Head.W.Data, r2.Params.Head.W.Data)

// ---------------------------------------------------------------- DeepInvG

[<Fact>]
let ``the weighted pass with unit weights equals the pass on the prepared graph`` () =
    let gen = Gen.zip3 (Gen.elements [ "GCN3_32"; "GIN3_32" ]) (Gen.arrayOfLength 3 (Gen.choose (1, 8))) (Gen.zip Props.seed (Gen.elements [ true; false ]))
    Props.forAll gen (fun (name, counts, (seed, loops)) ->
        let cfg = { GfkdFamily.create name 3 2 with SelfLoops = loops }
        let p = GfkdFamily.init cfg (Rng.create seed)
        let st = GfkdFamily.initState cfg
        let s = spec StructureMode.Symmetric (FakeFeatures.Learned 3) counts [| 0; 1; 0 |] 2
        let sample = Array.init (FakeGraphs.layout s).Count (fun i -> Rng.intAt (Rng.create (seed + 1)) (int64 i) 3 = 0)
        let b = Graph.batch (FakeGraphs.adjacencies s sample)
        let x = Tensor.randn (Rng.create (seed + 2)) [| b.NumNodes; 3 |]
        let t = FrozenTeacher.ofGfkd cfg p st
        let l1, n1 = t.Forward b x
        let l2, n2 = t.ForwardWeighted b b.Adj (Tensor.ones [| Csr.nnz b.Adj |]) x
        Tensor.allClose 1e-4f 1e-5f l1 l2 && List.forall2 (Tensor.allClose 1e-4f 1e-5f) n1 n2)

[<Fact>]
let ``candidate entries carry the variable of their pair`` () =
    for mode in [ StructureMode.Symmetric; StructureMode.Directed ] do
        let s = spec mode (FakeFeatures.Learned 2) [| 3; 4 |] [| 0; 1 |] 2
        let c = DeepInversion.candidates s
        let l = FakeGraphs.layout s
        Assert.Equal((if mode = StructureMode.Symmetric then 2 else 1) * l.Count, Csr.nnz c.Structure)
        // switching on exactly the variables of the candidate entries rebuilds the candidate structure
        let onlyOne v =
            let sample = Array.init l.Count (fun i -> i = v)
            Graph.batch (FakeGraphs.adjacencies s sample)
        for v in 0 .. l.Count - 1 do
            let b = onlyOne v
            let expected = set [ for i in 0 .. b.Adj.Rows - 1 do for e in b.Adj.RowPtr.[i] .. b.Adj.RowPtr.[i + 1] - 1 -> i, b.Adj.ColIdx.[e] ]
            let actual = set [ for i in 0 .. c.Structure.Rows - 1 do for e in c.Structure.RowPtr.[i] .. c.Structure.RowPtr.[i + 1] - 1 do if c.Variable.[e] = v then yield i, c.Structure.ColIdx.[e] ]
            Assert.Equal<Set<int * int>>(expected, actual)

[<Fact>]
let ``a short DeepInvG fit lowers its relaxed loss and exports graphs`` () =
    let s = toySpec (FakeFeatures.Learned 4)
    let teacher = toyTeacher "GCN3_32"
    let logs = ResizeArray()
    let final = DeepInversion.run { short with StructureLr = 0.1f } s teacher logs.Add (FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create 5)))
    Assert.Equal(short.Iterations, logs.Count)
    Assert.True(logs.[logs.Count - 1].Loss < logs.[0].Loss, sprintf "loss %.4f -> %.4f" logs.[0].Loss logs.[logs.Count - 1].Loss)
    Assert.Equal(s.Count, (FakeGraphs.export s final.Best).Length)

[<Fact>]
let ``relaxed degree features and their gradient match the float64 reference`` () =
    Props.forAll (Gen.zip (Gen.arrayOfLength 2 (Gen.choose (2, 6))) Props.seed) (fun (counts, seed) ->
        let s = spec StructureMode.Symmetric (FakeFeatures.Degree [| 0; 1; 2; 4 |]) counts [| 0; 1 |] 2
        let c = DeepInversion.candidates s
        let v = [| 0.0; 1.0; 2.0; 4.0 |]
        let w = Tensor.rand (Rng.create seed) 0.0f 1.0f [| Csr.nnz c.Structure |]
        let reference (r: Ref64.R[]) =
            let n = c.Structure.Rows
            Ref64.make [| n; v.Length |] [|
                for i in 0 .. n - 1 do
                    let d = Array.sum r.[0].Data.[c.Structure.RowPtr.[i] .. c.Structure.RowPtr.[i + 1] - 1]
                    let e = v |> Array.map (fun vk -> exp (-((d - vk) ** 2.0)))
                    let z = Array.sum e
                    yield! e |> Array.map (fun x -> x / z) |]
        GradCheck.check "soft degree features" (fun t -> DeepInversion.softDegreeFeatures c [| 0; 1; 2; 4 |] t.[0]) reference [| true |] [| w |])

[<Fact>]
let ``DeepInvG fits degree-featured graphs through the structure alone and exports exact degree features`` () =
    let vocabulary = [| 0; 1; 2; 3; 5; 8 |]
    let s = toySpec (FakeFeatures.Degree vocabulary)
    let cfg = GfkdFamily.create "GCN3_32" vocabulary.Length 2
    let teacher = FrozenTeacher.ofGfkd cfg (GfkdFamily.init cfg (Rng.create 5)) (GfkdFamily.initState cfg)
    let logs = ResizeArray()
    let final = DeepInversion.run { short with StructureLr = 0.1f } s teacher logs.Add (FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create 5)))
    Assert.True(logs.[logs.Count - 1].Loss < logs.[0].Loss, sprintf "loss %.4f -> %.4f" logs.[0].Loss logs.[logs.Count - 1].Loss)
    for g in FakeGraphs.export s final.Best do
        Assert.Equal<float32[]>((FakeGraphs.degreeFeatures vocabulary g.Adj).Data, g.Features.Data)

// ---------------------------------------------------------------- export

[<Fact>]
let ``exported fake graphs load back identically through the GIN loader`` () =
    let gen = Gen.zip (Gen.arrayOfLength 5 (Gen.choose (1, 10))) Props.seed
    Props.forAllN (Props.casesScaled 0.3) gen (fun (counts, seed) ->
        let s = spec StructureMode.Symmetric (FakeFeatures.Learned 3) counts (FakeGraphs.balancedLabels 5 2 (Rng.create seed)) 2
        let graphs = FakeGraphs.export s (FakeGraphs.init s -0.5f (Rng.create seed))
        let path = IO.Path.Combine(IO.Path.GetTempPath(), sprintf "gcnkd-gintext-%d.txt" seed)
        try
            IO.File.WriteAllText(path, GinText.write (Some [| 7; 3; 11 |]) graphs)
            let back = GcnKd.Host.Data.GinFormat.LoadFile(path, "fake", GcnKd.Host.Data.GinFeatures.Auto, [| 7; 3; 11 |])
            back.NumFeatures = 3 && back.Graphs.Length = graphs.Length
            && Array.forall2 (fun (a: GraphSample) (b: GraphSample) ->
                a.Label = b.Label && a.Adj.RowPtr = b.Adj.RowPtr && a.Adj.ColIdx = b.Adj.ColIdx && a.Features.Data = b.Features.Data) graphs back.Graphs
        finally IO.File.Delete path)

[<Fact>]
let ``a tag vocabulary with repeated tags is refused with the tags named`` () =
    let path = IO.Path.GetTempFileName()
    try
        IO.File.WriteAllText(path, "1\n2 0\n3 1 1\n7 1 0\n")
        let e = Assert.Throws<ArgumentException>(fun () -> GcnKd.Host.Data.GinFormat.LoadFile(path, "fake", GcnKd.Host.Data.GinFeatures.Auto, [| 3; 7; 3 |]) |> ignore)
        Assert.Contains("the tag vocabulary must list distinct tags; 3 repeat", e.Message)
        Assert.Contains(path, e.Message)
    finally IO.File.Delete path

[<Fact>]
let ``directed fake graphs are written as out-neighbour lists`` () =
    let s = spec StructureMode.Directed (FakeFeatures.Degree [| 0; 1; 2 |]) [| 3 |] [| 1 |] 2
    // variables (0,1) (0,2) (1,0) (1,2) (2,0) (2,1): edges 0 -> 2 and 2 -> 1
    let g = FakeGraphs.export s { Structure = [| -1.f; 1.f; -1.f; -1.f; -1.f; 1.f |]; Features = Tensor.zeros [| 0; 0 |] }
    Assert.Equal("1\n3 1\n0 1 2\n0 0\n0 1 1\n", GinText.write None g)

[<Theory>]
[<InlineData("learned")>]
[<InlineData("degree")>]
let ``a fitting run saved mid-way and decoded resumes to the same result`` (features: string) =
    let f = if features = "learned" then FakeFeatures.Learned 4 else FakeFeatures.Degree [| 0; 1; 2; 3 |]
    let s = { toySpec f with Mode = StructureMode.Directed }
    let teacher = toyTeacher "GIN3_32"
    let full, _ = fit short s teacher 13
    let half = FakeGraphFitting.run { short with Iterations = 17 } s teacher (Rng.create 14) ignore (FakeGraphFitting.start (FakeGraphs.init s 0.0f (Rng.create 13)))
    let spec2, state2 = FittingCheckpoint.decode (FittingCheckpoint.encode s half)
    Assert.Equal<int[]>(s.NodeCounts, spec2.NodeCounts)
    Assert.Equal<int[]>(s.Labels, spec2.Labels)
    Assert.Equal(s.Mode, spec2.Mode)
    Assert.Equal(17, state2.Iteration)
    Assert.Equal(half.BestLoss, state2.BestLoss)
    let resumed = FakeGraphFitting.run short spec2 teacher (Rng.create 14) ignore state2
    Assert.Equal<float32[]>(full.Params.Structure, resumed.Params.Structure)
    Assert.Equal<float32[]>(full.Best.Structure, resumed.Best.Structure)
    Assert.Equal<float32[]>(full.Params.Features.Data, resumed.Params.Features.Data)

[<Fact>]
let ``a checkpoint without the fake-graph metadata is refused by name`` () =
    let bytes = Safetensors.encode [| "x", Tensor.zeros [| 2 |] |] Map.empty
    let e = Assert.Throws<ArgumentException>(fun () -> FittingCheckpoint.decode bytes |> ignore)
    Assert.Contains("FittingCheckpoint.decode", e.Message)
    Assert.Contains("this is not a fake-graph checkpoint", e.Message)

[<Fact>]
let ``multinomial structures are undirected unions of each node's draws, fitted by the score function`` () =
    let s = { toySpec (FakeFeatures.Learned 4) with Mode = StructureMode.Multinomial 1 }
    let p = FakeGraphs.init s 0.0f (Rng.create 3)
    let adjs = FakeGraphs.adjacencies s (FakeGraphs.mode s p.Structure)
    for a in adjs do
        let e = set [ for i in 0 .. a.Rows - 1 do for k in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> i, a.ColIdx.[k] ]
        Assert.Equal(Csr.nnz a, e.Count)   // no duplicate entries
        Assert.True(e |> Set.forall (fun (i, j) -> i <> j && e.Contains(j, i)))
        Assert.True([ 0 .. a.Rows - 1 ] |> List.forall (fun i -> a.RowPtr.[i + 1] > a.RowPtr.[i]))   // every node chose one
    let teacher = toyTeacher "GCN3_32"
    let e = Assert.Throws<ArgumentException>(fun () -> fit short s teacher 3 |> ignore)
    Assert.Contains("multinomial mode needs the score-function estimator", e.Message)
    let final, logs = fit { short with Estimator = StructureEstimator.Reinforce(4, true) } s teacher 3
    Assert.True(logs.[logs.Length - 1].Loss < logs.[0].Loss, sprintf "loss %.4f -> %.4f" logs.[0].Loss logs.[logs.Length - 1].Loss)
    let _, back = FittingCheckpoint.decode (FittingCheckpoint.encode s final)
    Assert.Equal<float32[]>(final.Params.Structure, back.Params.Structure)

// ---------------------------------------------------------------- the experiment's steps

/// 60 small graphs whose class is their density (sparse 0, dense 1), 3 one-hot node labels.
let private toyDataset () =
    let rng = Rng.create 77
    let graphs =
        Array.init 60 (fun g ->
            let n = 6 + g % 7
            let y = g % 2
            let s = spec StructureMode.Symmetric (FakeFeatures.Learned 3) [| n |] [| y |] 2
            let p = Train.GfkdTrainer.randomGraphs s (if y = 0 then 0.15 else 0.6) (Rng.splitN 60 rng).[g]
            { p.[0] with Label = y })
    { Name = "toy"; Graphs = graphs; NumClasses = 2; NumFeatures = 3; Folds = None }

[<Fact>]
let ``every GFKD method runs end to end: split, teacher, transfer graphs, student`` () =
    let data = toyDataset ()
    let train, test = Train.GfkdRegistry.split data 0
    Assert.Equal(42, train.Length)
    Assert.Empty(Set.intersect (set train) (set test))
    let o, choice = Train.GfkdRegistry.trainTeacher "GCN3_32" data 0 (Some 3) train test (fun _ _ -> ())
    Assert.True(choice.Epoch >= 0 && choice.Epoch < 3 && choice.Folds = Train.GfkdRegistry.TeacherFolds)
    Assert.Equal(choice.Epoch + 1, o.Log.Length)
    let teacher = Train.GfkdRegistry.teacherOf "GCN3_32" data o.Tensors
    // the rebuilt teacher reproduces the trained one's test accuracy
    let b = Train.GraphTrainer.prepare data.Graphs test
    let logits, _ = teacher.Forward b.Batch b.Features
    Assert.Equal(o.TestAccuracy, Loss.accuracy logits b.Labels, 10)
    let fit = { FittingConfig.released with Iterations = 4 }
    for name in Train.GfkdRegistry.methodNames do
        let m = Train.GfkdRegistry.methodOfName name
        let graphs, rep = Train.GfkdRegistry.transferGraphs m fit data train teacher (NodeCountSource.Range(5, 9)) None 0 (Train.FitControl.logOnly ignore)
        Assert.Equal(train.Length, graphs.Length)
        Assert.Equal(rep.RealMeanDensity, train |> Array.averageBy (fun i -> let a = data.Graphs.[i].Adj in float (Csr.nnz a) / float (a.Rows * (a.Rows - 1))), 10)
        match m with
        | Train.GfkdMethod.RealKd | Train.GfkdMethod.RealLabels ->
            Assert.True(Array.forall2 (fun (g: GraphSample) i -> obj.ReferenceEquals(g, data.Graphs.[i])) graphs train)
            // the teacher on its own training graphs: the report measures exactly the transfer set
            let v = Train.GfkdRegistry.teacherOnGraphs 2.0f teacher (train |> Array.map (fun i -> data.Graphs.[i]))
            Assert.Equal((v.BnPrior, v.Agreement, v.Confidence), (rep.ExportedBnPrior, rep.ExportedAgreement, rep.ExportedConfidence))
            Assert.True(v.BnPrior < 50.0, sprintf "the teacher's own training graphs sit near its running statistics, got %g" v.BnPrior)
            // soft labels are probabilities of the predicted class: between 1/C and 1, and sharper when colder
            let cold = Train.GfkdRegistry.teacherOnGraphs 1.0f teacher (train |> Array.map (fun i -> data.Graphs.[i]))
            Assert.True(v.Confidence >= 0.5 && v.Confidence <= 1.0 && cold.Confidence >= v.Confidence, sprintf "%g at T 2, %g at T 1" v.Confidence cold.Confidence)
        | Train.GfkdMethod.RandomGraphs ->
            Assert.True(rep.LastFit.IsNone && graphs |> Array.forall (fun g -> g.Adj.Rows >= 5 && g.Adj.Rows <= 9))
            let v = Train.GfkdRegistry.teacherOnGraphs 2.0f teacher graphs
            Assert.Equal((rep.ExportedBnPrior, rep.ExportedAgreement, rep.ExportedConfidence), (v.BnPrior, v.Agreement, v.Confidence))
        | _ -> Assert.Equal(Some 3, rep.LastFit |> Option.map (fun l -> l.Iteration))
        let r = Train.GfkdRegistry.distil m { Train.FakeDistillConfig.released 0 with Epochs = 2 } "GIN3_32" data teacher graphs test ignore
        Assert.True(r.TestAccuracy >= 0.0 && r.TestAccuracy <= 1.0 && r.Log.Length = 2, name)

[<Fact>]
let ``a fitting run checkpointed in pieces and resumed from a checkpoint ends exactly where one uninterrupted run does`` () =
    let data = toyDataset ()
    let train, _ = Train.GfkdRegistry.split data 0
    let o = Train.Registry.trainGraph "GCN3_32" data 0 (Some 2) None train [||] (snd (Train.GfkdRegistry.split data 0)) ignore
    let teacher = Train.GfkdRegistry.teacherOf "GCN3_32" data o.Tensors
    let fit = { Train.GfkdRegistry.defaultFitting 0.3 with Iterations = 7 }
    let nodes = NodeCountSource.Range(5, 9)
    for name in [ "gfkd-arm"; "deepinvg" ] do
        let m = Train.GfkdRegistry.methodOfName name
        let whole, _ = Train.GfkdRegistry.transferGraphs m fit data train teacher nodes None 3 (Train.FitControl.logOnly ignore)
        let saved = ResizeArray()
        let control = { Train.FitControl.logOnly ignore with CheckpointEvery = 3; OnCheckpoint = fun s st -> saved.Add(st.Iteration, FittingCheckpoint.encode s st) }
        let pieces, _ = Train.GfkdRegistry.transferGraphs m fit data train teacher nodes None 3 control
        Assert.Equal<int list>([ 3; 6; 7 ], saved |> Seq.map fst |> List.ofSeq)
        let resumed, rep = Train.GfkdRegistry.transferGraphs m fit data train teacher nodes None 3 { control with Resume = Some(FittingCheckpoint.decode (snd saved.[0])); OnCheckpoint = fun _ _ -> () }
        Assert.Equal(Some 6, rep.LastFit |> Option.map (fun l -> l.Iteration))
        for other in [ pieces; resumed ] do
            Assert.Equal(whole.Length, other.Length)
            for g in 0 .. whole.Length - 1 do
                Assert.Equal<int[]>(whole.[g].Adj.ColIdx, other.[g].Adj.ColIdx)
                Assert.Equal<float32[]>(whole.[g].Features.Data, other.[g].Features.Data)
        // a checkpoint of another seed's fake graphs is refused, naming the reason
        let e = Assert.Throws<System.ArgumentException>(fun () ->
            Train.GfkdRegistry.transferGraphs m fit data train teacher nodes None 4 { control with Resume = Some(FittingCheckpoint.decode (snd saved.[0])) } |> ignore)
        Assert.Contains("made for other fake graphs", e.Message)

[<Fact>]
let ``the degree vocabulary is found exactly for degree-featured data`` () =
    let toy = toyDataset ()
    Assert.Equal(None, Train.GfkdRegistry.degreeVocabulary toy)
    let adjs = toy.Graphs |> Array.map (fun g -> g.Adj)
    let vocabulary = adjs |> Array.collect (fun a -> Array.init a.Rows (fun i -> a.RowPtr.[i + 1] - a.RowPtr.[i])) |> Array.distinct |> Array.sort
    let degreeData =
        { toy with
            Graphs = toy.Graphs |> Array.map (fun g -> { g with Features = FakeGraphs.degreeFeatures vocabulary g.Adj })
            NumFeatures = vocabulary.Length }
    Assert.Equal(Some vocabulary, Train.GfkdRegistry.degreeVocabulary degreeData)
    // one node's one-hot moved to another column: no longer the degree features
    let broken = Array.copy degreeData.Graphs
    let f = Array.copy broken.[0].Features.Data
    let hot = Array.findIndex ((=) 1.0f) f.[0 .. vocabulary.Length - 1]
    f.[hot] <- 0.0f
    f.[(hot + 1) % vocabulary.Length] <- 1.0f
    broken.[0] <- { broken.[0] with Features = Tensor.ofArray broken.[0].Features.Shape f }
    Assert.Equal(None, Train.GfkdRegistry.degreeVocabulary { degreeData with Graphs = broken })
