/// GFKD's fake graphs (Deng & Zhang 2021; shared/METHODS.md section 2): per graph, free Bernoulli logits over its
/// candidate edges and, unless features are derived from the structure, free feature logits; node counts and
/// target labels are drawn once and fixed. There is no generator network.
namespace GcnKd

open System

/// Which node pairs carry a structure variable.
[<RequireQualifiedAccess>]
type StructureMode =
    /// One variable per unordered pair {i, j}, i < j: the sampled graph is undirected (the default; real TU and GIN
    /// graphs are undirected).
    | Symmetric
    /// One variable per ordered pair (i, j), i <> j, as the released code (directed graphs).
    | Directed
    /// The multinomial mode: node i draws `budget` neighbours from a categorical over the other nodes (logits laid
    /// out as Directed, one row of n - 1 per node); the graph is the symmetrised union of the draws
    /// (CategoricalStructure). Trained with the score-function estimator.
    | Multinomial of budget: int

/// Where a fake graph's node features come from.
[<RequireQualifiedAccess>]
type FakeFeatures =
    /// Learned logits [n, width]; the teacher sees softmax(logits) and export takes the one-hot argmax.
    | Learned of width: int
    /// One-hot degree over a sorted vocabulary of degree values (GIN's degree_as_tag, e.g. IMDB-BINARY's 65 values),
    /// computed from the sampled structure; a degree missing from the vocabulary takes the largest value not above it
    /// (or the smallest value). Only the structure is learned.
    | Degree of vocabulary: int[]

    member f.Width =
        match f with
        | Learned w -> w
        | Degree v -> v.Length

/// What the teacher sees of learned feature logits F while the fake graphs are fitted.
[<RequireQualifiedAccess>]
type FeatureRelaxation =
    /// softmax(F), as released: export then takes the one-hot argmax, which the teacher never saw.
    | Softmax
    /// The one-hot argmax of F in the forward pass (exactly what is exported), with softmax(F)'s gradient in the
    /// backward pass (straight-through, Bengio et al. 2013).
    | StraightThrough

/// The fixed part of a set of fake graphs.
type FakeGraphSpec =
    { NodeCounts: int[]
      Labels: int[]
      NumClasses: int
      Mode: StructureMode
      Features: FakeFeatures }

    member s.Count = s.NodeCounts.Length

/// The learned part: structure logits laid out graph by graph (FakeGraphs.layout), and feature logits
/// [total nodes, width] (an empty [0, 0] tensor for degree features).
type FakeGraphParams = { Structure: float32[]; Features: Tensor }

/// How node counts are drawn.
[<RequireQualifiedAccess>]
type NodeCountSource =
    /// Uniform over lo .. hi inclusive (the released code: 10 .. 29).
    | Range of lo: int * hi: int
    /// Resampled from given sizes (e.g. the real training graphs' node counts, when they may be used).
    | Empirical of sizes: int[]

