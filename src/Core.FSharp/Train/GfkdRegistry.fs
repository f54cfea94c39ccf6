/// GFKD's experiment (shared/METHODS.md section 2) as pure steps the host strings together: the 70 / 30 split, the
/// teacher trained on the 70 % (selected on a validation carve of it, never on the 30 %), transfer graphs made by
/// each method, and the student distilled on them and scored once on the real 30 %.
namespace GcnKd.Train

open System
open GcnKd

/// How the student's transfer graphs are obtained.
[<RequireQualifiedAccess>]
type GfkdMethod =
    /// Random graphs with the real training graphs' mean density and random one-hot features (RandG).
    | RandomGraphs
    /// The continuous relaxation fitted by back-propagation with the same priors (DeepInvG).
    | DeepInversion
    /// GFKD: Bernoulli structure (symmetric) with a forward-only estimator.
    | Gfkd of StructureEstimator
    /// GFKD's multinomial mode with a degree budget per node (score function, 4 samples).
    | GfkdMultinomial of budget: int
    /// KD on the real 70 % (the upper reference; uses real data).
    | RealKd
    /// The student trained on the real 70 % with labels (no teacher).
    | RealLabels

/// What a transfer set looked like, next to the real training graphs (density = stored entries / n (n - 1)).
type TransferReport =
    { Graphs: int
      MeanNodes: float
      MeanDensity: float
      RealMeanNodes: float
      RealMeanDensity: float
      /// The fitting loop's last record (None for methods without one).
      LastFit: FittingLog option }

