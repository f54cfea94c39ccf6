/// GFKD's generation loop (shared/METHODS.md section 2; shared/reference/gfkd-notes.md sections 2-3): fit fake
/// graphs to a frozen teacher by minimising, over structure logits theta and feature logits F,
///     E_{A ~ Bern(sigmoid theta)} [CE(teacher(A, softmax F), y) + lambda_BN R_BN + lambda_rho (density(A) - rho)^2]
///       + lambda_H H(softmax F)
/// Per iteration, in the released order: the feature loss on the mode structure (FakeGraphs.mode; the best iterate is
/// the one with the lowest such loss), an Adam step on F by back-propagation, then a structure-gradient estimate
/// (forward passes only) with the updated F and an Adam step on theta. Everything is seeded: iteration t draws
/// from the t-th split of the run's key, so a resumed run continues the same sequence.
namespace GcnKd

open System

/// A frozen teacher in evaluation mode: graph logits and the inputs of its batch norms for a batch (whose
/// adjacency it prepares itself), and the norms' running statistics.
type FrozenTeacher =
    { Forward: GraphBatch -> Tensor -> Tensor * Tensor list
      /// The same pass on a weighted adjacency: the batch's node-to-graph map, the structure (no self-loops) and
      /// differentiable entry weights [nnz] in its CSR order (DeepInvG's relaxation).
      ForwardWeighted: GraphBatch -> Csr -> Tensor -> Tensor -> Tensor * Tensor list
      Running: BatchNormStats list
      /// The node-feature shares the teacher implies (GfkdPriors.impliedInputShares of the linear map whose output
      /// its first batch norm normalises, and that norm's running statistics); computed once, with the teacher.
      ImpliedShares: float[]
      NumClasses: int }

[<RequireQualifiedAccess>]
module FrozenTeacher =
    /// A GFKD-family model (GCN5_64, GIN5_64, ...) with its trained parameters and batch-norm state.
    let ofGfkd (cfg: GfkdConfig) (p: GfkdParams) (state: GfkdState) : FrozenTeacher =
        { Forward = fun b x ->
            let r = GfkdFamily.run cfg p state ForwardContext.Eval (GfkdFamily.prepareBatch cfg b) x
            r.Output.Logits, r.NormInputs
          ForwardWeighted = fun b structure weights x ->
            let r = GfkdFamily.runWith cfg p state ForwardContext.Eval (GfkdFamily.weightedPropagate cfg structure weights) b x
            r.Output.Logits, r.NormInputs
          Running = GfkdFamily.runningStats state
          ImpliedShares =
            let first =
                match p.Layers with
                | GcnBlock b :: _ -> b.Conv
                | GinBlock b :: _ -> List.head b.Mlp.Layers
                | [] -> invalidArg "p" "FrozenTeacher.ofGfkd: the model has no layer"
            GfkdPriors.impliedInputShares first.W first.B (List.head (GfkdFamily.runningStats state))
          NumClasses = cfg.NumClasses }

type FittingConfig =
    { Iterations: int
      StructureLr: float32
      FeatureLr: float32
      /// Both rates times Decay every DecayEvery iterations.
      DecayEvery: int
      Decay: float32
      BnWeight: float32
      /// The batch-norm prior's form (Raw as released).
      BnForm: BnPriorForm
      /// The batch a graph's structure sample is scored in (Batch as released).
      BnCredit: BnCredit
      EntropyWeight: float32
      /// Weight of the input-share prior (GfkdPriors.inputShares toward FrozenTeacher.ImpliedShares; 0: off, as
      /// released). Learned features only.
      InputWeight: float32
      /// Weight of the edge-density prior (0: off, as released) and its target (the real data's mean density).
      DensityWeight: float32
      TargetDensity: float
      Estimator: StructureEstimator
      /// What the teacher sees of the feature logits (Softmax as released).
      Features: FeatureRelaxation
      /// Added to the initial structure logits (0: density about 1/2 at the start, as released).
      InitShift: float32 }

