/// LSP: local structure preserving distillation (Yang et al., "Distilling Knowledge from Graph Convolutional
/// Networks", CVPR 2020, arXiv:2003.10477; shared/METHODS.md section 1). The local structure of node i is the
/// distribution over its in-edges
///     LS_i[j] = exp(score(z_i, z_j)) / sum_{k in N(i)} exp(score(z_i, z_k))          j in N(i)
/// and the loss is the mean over nodes with at least one in-edge of KL(LS^t_i || LS^s_i), teacher features held
/// constant. Graphs follow the Csr convention: row i = destination, its columns = the source nodes j in N(i); the
/// stored values are ignored (structure only) and duplicate entries count as separate edges.
namespace GcnKd

open System
open GcnKd.Kernels

/// The similarity inside the softmax of a local structure (higher = closer). Both models' scores are computed in
/// their own feature space, so teacher and student widths may differ.
[<RequireQualifiedAccess>]
type LspScore =
    /// -||x - y||^2 / (2 sigma^2): the log of an RBF kernel, the paper's best; sigma > 0.
    | Rbf of sigma: float32
    /// Rbf with a bandwidth set per side from the data: sigma^2 = scale * the mean of ||z_i - z_j||^2 over the
    /// graph's edges, computed separately for the teacher's and the student's features (the mean heuristic for
    /// kernel bandwidths). The scores are then invariant to rescaling either model's features, so a teacher with
    /// small-norm features and a student with batch-normed ones are compared at the same sharpness. The gradient
    /// includes the bandwidth's dependence on the student features. scale > 0.
    | AdaptiveRbf of scale: float32
    /// x . y (linear kernel).
    | Linear
    /// (x . y + c)^d (polynomial kernel), d >= 1 an integer.
    | Poly of c: float32 * d: int
    /// -||x - y||^2: the paper's base form (= Rbf with sigma = 1/sqrt 2).
    | SqDist
    /// exp(-||x - y||_1 / tau): what the released code computes (tau = 100), the softmax then taken over kernel
    /// values in (0, 1], so distributions stay close to uniform.
    | L1Exp of tau: float32

[<RequireQualifiedAccess>]
module LspScore =
    /// Rbf with sigma = 1 (G-CRD's exp(-||x - y||^2 / 2), Joshi et al.), the default.
    let defaultRbf = LspScore.Rbf 1.0f

    /// The released code's kernel: exp(-||x - y||_1 / 100).
    let released = LspScore.L1Exp 100.0f

    /// AdaptiveRbf with sigma^2 = the mean squared edge distance of each side.
    let defaultAdaptiveRbf = LspScore.AdaptiveRbf 1.0f

    /// The command-line names, in the order help texts list them.
    let names = [ "rbf"; "rbf-auto"; "linear"; "poly"; "sqdist"; "l1exp" ]

    /// The score for a command-line name with its default parameters: rbf (sigma 1), rbf-auto (sigma^2 = mean
    /// squared edge distance, per side), linear, poly (c 0, d 2, as Bahri et al.'s StructuralSimilarity), sqdist,
    /// l1exp (tau 100).
    let ofName (name: string) =
        match (if isNull name then "" else name.Trim().ToLowerInvariant()) with
        | "rbf" -> defaultRbf
        | "rbf-auto" -> defaultAdaptiveRbf
        | "linear" -> LspScore.Linear
        | "poly" -> LspScore.Poly(0.0f, 2)
        | "sqdist" -> LspScore.SqDist
        | "l1exp" -> released
        | _ -> invalidArg "name" (sprintf "LspScore.ofName: unknown score function '%s'; expected one of %s" name (String.Join(", ", names)))

    /// A short name with the parameters, for result tables ("rbf(sigma=1)").
    let describe (score: LspScore) =
        match score with
        | LspScore.Rbf sigma -> sprintf "rbf(sigma=%g)" sigma
        | LspScore.AdaptiveRbf scale -> sprintf "rbf-auto(sigma^2=%g*mean)" scale
        | LspScore.Linear -> "linear"
        | LspScore.Poly(c, d) -> sprintf "poly(c=%g,d=%d)" c d
        | LspScore.SqDist -> "sqdist"
        | LspScore.L1Exp tau -> sprintf "l1exp(tau=%g)" tau

    /// Reject parameters that make the score meaningless (naming the function that was called).
    let validate (op: string) (score: LspScore) =
        let positive (what: string) (v: float32) =
            if not (v > 0.0f) || Single.IsInfinity v then
                invalidArg "score" (sprintf "%s: %s must be a positive finite number, got %g" op what v)
        match score with
        | LspScore.Rbf sigma -> positive "Rbf sigma" sigma
        | LspScore.AdaptiveRbf scale -> positive "AdaptiveRbf scale" scale
        | LspScore.L1Exp tau -> positive "L1Exp tau" tau
        | LspScore.Poly(c, d) ->
            if Single.IsNaN c || Single.IsInfinity c then invalidArg "score" (sprintf "%s: Poly c must be finite, got %g" op c)
            if d < 1 then invalidArg "score" (sprintf "%s: Poly degree d must be at least 1, got %d" op d)
        | LspScore.Linear | LspScore.SqDist -> ()

