/// The graph classifiers of GFKD (Deng & Zhang, IJCAI 2021), whose code takes them from the GraphNorm repository
/// (Cai et al. 2021) with batch norm. Naming `<GCN|GIN><L>_<H>`: L counts the input as a layer, so GCN5_64 has
/// 4 message-passing layers of width 64. Layer i (0-based) computes
///   GCN: h' = ReLU(BN(Â h W + b))                       GIN: h' = ReLU(BN(MLP(h + sum_{j in N(i)} h_j)))
/// plus h itself for i >= 1 (residual); then sum pooling of the last layer, a linear head, dropout 0.5 on the logits.
namespace GcnKd

open System

type GfkdConv =
    | GcnConv
    | GinConv

type GfkdConfig =
    { Name: string
      Conv: GfkdConv
      /// Layers counting the input as one: NumLayers - 1 message-passing layers.
      NumLayers: int
      Width: int
      InFeatures: int
      NumClasses: int
      /// Dropout on the logits (0.5).
      FinalDropout: float32
      Pooling: GraphPooling
      /// Add a unit self-loop to every node before the layers see the graph (the released code's `--self_loop`,
      /// used for its teachers and students: GIN's sum then counts a node's own features twice, 2 h_i + sum_j h_j).
      SelfLoops: bool
      Norm: NormSettings }

/// A GCN block: DGL's GraphConv (Glorot weight, zero bias) and its batch norm.
type GfkdGcnLayer = { Conv: Linear; Norm: BatchNormParams }

type GfkdLayer =
    | GcnBlock of GfkdGcnLayer
    | GinBlock of GinLayer

type GfkdParams = { Layers: GfkdLayer list; Head: Linear }

type GfkdLayerState =
    | GcnBlockState of BatchNormStats
    | GinBlockState of GinLayerState

type GfkdState = { Layers: GfkdLayerState list }

/// One pass with the batch norms' inputs in network order (GFKD's batch-norm prior compares their batch
/// statistics with `runningStats` of the state, same order).
type GfkdOutput = { Output: ModelOutput; State: GfkdState; NormInputs: Tensor list }

