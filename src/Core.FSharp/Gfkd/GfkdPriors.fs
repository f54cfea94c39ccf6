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

/// Which batch the structure estimator scores a graph's sample in (the per-graph objective's batch-norm term).
[<RequireQualifiedAccess>]
type BnCredit =
    /// The whole sampled batch, as released: every graph gets the same batch-level value, so a graph's own effect
    /// on the prior is buried under the other graphs' sampling noise.
    | Batch
    /// The reference batch (the mode structure) with only that graph's sample swapped in: the prior's change that
    /// its own sample causes. The teacher runs in evaluation mode, so a graph's batch-norm inputs depend on that
    /// graph alone and the swap is exact from per-graph moments (GfkdPriors.perGraphBatchNorm).
    | PerGraph

/// One graph's (or a batch's) sufficient statistics of a batch-norm input [rows, C]: its row count and per-channel
/// sums of x and x^2, in float64.
type NormMoments = { Count: float; Sum: float[]; SumSq: float[] }

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

    /// Each graph's moments of every batch-norm input of a block-diagonal batch ([graph][norm]); the inputs' rows are
    /// the batch's nodes.
    let graphMoments (b: GraphBatch) (inputs: Tensor list) : NormMoments[][] =
        let inputs = Array.ofList inputs
        inputs |> Array.iter (fun x ->
            if x.Rank <> 2 || x.Shape.[0] <> b.NumNodes then
                invalidArg "inputs" (sprintf "GfkdPriors.graphMoments: a batch-norm input must be [%d nodes, C], got %s" b.NumNodes (Shape.describe x.Shape)))
        Array.init b.NumGraphs (fun g ->
            let lo, hi = b.NodeOffsets.[g], b.NodeOffsets.[g + 1]
            inputs |> Array.map (fun x ->
                let c = x.Shape.[1]
                let sum, sq = Array.zeroCreate<float> c, Array.zeroCreate<float> c
                for i in lo .. hi - 1 do
                    for k in 0 .. c - 1 do
                        let v = float x.Data.[i * c + k]
                        sum.[k] <- sum.[k] + v
                        sq.[k] <- sq.[k] + v * v
                { Count = float (hi - lo); Sum = sum; SumSq = sq }))

    let private combine (sign: float) (a: NormMoments) (b: NormMoments) =
        { Count = a.Count + sign * b.Count
          Sum = Array.map2 (fun x y -> x + sign * y) a.Sum b.Sum
          SumSq = Array.map2 (fun x y -> x + sign * y) a.SumSq b.SumSq }

    /// The batch-norm prior (batchNormWith's formula, in float64) of a batch given by each norm's pooled moments.
    let batchNormOfMoments (form: BnPriorForm) (moments: NormMoments[]) (running: BatchNormStats list) : float =
        let running = Array.ofList running
        if moments.Length <> running.Length then
            invalidArg "running" (sprintf "GfkdPriors.batchNormOfMoments: %d batch-norm inputs but %d running statistics" moments.Length running.Length)
        let l2 (v: float[]) = sqrt ((v |> Array.sumBy (fun x -> x * x)) + 1e-12)
        Array.map2 (fun (m: NormMoments) (s: BatchNormStats) ->
            let mu = m.Sum |> Array.map (fun x -> x / m.Count)
            let var = Array.map2 (fun q u -> max 0.0 (q / m.Count - u * u)) m.SumSq mu
            let rm, rv = s.Mean.Data |> Array.map float, s.Var.Data |> Array.map float
            match form with
            | BnPriorForm.Raw -> l2 (Array.map2 (-) mu rm) + l2 (Array.map2 (-) var rv)
            | BnPriorForm.Standardized ->
                l2 (Array.init mu.Length (fun k -> (mu.[k] - rm.[k]) / sqrt (rv.[k] + 1e-5)))
                + l2 (Array.init mu.Length (fun k -> (var.[k] - rv.[k]) / (rv.[k] + 1e-5)))) moments running
        |> Array.sum

    /// BnCredit.PerGraph: for every graph g, the prior of the reference batch with graph g's moments replaced by the
    /// sample's (both [graph][norm], the same graphs).
    let perGraphBatchNorm (form: BnPriorForm) (running: BatchNormStats list) (reference: NormMoments[][]) (sample: NormMoments[][]) : float[] =
        if reference.Length <> sample.Length || reference.Length = 0 then
            invalidArg "sample" (sprintf "GfkdPriors.perGraphBatchNorm: %d reference graphs, %d sampled ones" reference.Length sample.Length)
        let total = reference |> Array.reduce (Array.map2 (combine 1.0))
        Array.init sample.Length (fun g ->
            let swapped = Array.map3 (fun t r s -> combine 1.0 (combine -1.0 t r) s) total reference.[g] sample.[g]
            batchNormOfMoments form swapped running)

    /// The node-feature shares a teacher implies, read from its parameters alone: its first batch norm normalises
    /// z = a W + b, with `a` a node's aggregated input features (W [in, C], b [C]), so its running mean is E[a] W + b
    /// and E[a] is the least-squares solution of m W = mu_running - b (exact when W has full row rank and the
    /// statistics are converged). Clipped at 0 and normalised to sum 1. For one-hot features and a mean-type
    /// aggregation (GCN) these are the training nodes' feature shares; for GIN's sum they are weighted by
    /// 2 + degree per feature value (MUTAG: 0.71 0.12 0.15 ... for GCN5_64, 0.75 0.12 0.13 ... for GIN5_64, against
    /// the training graphs' 0.71 0.10 0.18 ...).
    let impliedInputShares (w: Tensor) (b: Tensor option) (running: BatchNormStats) : float[] =
        if w.Rank <> 2 || w.Shape.[1] <> running.Mean.Numel then
            invalidArg "w" (sprintf "GfkdPriors.impliedInputShares: the first layer's weight must be [in, %d], got %s" running.Mean.Numel (Shape.describe w.Shape))
        let n, c = w.Shape.[0], w.Shape.[1]
        let wd i k = float w.Data.[i * c + k]
        let rhs = Array.init c (fun k -> float running.Mean.Data.[k] - (match b with Some b -> float b.Data.[k] | None -> 0.0))
        // normal equations (W W^T) m = W rhs, solved by Gaussian elimination with partial pivoting; a tiny ridge keeps
        // them solvable when W is rank-deficient
        let a = Array2D.init n n (fun i j -> (Seq.init c (fun k -> wd i k * wd j k) |> Seq.sum) + (if i = j then 1e-9 else 0.0))
        let r = Array.init n (fun i -> Seq.init c (fun k -> wd i k * rhs.[k]) |> Seq.sum)
        for col in 0 .. n - 1 do
            let piv = seq { col .. n - 1 } |> Seq.maxBy (fun i -> abs a.[i, col])
            if piv <> col then
                for j in 0 .. n - 1 do
                    let t = a.[col, j] in a.[col, j] <- a.[piv, j]; a.[piv, j] <- t
                let t = r.[col] in r.[col] <- r.[piv]; r.[piv] <- t
            for i in col + 1 .. n - 1 do
                let f = a.[i, col] / a.[col, col]
                for j in col .. n - 1 do a.[i, j] <- a.[i, j] - f * a.[col, j]
                r.[i] <- r.[i] - f * r.[col]
        let m = Array.zeroCreate<float> n
        for i in n - 1 .. -1 .. 0 do
            m.[i] <- (r.[i] - (Seq.init (n - 1 - i) (fun d -> a.[i, i + 1 + d] * m.[i + 1 + d]) |> Seq.sum)) / a.[i, i]
        let clipped = m |> Array.map (max 0.0)
        let total = Array.sum clipped
        if total > 0.0 then clipped |> Array.map (fun v -> v / total) else Array.create n (1.0 / float n)

    /// The input-share prior: KL(target || q) with q the mean row of x [rows, width] (the fake nodes' feature
    /// distribution); 0 when they match. Differentiable in x.
    let inputShares (target: float[]) (x: Tensor) : Tensor =
        if x.Rank <> 2 || x.Shape.[1] <> target.Length then
            invalidArg "x" (sprintf "GfkdPriors.inputShares: x must be [rows, %d], got %s" target.Length (Shape.describe x.Shape))
        let q = Reduce.meanAxis 0 false x
        let t = Tensor.Wrap([| target.Length |], target |> Array.map float32)
        let negEntropy = target |> Array.sumBy (fun p -> if p > 0.0 then p * log p else 0.0)
        -(Reduce.sum (t * Elementwise.log (q + 1e-8f))) + float32 negEntropy

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
