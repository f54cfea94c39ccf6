/// DeepInvG, GFKD's continuous baseline (DeepInversion, Yin et al. CVPR 2020, adapted to graphs): the same
/// parameters and priors as GFKD, but the structure is relaxed instead of sampled. Every candidate edge carries the
/// weight sigmoid(theta) in a dense weighted adjacency, features are softmax(F), and both are fitted by
/// back-propagation through the teacher:
///     CE(teacher(sigmoid theta, softmax F), y) + lambda_BN R_BN + lambda_H H(softmax F)
///       + lambda_rho mean_g (mean sigmoid theta_g - rho)^2
/// Export, as for GFKD, takes the mode 1[theta >= 0] and one-hot argmax features, so the student sees graphs the
/// teacher never saw in relaxed form: the gap GFKD's discrete estimator is meant to close.
namespace GcnKd

open System

/// Every candidate edge of a set of fake graphs as one block-diagonal structure, with the structure variable that
/// weights each stored entry (two entries per symmetric variable).
type CandidateGraph = { Structure: Csr; Variable: int[]; Batch: GraphBatch }

[<RequireQualifiedAccess>]
module DeepInversion =
    /// The candidate structure of a spec (all pairs of every graph).
    let candidates (spec: FakeGraphSpec) : CandidateGraph =
        match spec.Mode with
        | StructureMode.Multinomial _ -> invalidArg "spec" "DeepInversion.candidates: DeepInvG relaxes Bernoulli edges; use the symmetric or directed mode"
        | _ -> ()
        let l = FakeGraphs.layout spec
        if l.Count >= (1 <<< 24) then invalidArg "spec" (sprintf "DeepInversion.candidates: %d structure variables exceed the 2^24 this layout supports" l.Count)
        let dst, src, var = ResizeArray(), ResizeArray(), ResizeArray()
        let mutable offset = 0
        spec.NodeCounts |> Array.iteri (fun g n ->
            FakeGraphs.pairs spec.Mode n |> Array.iteri (fun k (i, j) ->
                let v = l.Offsets.[g] + k
                dst.Add(offset + j); src.Add(offset + i); var.Add v
                if spec.Mode = StructureMode.Symmetric then
                    dst.Add(offset + i); src.Add(offset + j); var.Add v)
            offset <- offset + n)
        // the variable index rides along as the entry value (exact below 2^24) so it follows the CSR sort
        let a = Csr.ofCoo offset offset (dst.ToArray()) (src.ToArray()) (Some(var.ToArray() |> Array.map float32))
        let batch = Graph.batch (spec.NodeCounts |> Array.map (fun n -> Csr.ofCoo n n [||] [||] None))
        { Structure = { a with Values = Array.create a.ColIdx.Length 1.0f }; Variable = a.Values |> Array.map int; Batch = batch }

    /// Per-entry weights sigmoid(theta[variable]) [nnz] (differentiable in theta [variables]).
    let weights (c: CandidateGraph) (theta: Tensor) = Elementwise.sigmoid (Sparse.gatherRows c.Variable theta)

    /// Degree features relaxed (degree-featured data such as IMDB-BINARY): each node's expected degree d (the sum
    /// of its entries' weights) as the soft one-hot softmax_k(-(d - v_k)^2) over the vocabulary v [N, |v|],
    /// differentiable in the weights; at 0 / 1 weights it peaks on the node's exact degree.
    let softDegreeFeatures (c: CandidateGraph) (vocabulary: int[]) (w: Tensor) =
        let d = Sparse.spmmValues c.Structure w (Tensor.Wrap([| c.Structure.Rows; 1 |], Array.create c.Structure.Rows 1.0f))
        let v = Tensor.Wrap([| 1; vocabulary.Length |], vocabulary |> Array.map float32)
        Reduce.softmax (Elementwise.square (d - v) * -1.0f)

    /// The relaxed objective and its parts (CE, BN prior, entropy, density prior) for theta and F (F unused, and
    /// no entropy term, with degree features).
    let objective (cfg: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (c: CandidateGraph) (theta: Tensor) (features: Tensor) =
        let w = weights c theta
        let x, h =
            match spec.Features with
            | FakeFeatures.Learned _ -> Reduce.softmax features, GfkdPriors.entropy features
            | FakeFeatures.Degree v -> softDegreeFeatures c v w, Tensor.scalar 0.0f
        let logits, norms = teacher.ForwardWeighted c.Batch c.Structure w x
        let ce = Loss.crossEntropy logits spec.Labels
        let bn = GfkdPriors.batchNormWith cfg.BnForm norms teacher.Running
        let density =
            if cfg.DensityWeight = 0.0f then Tensor.scalar 0.0f
            else
                // mean edge probability per graph, against the target
                let l = FakeGraphs.layout spec
                let owner = l.Owner
                let p = Elementwise.sigmoid theta
                let perGraph = Sparse.segmentMean owner spec.Count p
                Reduce.mean (Elementwise.square (perGraph - float32 cfg.TargetDensity))
        let input =
            match spec.Features with
            | FakeFeatures.Learned _ when cfg.InputWeight > 0.0f -> GfkdPriors.inputShares teacher.ImpliedShares x * cfg.InputWeight
            | _ -> Tensor.scalar 0.0f
        ce + bn * cfg.BnWeight + h * cfg.EntropyWeight + input + density * cfg.DensityWeight, (ce.Item0, bn.Item0, h.Item0, logits)

    /// One iteration: both parameter blocks stepped by back-propagation (the best iterate by relaxed loss).
    let step (cfg: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (c: CandidateGraph) (state: FittingState) : FittingState * FittingLog =
        let learned = match spec.Features with FakeFeatures.Learned _ -> true | FakeFeatures.Degree _ -> false
        let t = state.Iteration
        let p = state.Params
        let theta = Tensor.Wrap([| p.Structure.Length |], p.Structure)
        let loss, (gTheta, gF), (ce, bn, h, logits) =
            if learned then Autodiff.valueAndGradAux (fun (th, f) -> objective cfg spec teacher c th f) (theta, p.Features)
            else
                let l, g, aux = Autodiff.valueAndGradAux (fun th -> objective cfg spec teacher c th p.Features) theta
                l, (g, p.Features), aux
        let best, bestLoss = if float loss < state.BestLoss then p, float loss else state.Best, state.BestLoss
        let adam = Optim.adam 0.0f
        let features, featureOpt =
            if learned then Optim.step adam (FakeGraphFitting.lrAt cfg cfg.FeatureLr t) state.FeatureOpt p.Features gF
            else p.Features, state.FeatureOpt
        let theta, structureOpt = Optim.step adam (FakeGraphFitting.lrAt cfg cfg.StructureLr t) state.StructureOpt theta gTheta
        let log =
            { Iteration = t; Loss = float loss; CrossEntropy = float ce; BnPrior = float bn; Entropy = float h
              Density = Array.average (FakeGraphs.densities spec (FakeGraphs.mode spec p.Structure))
              TargetAccuracy = Loss.accuracy logits spec.Labels
              StructureObjective = float loss }
        { Params = { Structure = theta.Data; Features = features }; StructureOpt = structureOpt; FeatureOpt = featureOpt
          Iteration = t + 1; Best = best; BestLoss = bestLoss }, log

    /// Run from `state` to cfg.Iterations (the structure estimator of cfg is not used).
    let run (cfg: FittingConfig) (spec: FakeGraphSpec) (teacher: FrozenTeacher) (report: FittingLog -> unit) (state: FittingState) : FittingState =
        FittingConfig.validate cfg
        FakeGraphs.validate spec
        let c = candidates spec
        let mutable s = state
        while s.Iteration < cfg.Iterations do
            let next, log = step cfg spec teacher c s
            report log
            s <- next
        s