[<RequireQualifiedAccess>]
module FakeGraphs =
    /// Candidate edges of a graph with n nodes, variable by variable: (destination, source) of each directed edge it
    /// switches on (two for a symmetric pair, one for a directed pair). Symmetric pairs come in the order
    /// (0,1) (0,2) .. (0,n-1) (1,2) ..; directed pairs row by row, (i, j) for every j <> i, where variable (i, j)
    /// is the edge i -> j (the released code's row i lists i's out-neighbours), i.e. destination j, source i.
    let variableCount (mode: StructureMode) (n: int) =
        match mode with
        | StructureMode.Symmetric -> n * (n - 1) / 2
        | StructureMode.Directed | StructureMode.Multinomial _ -> n * (n - 1)

    let pairs (mode: StructureMode) (n: int) : (int * int)[] =
        match mode with
        | StructureMode.Symmetric -> [| for i in 0 .. n - 1 do for j in i + 1 .. n - 1 -> i, j |]
        | StructureMode.Directed | StructureMode.Multinomial _ -> [| for i in 0 .. n - 1 do for j in 0 .. n - 1 do if i <> j then i, j |]

    /// The structure variables' layout for a spec.
    let layout (spec: FakeGraphSpec) = VariableLayout.ofCounts (spec.NodeCounts |> Array.map (variableCount spec.Mode))

    /// The multinomial mode's rows: node by node, n - 1 variables each (RowPtr over the flat logits).
    let rowPtr (spec: FakeGraphSpec) =
        Array.append [| 0 |] (spec.NodeCounts |> Array.collect (fun n -> Array.create n (n - 1)) |> Array.scan (+) 0 |> Array.tail)

    /// The most likely structure: 1[theta >= 0] for Bernoulli modes, each row's top `budget` for the multinomial.
    let mode (spec: FakeGraphSpec) (logits: float32[]) : bool[] =
        match spec.Mode with
        | StructureMode.Multinomial budget -> CategoricalStructure.mode (rowPtr spec) budget logits
        | _ -> StructureGradient.mode logits

    /// A structure-gradient estimate for the spec's mode (the multinomial mode takes REINFORCE with a baseline).
    let estimate (spec: FakeGraphSpec) (estimator: StructureEstimator) (objective: bool[] -> float[]) (logits: float32[]) (rng: Rng) : StructureEstimate =
        match spec.Mode, estimator with
        | StructureMode.Multinomial budget, StructureEstimator.Reinforce(k, true) -> CategoricalStructure.reinforce k (rowPtr spec) budget (layout spec) objective logits rng
        | StructureMode.Multinomial _, _ ->
            invalidArg "estimator" "FakeGraphs.estimate: the multinomial mode needs the score-function estimator with a baseline (Reinforce(K, true)); ARM is for Bernoulli variables"
        | _ -> StructureGradient.estimate estimator (layout spec) objective logits rng

    /// Check a spec (node counts >= 1, labels in range, a feature width >= 1, degree vocabulary sorted and distinct).
    let validate (spec: FakeGraphSpec) =
        let op = "FakeGraphs"
        if isNull spec.NodeCounts || spec.NodeCounts.Length = 0 then invalidArg "NodeCounts" (sprintf "%s: at least one fake graph is needed" op)
        if isNull spec.Labels || spec.Labels.Length <> spec.NodeCounts.Length then
            invalidArg "Labels" (sprintf "%s: %d labels for %d graphs" op (if isNull spec.Labels then 0 else spec.Labels.Length) spec.NodeCounts.Length)
        spec.NodeCounts |> Array.iteri (fun g n -> if n < 1 then invalidArg "NodeCounts" (sprintf "%s: graph %d has %d nodes; at least 1 is needed" op g n))
        if spec.NumClasses < 1 then invalidArg "NumClasses" (sprintf "%s: NumClasses must be >= 1, got %d" op spec.NumClasses)
        spec.Labels |> Array.iteri (fun g y ->
            if y < 0 || y >= spec.NumClasses then invalidArg "Labels" (sprintf "%s: graph %d's label %d is not in [0, %d)" op g y spec.NumClasses))
        match spec.Features with
        | FakeFeatures.Learned w when w < 1 -> invalidArg "Features" (sprintf "%s: the feature width must be >= 1, got %d" op w)
        | FakeFeatures.Degree v when isNull v || v.Length = 0 || Array.pairwise v |> Array.exists (fun (a, b) -> a >= b) ->
            invalidArg "Features" (sprintf "%s: the degree vocabulary must be non-empty, sorted and without repeats" op)
        | _ -> ()
        match spec.Mode with
        | StructureMode.Multinomial b when b < 1 -> invalidArg "Mode" (sprintf "%s: the multinomial degree budget must be >= 1, got %d" op b)
        | _ -> ()

    /// count labels as balanced as possible over the classes (class c appears floor or ceil of count / classes
    /// times), in a random order.
    let balancedLabels (count: int) (classes: int) (rng: Rng) : int[] =
        if count < 0 || classes < 1 then invalidArg "count" (sprintf "FakeGraphs.balancedLabels: needs count >= 0 and classes >= 1, got %d and %d" count classes)
        let perm = Rng.permutation count rng
        Array.init count (fun g -> perm.[g] % classes)

    /// Node counts for `count` graphs.
    let drawNodeCounts (source: NodeCountSource) (count: int) (rng: Rng) : int[] =
        match source with
        | NodeCountSource.Range(lo, hi) ->
            if lo < 1 || hi < lo then invalidArg "source" (sprintf "FakeGraphs.drawNodeCounts: the node-count range must satisfy 1 <= lo <= hi, got %d..%d" lo hi)
            Array.init count (fun g -> lo + Rng.intAt rng (int64 g) (hi - lo + 1))
        | NodeCountSource.Empirical sizes ->
            if isNull sizes || sizes.Length = 0 || Array.exists (fun s -> s < 1) sizes then
                invalidArg "source" "FakeGraphs.drawNodeCounts: the empirical sizes must be a non-empty list of positive node counts"
            Array.init count (fun g -> sizes.[Rng.intAt rng (int64 g) sizes.Length])

    /// The released initialisation: structure logits logit(p) with p ~ U(0, 1) (initial density about 1/2), plus
    /// `structureShift` (a negative shift starts sparser), and feature logits ~ N(0, 1).
    let init (spec: FakeGraphSpec) (structureShift: float32) (rng: Rng) : FakeGraphParams =
        validate spec
        let rs, rf = Rng.split rng
        let u = Array.zeroCreate<float32> (layout spec).Count
        Rng.fillOpenUniform rs 0L u
        let structure = u |> Array.map (fun p -> MathF.Log(p / (1.0f - p)) + structureShift)
        let features =
            match spec.Features with
            | FakeFeatures.Learned w -> Tensor.randn rf [| Array.sum spec.NodeCounts; w |]
            | FakeFeatures.Degree _ -> Tensor.zeros [| 0; 0 |]
        { Structure = structure; Features = features }

    /// Each graph's adjacency (row = destination) from a sample of the structure variables; no self-loops (the
    /// models add their own).
    let adjacencies (spec: FakeGraphSpec) (sample: bool[]) : Csr[] =
        let l = layout spec
        if isNull sample || sample.Length <> l.Count then
            invalidArg "sample" (sprintf "FakeGraphs.adjacencies: expected %d structure variables, got %d" l.Count (if isNull sample then 0 else sample.Length))
        spec.NodeCounts |> Array.mapi (fun g n ->
            let dst, src = ResizeArray(), ResizeArray()
            match spec.Mode with
            | StructureMode.Multinomial _ ->
                // the symmetrised union of the chosen (i -> j) draws, each undirected edge once
                let edges = Collections.Generic.HashSet<struct (int * int)>()
                pairs spec.Mode n |> Array.iteri (fun k (i, j) ->
                    if sample.[l.Offsets.[g] + k] && edges.Add(struct (min i j, max i j)) then
                        dst.Add j; src.Add i; dst.Add i; src.Add j)
            | _ ->
                pairs spec.Mode n |> Array.iteri (fun k (i, j) ->
                    if sample.[l.Offsets.[g] + k] then
                        dst.Add j
                        src.Add i
                        if spec.Mode = StructureMode.Symmetric then
                            dst.Add i
                            src.Add j)
            Csr.ofCoo n n (dst.ToArray()) (src.ToArray()) None)

    /// The degree one-hot of a graph over a vocabulary (see FakeFeatures.Degree).
    let degreeFeatures (vocabulary: int[]) (adj: Csr) : Tensor =
        let w = vocabulary.Length
        let data = Array.zeroCreate<float32> (adj.Rows * w)
        for i in 0 .. adj.Rows - 1 do
            let d = adj.RowPtr.[i + 1] - adj.RowPtr.[i]
            let k = Array.FindLastIndex(vocabulary, fun v -> v <= d)
            data.[i * w + max k 0] <- 1.0f
        Tensor.Wrap([| adj.Rows; w |], data)

    /// The one-hot argmax of each row of a [rows, width] matrix (the first maximum on ties); not differentiable.
    let oneHotArgmax (logits: Tensor) : Tensor =
        let rows, w = logits.Shape.[0], logits.Shape.[1]
        let data = Array.zeroCreate<float32> (rows * w)
        for i in 0 .. rows - 1 do
            let row = i * w
            let mutable best = 0
            for c in 1 .. w - 1 do if logits.Data.[row + c] > logits.Data.[row + best] then best <- c
            data.[row + best] <- 1.0f
        Tensor.Wrap([| rows; w |], data)

    /// Learned feature logits as the teacher sees them under a relaxation (differentiable in the logits). The
    /// straight-through form is onehot + (s - stop(s)): its value is the one-hot exactly (s - s is 0), its gradient
    /// softmax's.
    let relaxedFeatures (relaxation: FeatureRelaxation) (logits: Tensor) : Tensor =
        let s = Reduce.softmax logits
        match relaxation with
        | FeatureRelaxation.Softmax -> s
        | FeatureRelaxation.StraightThrough -> oneHotArgmax logits + (s - Autodiff.stopGradient s)

    /// The batch a teacher sees for a structure sample: the block-diagonal graph and its node features, the
    /// relaxed feature logits (differentiable) or the degree one-hot of the sampled graphs.
    let batch (spec: FakeGraphSpec) (relaxation: FeatureRelaxation) (p: FakeGraphParams) (sample: bool[]) : GraphBatch * Tensor =
        let adjs = adjacencies spec sample
        let b = Graph.batch adjs
        let x =
            match spec.Features with
            | FakeFeatures.Learned _ -> relaxedFeatures relaxation p.Features
            | FakeFeatures.Degree v -> Tensor.Wrap([| b.NumNodes; v.Length |], adjs |> Array.collect (fun a -> (degreeFeatures v a).Data))
        b, x

    /// A graph's density: stored entries over n (n - 1), i.e. undirected edges over unordered pairs for an
    /// undirected graph without self-loops (0 for one node).
    let density (a: Csr) = if a.Rows < 2 then 0.0 else float (Csr.nnz a) / float (a.Rows * (a.Rows - 1))

    /// The density of every graph of a block-diagonal batch, read from its row ranges.
    let batchDensities (b: GraphBatch) : float[] =
        Array.init b.NumGraphs (fun g ->
            let lo, hi = b.NodeOffsets.[g], b.NodeOffsets.[g + 1]
            let n = hi - lo
            if n < 2 then 0.0 else float (b.Adj.RowPtr.[hi] - b.Adj.RowPtr.[lo]) / float (n * (n - 1)))

    /// Each graph's density (see `density`) for a sample of the structure variables.
    let densities (spec: FakeGraphSpec) (sample: bool[]) : float[] = adjacencies spec sample |> Array.map density

    /// The exported graphs: the mode structure (see `mode`) and one-hot argmax features (or the degree one-hot),
    /// each with its target label; undirected when the mode is symmetric.
    let export (spec: FakeGraphSpec) (p: FakeGraphParams) : GraphSample[] =
        let adjs = adjacencies spec (mode spec p.Structure)
        let offsets = Array.scan (+) 0 spec.NodeCounts
        let oneHot = lazy (oneHotArgmax p.Features)
        adjs |> Array.mapi (fun g a ->
            let x =
                match spec.Features with
                | FakeFeatures.Learned w ->
                    Tensor.Wrap([| a.Rows; w |], oneHot.Value.Data.[offsets.[g] * w .. offsets.[g + 1] * w - 1])
                | FakeFeatures.Degree v -> degreeFeatures v a
            { Adj = a; Features = x; Label = spec.Labels.[g] })