[<RequireQualifiedAccess>]
module FittingConfig =
    /// The released MUTAG script: 1500 iterations, Adam 1.0 on theta and 0.01 on F, x0.1 every 700, lambda_BN 0.01,
    /// lambda_H 1e-6, ARM, no density prior.
    let released =
        { Iterations = 1500; StructureLr = 1.0f; FeatureLr = 0.01f; DecayEvery = 700; Decay = 0.1f
          BnWeight = 0.01f; BnForm = BnPriorForm.Raw; BnCredit = BnCredit.Batch; EntropyWeight = 1e-6f; InputWeight = 0.0f; DensityWeight = 0.0f; TargetDensity = 0.0
          Estimator = StructureEstimator.Arm; Features = FeatureRelaxation.Softmax; InitShift = 0.0f }

    let validate (c: FittingConfig) =
        let fail (what: string) (v: obj) = invalidArg what (sprintf "FittingConfig: %s is out of range (%O)" what v)
        if c.Iterations < 0 then fail "Iterations" c.Iterations
        if not (c.StructureLr >= 0.0f) then fail "StructureLr" c.StructureLr
        if not (c.FeatureLr >= 0.0f) then fail "FeatureLr" c.FeatureLr
        if c.DecayEvery < 1 then fail "DecayEvery" c.DecayEvery
        if not (c.Decay > 0.0f) then fail "Decay" c.Decay
        if not (c.BnWeight >= 0.0f) then fail "BnWeight" c.BnWeight
        if not (c.EntropyWeight >= 0.0f) then fail "EntropyWeight" c.EntropyWeight
        if not (c.InputWeight >= 0.0f) then fail "InputWeight" c.InputWeight
        if not (c.DensityWeight >= 0.0f) then fail "DensityWeight" c.DensityWeight
        if not (c.TargetDensity >= 0.0 && c.TargetDensity <= 1.0) then fail "TargetDensity" c.TargetDensity
        match c.Estimator with
        | StructureEstimator.Reinforce(k, b) when k < (if b then 2 else 1) -> fail "Estimator" c.Estimator
        | _ -> ()

/// One iteration's record: the feature loss on the mode structure and its parts, the mode graphs' mean density,
/// the fraction of fake graphs the teacher assigns to their target class, and the estimator's mean objective (NaN when
/// the structure is frozen).
type FittingLog =
    { Iteration: int
      Loss: float
      CrossEntropy: float
      BnPrior: float
      Entropy: float
      Density: float
      TargetAccuracy: float
      StructureObjective: float }

/// Everything a run needs to continue: the parameters, both optimiser states, the next iteration and the best
/// iterate so far (by mode feature loss).
type FittingState =
    { Params: FakeGraphParams
      StructureOpt: OptState<Tensor>
      FeatureOpt: OptState<Tensor>
      Iteration: int
      Best: FakeGraphParams
      BestLoss: float }