/// How a score is built from one per-edge reduction of the two endpoint rows.
type internal EdgeReduction =
    | SquaredDistance
    | DotProduct
    | L1Distance

[<RequireQualifiedAccess>]
module LocalStructure =
    let private reduction (score: LspScore) =
        match score with
        | LspScore.Rbf _ | LspScore.AdaptiveRbf _ | LspScore.SqDist -> SquaredDistance
        | LspScore.Linear | LspScore.Poly _ -> DotProduct
        | LspScore.L1Exp _ -> L1Distance

    /// Score and d score / d raw from the per-edge reduction `raw`; `k` is AdaptiveRbf's coefficient
    /// -1 / (2 sigma^2) for this side (see adaptiveCoefficient; unused by the other scores).
    let inline private scoreOf (score: LspScore) (k: float32) (raw: float32) : struct (float32 * float32) =
        match score with
        | LspScore.Rbf sigma -> let k = -0.5f / (sigma * sigma) in struct (k * raw, k)
        | LspScore.AdaptiveRbf _ -> struct (k * raw, k)
        | LspScore.SqDist -> struct (-raw, -1.0f)
        | LspScore.Linear -> struct (raw, 1.0f)
        | LspScore.Poly(c, d) -> let b = raw + c in struct (pown b d, float32 d * pown b (d - 1))
        | LspScore.L1Exp tau -> let s = MathF.Exp(-raw / tau) in struct (s, -s / tau)

    /// The per-edge reduction of z's endpoint rows for every stored entry (i, j) of a: [nnz].
    let private rawEdges (kind: EdgeReduction) (a: Csr) (z: Tensor) =
        let d = z.Shape.[1]
        match kind with
        | SquaredDistance -> SparseKernels.edgeSqDist a.Rows a.RowPtr a.ColIdx z.Data z.Data d
        | DotProduct -> SparseKernels.edgeDot a.Rows a.RowPtr a.ColIdx z.Data z.Data d 1
        | L1Distance -> SparseKernels.edgeL1 a.Rows a.RowPtr a.ColIdx z.Data z.Data d

    /// The mean of the per-edge squared distances (float64) and AdaptiveRbf's coefficient -1 / (2 scale mean),
    /// 0 when every edge has zero length (all scores 0: uniform distributions).
    let private adaptiveCoefficient (score: LspScore) (raw: float32[]) : struct (float * float32) =
        match score with
        | LspScore.AdaptiveRbf scale when raw.Length > 0 ->
            let mutable total = 0.0
            for v in raw do total <- total + float v
            let mean = total / float raw.Length
            if mean > 0.0 then struct (mean, float32 (-0.5 / (float scale * mean))) else struct (mean, 0.0f)
        | _ -> struct (0.0, 0.0f)

    /// Check a square graph and node features [graph.Rows; d] (the message names the function and the argument).
    let internal checkInputs (op: string) (graphArg: string) (a: Csr) (features: (string * Tensor) list) =
        Csr.ensureValid a
        if a.Rows <> a.Cols then
            invalidArg graphArg (sprintf "%s: %s must be square (nodes x nodes), got %d x %d" op graphArg a.Rows a.Cols)
        for name, z in features do
            if isNull z then invalidArg name (sprintf "%s: %s is null" op name)
            if z.Rank <> 2 || z.Shape.[0] <> a.Rows then
                invalidArg name (sprintf "%s: %s must be [nodes; features] with %d rows (one per node of %s), got shape %s"
                                     op name a.Rows graphArg (Shape.describe z.Shape))

    /// Every node's endpoint rows both as destination (row o of A) and as source (row o of A^T): a row list
    /// (ptr, other node, edge id) so one pass gives d/dz_o of a sum of per-edge terms f(z_i, z_j) symmetric in its
    /// arguments, each node's terms summed in a fixed order (its in-edges, then its out-edges).
    let private incidence (a: Csr) =
        let plan = Csr.transposePlan a
        let n = a.Rows
        let ptr = Array.zeroCreate<int> (n + 1)
        for o in 0 .. n - 1 do
            ptr.[o + 1] <- ptr.[o] + (a.RowPtr.[o + 1] - a.RowPtr.[o]) + (plan.RowPtr.[o + 1] - plan.RowPtr.[o])
        let other = Array.zeroCreate<int> ptr.[n]
        let edge = Array.zeroCreate<int> ptr.[n]
        for o in 0 .. n - 1 do
            let mutable k = ptr.[o]
            for e in a.RowPtr.[o] .. a.RowPtr.[o + 1] - 1 do
                other.[k] <- a.ColIdx.[e]
                edge.[k] <- e
                k <- k + 1
            for p in plan.RowPtr.[o] .. plan.RowPtr.[o + 1] - 1 do
                other.[k] <- plan.Src.[p]
                edge.[k] <- plan.Perm.[p]
                k <- k + 1
        ptr, other, edge

    /// Differentiable per-edge scores score(z_i, z_j) for every stored entry (i, j), [nnz] in CSR order, composed
    /// from the graph ops (gradients reach z through both endpoints).
    let edgeScores (score: LspScore) (graph: Csr) (z: Tensor) : Tensor =
        LspScore.validate "LocalStructure.edgeScores" score
        checkInputs "LocalStructure.edgeScores" "graph" graph [ "z", z ]
        match score with
        | LspScore.Rbf sigma -> Sparse.edgeSqDist graph z z * (-0.5f / (sigma * sigma))
        | LspScore.AdaptiveRbf scale ->
            let sq = Sparse.edgeSqDist graph z z
            let mean = Reduce.mean sq
            if Csr.nnz graph = 0 || not (mean.Item0 > 0.0f) then sq * 0.0f else sq / (mean * (-2.0f * scale))
        | LspScore.SqDist -> -(Sparse.edgeSqDist graph z z)
        | LspScore.Linear -> Sparse.edgeDot graph z z
        | LspScore.Poly(c, d) -> Elementwise.pow (float32 d) (Sparse.edgeDot graph z z + c)
        | LspScore.L1Exp tau -> Elementwise.exp (Sparse.edgeL1 graph z z * (-1.0f / tau))

    /// The local structure LS_i[j] of every node as probabilities over its in-edges, [nnz] in CSR order
    /// (differentiable; each non-empty row sums to 1).
    let distribution (score: LspScore) (graph: Csr) (z: Tensor) : Tensor =
        Sparse.segmentSoftmax graph (edgeScores score graph z)

    /// L_LSP = (1 / |V'|) sum_{i in V'} KL(LS^t_i || LS^s_i), V' = nodes with at least one in-edge (0 when there is
    /// no edge at all), as one fused op: per-edge scores from the SIMD edge kernels, then per row the two
    /// log-partitions (max subtracted, in double) and sum_j p_t (log p_t - log p_s). The teacher is read as a
    /// constant (detached); the gradient reaches the student only:
    ///     dL / d score_s(e) = (p_s(e) - p_t(e)) / |V'|,
    /// chained through d score / d raw and the endpoint derivative of the raw reduction, summed per node over its
    /// in- and out-edges in one fixed-order pass (bit-identical for any thread count).
    let loss (score: LspScore) (graph: Csr) (teacher: Tensor) (student: Tensor) : Tensor =
        LspScore.validate "LocalStructure.loss" score
        checkInputs "LocalStructure.loss" "graph" graph [ "teacher", teacher; "student", student ]
        let a = graph
        let n = a.Rows
        let kind = reduction score
        let rawT, rawS = rawEdges kind a teacher, rawEdges kind a student
        let nnz = rawS.Length
        let struct (_, kT) = adaptiveCoefficient score rawT
        let struct (meanS, kS) = adaptiveCoefficient score rawS
        // per edge: both scores and d score_s / d raw_s, then dL/d raw_s(e) up to the factor 1/|V'|; per row: KL
        let scT = Array.zeroCreate<float32> nnz
        let scS = Array.zeroCreate<float32> nnz
        let dRaw = Array.zeroCreate<float32> nnz
        let rowKl = Array.zeroCreate<float> n
        SparseKernels.forRows n a.RowPtr 40 (fun lo hi ->
            for i in lo .. hi - 1 do
                let p0, p1 = a.RowPtr.[i], a.RowPtr.[i + 1]
                if p1 > p0 then
                    let mutable mt = Double.NegativeInfinity
                    let mutable ms = Double.NegativeInfinity
                    for e in p0 .. p1 - 1 do
                        let struct (t, _) = scoreOf score kT rawT.[e]
                        let struct (s, ds) = scoreOf score kS rawS.[e]
                        scT.[e] <- t
                        scS.[e] <- s
                        dRaw.[e] <- ds
                        mt <- max mt (float t)
                        ms <- max ms (float s)
                    let mutable zt = 0.0
                    let mutable zs = 0.0
                    for e in p0 .. p1 - 1 do
                        zt <- zt + Math.Exp(float scT.[e] - mt)
                        zs <- zs + Math.Exp(float scS.[e] - ms)
                    let ct, cs = mt + Math.Log zt, ms + Math.Log zs
                    let mutable kl = 0.0
                    for e in p0 .. p1 - 1 do
                        let lpt = float scT.[e] - ct
                        let lps = float scS.[e] - cs
                        let pt = Math.Exp lpt
                        kl <- kl + pt * (lpt - lps)
                        dRaw.[e] <- float32 ((Math.Exp lps - pt) * float dRaw.[e])
                    // KL >= 0; rounding can leave a row whose two distributions (nearly) agree a few ulps below
                    rowKl.[i] <- max kl 0.0)
        // AdaptiveRbf: score_s(e) = k_s raw_e with k_s = -1 / (2 scale mean(raw)), so d score_s(e) / d raw_f =
        // k_s [e = f] - k_s raw_e / (mean nnz); with dRaw(e) = k_s dL/dscore_s(e) the second part is one constant
        // subtracted from every edge
        if kS <> 0.0f then
            let mutable dot = 0.0
            for e in 0 .. nnz - 1 do dot <- dot + float dRaw.[e] * float rawS.[e]
            let shift = float32 (dot / (meanS * float nnz))
            for e in 0 .. nnz - 1 do dRaw.[e] <- dRaw.[e] - shift
        let mutable count = 0
        let mutable total = 0.0
        for i in 0 .. n - 1 do
            if a.RowPtr.[i + 1] > a.RowPtr.[i] then
                count <- count + 1
                total <- total + rowKl.[i]
        let value = if count = 0 then 0.0f else float32 (total / float count)
        Tensor.Make([||], [| value |], "localStructureLoss", [| student |], fun g ->
            if not student.RequiresGrad then [| null |]
            elif count = 0 then [| Tensor.zeros student.Shape |]
            else
                let ptr, other, edge = incidence a
                let d = student.Shape.[1]
                let scale = g.Item0 / float32 count
                let z = student.Data
                let dz =
                    match kind with
                    | SquaredDistance ->
                        // d ||x - y||^2 / dx = 2 (x - y), symmetric in the endpoints
                        let w = edge |> Array.map (fun e -> 2.0f * scale * dRaw.[e])
                        SparseKernels.diffSum n ptr other w z z d
                    | DotProduct ->
                        let w = edge |> Array.map (fun e -> scale * dRaw.[e])
                        SparseKernels.spmm n ptr other w 1 z d
                    | L1Distance ->
                        let w = edge |> Array.map (fun e -> scale * dRaw.[e])
                        SparseKernels.signDiffSum n ptr other w z z d
                [| Tensor.Wrap(student.Shape, dz) |])