[<RequireQualifiedAccess>]
module GfkdFamily =
    /// Every variant the released code defines.
    let knownNames =
        [ for conv in [ "GCN"; "GIN" ] do
              for layers in [ 5; 3; 2 ] do
                  for width in [ 64; 32 ] -> sprintf "%s%d_%d" conv layers width ]

    /// The config of a named model ("GCN5_64", "GIN3_32", ...) for a dataset's feature and class counts.
    let create (name: string) (inFeatures: int) (numClasses: int) : GfkdConfig =
        if not (List.contains name knownNames) then
            invalidArg "name" (sprintf "GfkdFamily.create: unknown model '%s'; known models: %s" name (String.concat ", " knownNames))
        if inFeatures <= 0 || numClasses <= 0 then
            invalidArg "inFeatures" (sprintf "GfkdFamily.create: %s needs positive feature and class counts, got %d and %d" name inFeatures numClasses)
        let parts = name.Substring(3).Split('_')
        { Name = name
          Conv = (if name.StartsWith "GCN" then GcnConv else GinConv)
          NumLayers = int parts.[0]
          Width = int parts.[1]
          InFeatures = inFeatures
          NumClasses = numClasses
          FinalDropout = 0.5f
          Pooling = SumPool
          SelfLoops = true
          Norm = NormSettings.torch }

    let private inputOf (cfg: GfkdConfig) (l: int) = if l = 0 then cfg.InFeatures else cfg.Width
    let private ginMlp (cfg: GfkdConfig) (l: int) = Gin.mlpConfig 2 cfg.Norm (inputOf cfg l) cfg.Width

    /// The adjacency the layers read: optional self-loops, then for GCN the symmetric normalisation
    /// D^-1/2 A D^-1/2 (DGL GraphConv's, with in-degrees); GIN sums the raw entries.
    let prepare (cfg: GfkdConfig) (adj: Csr) : Csr =
        let a = if cfg.SelfLoops then Graph.addSelfLoops adj else adj
        match cfg.Conv with
        | GcnConv -> Graph.symNorm a
        | GinConv -> a

    /// The batch with its adjacency prepared for the model.
    let prepareBatch (cfg: GfkdConfig) (batch: GraphBatch) : GraphBatch = { batch with Adj = prepare cfg batch.Adj }

    let init (cfg: GfkdConfig) (rng: Rng) : GfkdParams =
        let keys = Rng.splitN cfg.NumLayers rng
        { Layers =
            List.init (cfg.NumLayers - 1) (fun l ->
                match cfg.Conv with
                | GcnConv -> GcnBlock { Conv = Linear.initGlorot keys.[l] (inputOf cfg l) cfg.Width true; Norm = fst (BatchNorm.init cfg.Width) }
                | GinConv -> GinBlock (Gin.initLayer (ginMlp cfg l) false keys.[l]))
          Head = Linear.initTorch keys.[cfg.NumLayers - 1] cfg.Width cfg.NumClasses true }

    let initState (cfg: GfkdConfig) : GfkdState =
        { Layers =
            List.init (cfg.NumLayers - 1) (fun l ->
                match cfg.Conv with
                | GcnConv -> GcnBlockState (snd (BatchNorm.init cfg.Width))
                | GinConv -> GinBlockState (Gin.initLayerState (ginMlp cfg l))) }

    /// The running statistics of every batch norm, in the order of `GfkdOutput.NormInputs`.
    let runningStats (state: GfkdState) : BatchNormStats list =
        state.Layers |> List.collect (function
            | GcnBlockState s -> [ s ]
            | GinBlockState s -> s.Mlp.Running @ [ s.Norm ])

    /// The pass with message passing given as a function `propagate` (h -> Â h, the prepared adjacency applied to
    /// node rows) over a batch's nodes (`batch.Adj` is not read; its node-to-graph map is).
    let runWith (cfg: GfkdConfig) (p: GfkdParams) (state: GfkdState) (ctx: ForwardContext) (propagate: Tensor -> Tensor) (batch: GraphBatch) (x: Tensor) : GfkdOutput =
        if x.Rank <> 2 || x.Shape.[1] <> cfg.InFeatures || x.Shape.[0] <> batch.NumNodes then
            invalidArg "x" (sprintf "GfkdFamily.forward (%s): x must be [%d, %d] (the batch's nodes x InFeatures), got %s" cfg.Name batch.NumNodes cfg.InFeatures (Shape.describe x.Shape))
        let layers = Array.ofList p.Layers
        let states = Array.ofList state.Layers
        if layers.Length <> cfg.NumLayers - 1 || states.Length <> layers.Length then
            invalidArg "p" (sprintf "GfkdFamily.forward (%s): expected %d layers, got %d parameter and %d state layers" cfg.Name (cfg.NumLayers - 1) layers.Length states.Length)
        let hidden = ResizeArray()
        let normInputs = ResizeArray()
        let newStates = Array.copy states
        let mutable h = x
        for l in 0 .. layers.Length - 1 do
            let pre, out =
                match layers.[l], states.[l] with
                | GcnBlock b, GcnBlockState s ->
                    let z = Gcn.convWith propagate b.Conv h
                    normInputs.Add z
                    let pre, s' = NormSettings.apply cfg.Norm ctx.Training b.Norm s z
                    newStates.[l] <- GcnBlockState s'
                    pre, Elementwise.relu pre
                | GinBlock b, GinBlockState s ->
                    let r = Gin.layerWith (ginMlp cfg l) (FixedEps 0.0f) b s ctx propagate h
                    normInputs.AddRange r.NormInputs
                    newStates.[l] <- GinBlockState r.State
                    r.Pre, r.Output
                | _ -> invalidArg "state" (sprintf "GfkdFamily.forward (%s): layer %d's parameters and state are of different kinds" cfg.Name l)
            hidden.Add pre
            h <- if l = 0 then out else out + h
        let pooled = Gin.pool cfg.Pooling batch.NodeGraph batch.NumGraphs h
        let logits = Dropout.apply (fst (Rng.split ctx.Rng)) cfg.FinalDropout ctx.Training (Linear.apply p.Head pooled)
        { Output = { Logits = logits; Hidden = List.ofSeq hidden }
          State = { Layers = List.ofArray newStates }
          NormInputs = List.ofSeq normInputs }

    /// The full pass; `batch.Adj` must come from `prepare` (see `prepareBatch`), x is [numNodes, InFeatures].
    /// Hidden holds each layer's batch-norm output before its ReLU and residual.
    let run (cfg: GfkdConfig) (p: GfkdParams) (state: GfkdState) (ctx: ForwardContext) (batch: GraphBatch) (x: Tensor) : GfkdOutput =
        runWith cfg p state ctx (Sparse.spmm batch.Adj) batch x

    /// The message passing of a weighted adjacency with differentiable entry weights (`weights` [nnz] in the CSR
    /// order of `structure`, no self-loops in it), prepared as `prepare` does for unit weights: optional unit
    /// self-loops, then for GCN D^-1/2 (A + I) D^-1/2 with D the weighted in-degrees. For GFKD's DeepInvG (dense
    /// sigmoid edge weights). With all weights 1 it equals `run` on `prepare structure`.
    let weightedPropagate (cfg: GfkdConfig) (structure: Csr) (weights: Tensor) : Tensor -> Tensor =
        let loops = if cfg.SelfLoops then 1.0f else 0.0f
        match cfg.Conv with
        | GinConv -> fun h -> if cfg.SelfLoops then Sparse.spmmValues structure weights h + h else Sparse.spmmValues structure weights h
        | GcnConv ->
            let deg = Sparse.spmmValues structure weights (Tensor.ones [| structure.Cols; 1 |]) + loops
            // nodes of weighted degree 0 keep 0 (as symNorm)
            let dinv = Elementwise.pow -0.5f (Elementwise.clamp 1e-12f Single.MaxValue deg) * Elementwise.clamp 0.0f 1.0f (deg * 1e12f)
            fun h ->
                let agg = Sparse.spmmValues structure weights (h * dinv) * dinv
                if cfg.SelfLoops then agg + h * (dinv * dinv) else agg

    /// Graph logits [numGraphs, NumClasses] and hidden features, with the updated batch-norm state.
    let forward (cfg: GfkdConfig) (p: GfkdParams) (state: GfkdState) (ctx: ForwardContext) (batch: GraphBatch) (x: Tensor) : ModelOutput * GfkdState =
        let r = run cfg p state ctx batch x
        r.Output, r.State