[<RequireQualifiedAccess>]
module GfkdRegistry =
    let methodNames = [ "randg"; "deepinvg"; "gfkd-arm"; "gfkd-reinforce"; "gfkd-multinomial"; "kd-real"; "student-real" ]

    let methodOfName (name: string) =
        match (if isNull name then "" else name.Trim().ToLowerInvariant()) with
        | "randg" -> GfkdMethod.RandomGraphs
        | "deepinvg" -> GfkdMethod.DeepInversion
        | "gfkd-arm" | "gfkd" -> GfkdMethod.Gfkd StructureEstimator.Arm
        | "gfkd-reinforce" -> GfkdMethod.Gfkd(StructureEstimator.Reinforce(4, true))
        | "gfkd-multinomial" -> GfkdMethod.GfkdMultinomial 1
        | "kd-real" -> GfkdMethod.RealKd
        | "student-real" -> GfkdMethod.RealLabels
        | _ -> invalidArg "name" (sprintf "GfkdRegistry.methodOfName: unknown method '%s'; expected one of %s" name (String.concat ", " methodNames))

    /// The split key is fixed per seed and independent of the model (the released code: one 70 / 30 split).
    let split (data: GraphDataset) (seed: int) : int[] * int[] =
        Splits.stratifiedSplit (Rng.create (7919 * (seed + 1))) 0.7 (data.Graphs |> Array.map (fun g -> g.Label))

    /// The teacher's (train, validation) carve of the 70 % (10 % validation, for epoch selection only).
    let teacherCarve (data: GraphDataset) (seed: int) (train: int[]) =
        Splits.carveValidation (Rng.create (104729 * (seed + 1))) 0.1 (data.Graphs |> Array.map (fun g -> g.Label)) train

    let modelConfig (model: string) (data: GraphDataset) = GfkdFamily.create model data.NumFeatures data.NumClasses

    /// The frozen teacher from a trained outcome's named tensors.
    let teacherOf (model: string) (data: GraphDataset) (tensors: (string * Tensor)[]) : FrozenTeacher =
        let cfg = modelConfig model data
        let named = readOnlyDict tensors
        let p = Tree.ofNamed (GfkdFamily.init cfg (Rng.create 0)) named
        let stateNamed = tensors |> Array.choose (fun (n, t) -> if n.StartsWith "state." then Some(n.Substring 6, t) else None) |> readOnlyDict
        let s = Tree.ofNamed (GfkdFamily.initState cfg) stateNamed
        FrozenTeacher.ofGfkd cfg p s

    let private report (real: GraphSample[]) (fake: GraphSample[]) (last: FittingLog option) =
        { Graphs = fake.Length
          MeanNodes = fake |> Array.averageBy (fun g -> float g.Adj.Rows)
          MeanDensity = GfkdPriors.meanDensity fake
          RealMeanNodes = real |> Array.averageBy (fun g -> float g.Adj.Rows)
          RealMeanDensity = GfkdPriors.meanDensity real
          LastFit = last }

    /// The fake graphs' fixed part: as many graphs as the 70 % split, node counts from `nodes`, balanced labels;
    /// learned features unless the dataset's features are degrees (`degreeVocabulary`).
    let fakeSpec (data: GraphDataset) (count: int) (nodes: NodeCountSource) (mode: StructureMode) (degreeVocabulary: int[] option) (rng: Rng) : FakeGraphSpec =
        let r1, r2 = Rng.split rng
        { NodeCounts = FakeGraphs.drawNodeCounts nodes count r1
          Labels = FakeGraphs.balancedLabels count data.NumClasses r2
          NumClasses = data.NumClasses
          Mode = mode
          Features = (match degreeVocabulary with Some v -> FakeFeatures.Degree v | None -> FakeFeatures.Learned data.NumFeatures) }

    /// The transfer graphs of a data-free method and their report; `fit` is the fitting configuration (its
    /// estimator is set by the method), `onFit` sees every fitting iteration.
    let transferGraphs (m: GfkdMethod) (fit: FittingConfig) (data: GraphDataset) (train: int[]) (teacher: FrozenTeacher)
                       (nodes: NodeCountSource) (degreeVocabulary: int[] option) (seed: int) (onFit: FittingLog -> unit) : GraphSample[] * TransferReport =
        let real = train |> Array.map (fun i -> data.Graphs.[i])
        let keys = Rng.splitN 3 (Rng.create (31337 + seed))
        let spec mode = fakeSpec data train.Length nodes mode degreeVocabulary keys.[0]
        let last = ref None
        let log l = last.Value <- Some l; onFit l
        let fitted (s: FakeGraphSpec) (run: FittingState -> FittingState) =
            let final = run (FakeGraphFitting.start (FakeGraphs.init s fit.InitShift keys.[1]))
            FakeGraphs.export s final.Best
        let graphs =
            match m with
            | GfkdMethod.RandomGraphs ->
                let d = GfkdPriors.meanDensity real
                GfkdTrainer.randomGraphs (spec StructureMode.Symmetric) d keys.[1]
            | GfkdMethod.DeepInversion ->
                let s = spec StructureMode.Symmetric
                fitted s (DeepInversion.run fit s teacher log)
            | GfkdMethod.Gfkd e ->
                let s = spec StructureMode.Symmetric
                fitted s (FakeGraphFitting.run { fit with Estimator = e } s teacher keys.[2] log)
            | GfkdMethod.GfkdMultinomial b ->
                let s = spec (StructureMode.Multinomial b)
                fitted s (FakeGraphFitting.run { fit with Estimator = StructureEstimator.Reinforce(4, true) } s teacher keys.[2] log)
            | GfkdMethod.RealKd | GfkdMethod.RealLabels -> real
        graphs, report real graphs last.Value

    /// The student model's spec for the trainers.
    let studentSpec (model: string) (data: GraphDataset) : GraphSpec<GfkdParams, GfkdState> =
        let cfg = modelConfig model data
        { Init = GfkdFamily.init cfg; InitState = (fun () -> GfkdFamily.initState cfg)
          Forward = fun p s ctx b x -> GfkdFamily.forward cfg p s ctx (GfkdFamily.prepareBatch cfg b) x }

    /// The student on the transfer graphs (KD at T, last epoch), or on the real 70 % with labels (RealLabels),
    /// scored on the real 30 %.
    let distil (m: GfkdMethod) (cfg: FakeDistillConfig) (student: string) (data: GraphDataset) (teacher: FrozenTeacher)
               (transfer: GraphSample[]) (test: int[]) (onEpoch: EpochLog -> unit) : GraphTrainResult<GfkdParams, GfkdState> =
        let testGraphs = test |> Array.map (fun i -> data.Graphs.[i])
        match m with
        | GfkdMethod.RealLabels ->
            let graphs = Array.append transfer testGraphs
            GraphTrainer.train (GfkdTrainer.trainConfig cfg) (studentSpec student data) graphs (Array.init transfer.Length id) [||]
                (Array.init testGraphs.Length (fun i -> transfer.Length + i)) onEpoch
        | _ -> GfkdTrainer.distil cfg teacher (studentSpec student data) transfer testGraphs onEpoch