[<RequireQualifiedAccess>]
module FakeGraphFitting =
    let private adam = Optim.adam 0.0f

    /// The starting state for fresh parameters.
    let start (p: FakeGraphParams) : FittingState =
        { Params = p
          StructureOpt = Optim.init adam (Tensor.Wrap([| p.Structure.Length |], p.Structure))
          FeatureOpt = Optim.init adam p.Features
          Iteration = 0
          Best = p
          BestLoss = Double.PositiveInfinity }

    /// A base learning rate at iteration t under the config's step decay.
    let internal lrAt (c: FittingConfig) (baseLr: float32) (t: int) = Schedule.lr (Schedule.Step(c.DecayEvery, c.Decay)) baseLr t

    /// Per-row cross-entropy (float64) of logits [G, C] against labels.
    let private rowCrossEntropy (logits: Tensor) (labels: int[]) =
        let c = logits.Shape.[1]
        Array.init labels.Length (fun g ->
            let row = Array.init c (fun k -> float logits.Data.[g * c + k])
            let m = Array.max row
            m + log (row |> Array.sumBy (fun v -> exp (v - m))) - row.[labels.[g]])

    /// The per-graph structure objective for a sample: CE_g + lambda_BN R_BN + lambda_rho (density_g - rho)^2, where
    /// R_BN is the sampled batch's (BnCredit.Batch) or that of the mode batch with only graph g sampled
    /// (BnCredit.PerGraph; the mode's moments are computed once, when the objective is made for `p`).
    let structureObjective (c: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (p: FakeGraphParams) : bool[] -> float[] =
        let reference =
            match c.BnCredit with
            | BnCredit.PerGraph when c.BnWeight > 0.0f ->
                let b, x = FakeGraphs.batch spec c.Features p (FakeGraphs.mode spec p.Structure)
                Some (GfkdPriors.graphMoments b (snd (teacher.Forward b x)))
            | _ -> None
        fun sample ->
            let b, x = FakeGraphs.batch spec c.Features p sample
            let logits, norms = teacher.Forward b x
            let ce = rowCrossEntropy logits spec.Labels
            let bn =
                if c.BnWeight <= 0.0f then Array.zeroCreate spec.Count
                else
                    match reference with
                    | Some r -> GfkdPriors.perGraphBatchNorm c.BnForm teacher.Running r (GfkdPriors.graphMoments b norms)
                    | None -> Array.create spec.Count (float (GfkdPriors.batchNormWith c.BnForm norms teacher.Running).Item0)
            let dens = if c.DensityWeight > 0.0f then FakeGraphs.batchDensities b else Array.zeroCreate spec.Count
            Array.init spec.Count (fun g -> ce.[g] + float c.BnWeight * bn.[g] + float c.DensityWeight * GfkdPriors.density c.TargetDensity dens.[g])

    /// One iteration from `state`; `key` is the run's key (iteration t uses its t-th split).
    let step (c: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (key: Rng) (state: FittingState) : FittingState * FittingLog =
        let t = state.Iteration
        let p = state.Params
        let mode = FakeGraphs.mode spec p.Structure
        let learned = match spec.Features with FakeFeatures.Learned _ -> true | FakeFeatures.Degree _ -> false
        let featureLoss (f: Tensor) =
            let b, x = FakeGraphs.batch spec c.Features { p with Features = f } mode
            let logits, norms = teacher.Forward b x
            let ce = Loss.crossEntropy logits spec.Labels
            let bn = GfkdPriors.batchNormWith c.BnForm norms teacher.Running
            let h = if learned then GfkdPriors.entropy f else Tensor.scalar 0.0f
            let input = if learned && c.InputWeight > 0.0f then GfkdPriors.inputShares teacher.ImpliedShares x * c.InputWeight else Tensor.scalar 0.0f
            ce + bn * c.BnWeight + h * c.EntropyWeight + input, (ce.Item0, bn.Item0, h.Item0, logits, b)
        let loss, fGrad, (ce, bn, h, logits, modeBatch) =
            if learned then Autodiff.valueAndGradAux featureLoss p.Features
            else let l, aux = featureLoss p.Features in l.Item0, p.Features, aux
        let best, bestLoss = if float loss < state.BestLoss then p, float loss else state.Best, state.BestLoss
        let features, featureOpt =
            if learned then Optim.step adam (lrAt c c.FeatureLr t) state.FeatureOpt p.Features fGrad
            else p.Features, state.FeatureOpt
        let p = { p with Features = features }
        let theta = Tensor.Wrap([| p.Structure.Length |], p.Structure)
        // a structure rate of 0 freezes the structure: no estimate (its forward passes would change nothing)
        let theta, structureOpt, objective =
            if lrAt c c.StructureLr t = 0.0f then theta, state.StructureOpt, nan
            else
                let est = FakeGraphs.estimate spec c.Estimator (structureObjective c spec teacher p) p.Structure (Rng.splitN (t + 1) key).[t]
                let theta, opt = Optim.step adam (lrAt c c.StructureLr t) state.StructureOpt theta (Tensor.Wrap(theta.Shape, est.Gradient))
                theta, opt, est.Values |> Array.averageBy Array.average
        let log =
            { Iteration = t
              Loss = float loss
              CrossEntropy = float ce
              BnPrior = float bn
              Entropy = float h
              Density = Array.average (FakeGraphs.batchDensities modeBatch)
              TargetAccuracy = Loss.accuracy logits spec.Labels
              StructureObjective = objective }
        { Params = { p with Structure = theta.Data }
          StructureOpt = structureOpt
          FeatureOpt = featureOpt
          Iteration = t + 1
          Best = best
          BestLoss = bestLoss }, log

    /// Run from `state` to c.Iterations, calling `report` after every iteration; returns the final state.
    let run (c: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (key: Rng) (report: FittingLog -> unit) (state: FittingState) : FittingState =
        FittingConfig.validate c
        FakeGraphs.validate spec
        if teacher.NumClasses <> spec.NumClasses then
            invalidArg "teacher" (sprintf "FakeGraphFitting.run: the teacher has %d classes, the fake graphs' labels %d" teacher.NumClasses spec.NumClasses)
        let mutable s = state
        while s.Iteration < c.Iterations do
            let next, log = step c spec teacher key s
            report log
            s <- next
        s
