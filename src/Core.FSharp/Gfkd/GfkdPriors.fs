/// The priors GFKD fits fake graphs with (shared/METHODS.md section 2): the teacher's batch-norm statistics
/// (DeepInversion's prior on graphs), a one-hot prior on the feature distributions, and, going beyond the release,
/// an edge-density prior so that fake graphs are as sparse as the real data.
namespace GcnKd

open System

/// How the batch-norm prior measures the distance between batch and running statistics (GfkdPriors.batchNormWith).
[<RequireQualifiedAccess>]
type BnPriorForm =
    /// Plain L2 distances of means and variances, as released.
    | Raw
    /// Distances in units of the running statistics (scale-free across layers and models).
    | Standardized

[<RequireQualifiedAccess>]
module GfkdPriors =
    /// sqrt(sum v^2 + 1e-12): the L2 norm, smoothed at 0 so that its gradient stays finite when the statistics match.
    let private norm (v: Tensor) = Elementwise.sqrt (Reduce.sum (Elementwise.square v) + 1e-12f)

    /// R_BN = sum over the batch norms of ||mu_batch - mu_running||_2 + ||var_batch - var_running||_2, with the batch
    /// mean and biased variance of each norm's input [nodes, C] over its rows (the released code's hook; plain, not
    /// squared, norms). Standardized measures both differences in units of the running statistics,
    /// ||(mu_batch - mu_running) / sqrt(var_running + 1e-5)||_2 + ||(var_batch - var_running) / (var_running + 1e-5)||_2,
    /// so that every norm counts alike whatever its activations' scale (GIN's sums grow by orders of magnitude
    /// from layer to layer; the raw form is then dominated by the last layers). Differentiable in the inputs;
    /// `inputs` and `running` are in the same (network) order.
    let batchNormWith (form: BnPriorForm) (inputs: Tensor list) (running: BatchNormStats list) : Tensor =
        if List.length inputs <> List.length running then
            invalidArg "running" (sprintf "GfkdPriors.batchNorm: %d batch-norm inputs but %d running statistics" (List.length inputs) (List.length running))
        if List.isEmpty inputs then invalidArg "inputs" "GfkdPriors.batchNorm: the teacher has no batch norm; the prior needs at least one"
        List.map2 (fun (x: Tensor) (s: BatchNormStats) ->
            if x.Rank <> 2 || x.Shape.[1] <> s.Mean.Numel then
                invalidArg "inputs" (sprintf "GfkdPriors.batchNorm: a batch-norm input must be [nodes, %d], got %s" s.Mean.Numel (Shape.describe x.Shape))
            let mu = Reduce.meanAxis 0 false x
            let var = Reduce.meanAxis 0 false (Elementwise.square (x - mu))
            match form with
            | BnPriorForm.Raw -> norm (mu - s.Mean) + norm (var - s.Var)
            | BnPriorForm.Standardized ->
                let v = s.Var + 1e-5f
                norm ((mu - s.Mean) / Elementwise.sqrt v) + norm ((var - s.Var) / v)) inputs running
        |> List.reduce (+)

    /// The released form (BnPriorForm.Raw).
    let batchNorm (inputs: Tensor list) (running: BatchNormStats list) : Tensor = batchNormWith BnPriorForm.Raw inputs running

    /// Mean over rows of the entropy of softmax(logits) (0 for one-hot rows; the one-hot prior).
    let entropy (logits: Tensor) : Tensor =
        if logits.Rank <> 2 || logits.Shape.[0] = 0 then
            invalidArg "logits" (sprintf "GfkdPriors.entropy: logits must be a non-empty [rows, classes] matrix, got %s" (Shape.describe logits.Shape))
        let p = Reduce.softmax logits
        -(Reduce.sum (p * Reduce.logSoftmax logits)) * (1.0f / float32 logits.Shape.[0])

    /// The density prior of one graph: (density - target)^2.
    let density (target: float) (density: float) = (density - target) * (density - target)

    /// The density (edges over candidate unordered pairs) of undirected graphs without self-loops, averaged.
    let meanDensity (graphs: GraphSample[]) : float =
        if isNull graphs || graphs.Length = 0 then invalidArg "graphs" "GfkdPriors.meanDensity: needs at least one graph"
        graphs |> Array.averageBy (fun g -> FakeGraphs.density g.Adj)
