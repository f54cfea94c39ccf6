/// Graph isomorphism network (Xu et al., ICLR 2019), the graph-classification model of the paper's code
/// (powerful-gnns): each layer h_i' = ReLU(BN(MLP((1 + eps) h_i + sum_{j in N(i)} h_j))) (eq. 4.1) with a 2-layer
/// MLP Linear-BN-ReLU-Linear; the readout sums every layer's pooled features, input included, through one linear
/// head per layer, dropout on each head's scores (eq. 4.2).
namespace GcnKd

/// The (1 + eps) weight of a node's own features: fixed (GIN-0 is FixedEps 0) or a learned scalar per layer.
type GinEps =
    | FixedEps of float32
    | LearnedEps

/// How node features become graph features.
type GraphPooling =
    | SumPool
    | MeanPool
    | MaxPool

type GinConfig =
    { InFeatures: int
      /// Width of every GIN layer (64 or 32 in the paper's tuning grid).
      Width: int
      /// Layers counting the input as one (the paper's 5 = 4 GIN layers + the input readout).
      NumLayers: int
      NumClasses: int
      /// Linear layers per MLP (2 in the paper).
      MlpLayers: int
      Eps: GinEps
      /// Dropout on each readout head's scores (0.5 in the paper).
      FinalDropout: float32
      Pooling: GraphPooling
      Norm: NormSettings
      /// Per GIN layer, the widths of its MLP's layers (MlpLayers of them, the last being the layer's output); None
      /// is Width everywhere. A thinned GIN (evolutionary compression) has its own widths per layer.
      LayerWidths: int list list option }

/// One GIN layer: the MLP, the batch norm that follows it, and eps when learned ([1], initialised to 0).
type GinLayer = { Mlp: MlpParams; Norm: BatchNormParams; Eps: Tensor option }

type GinLayerState = { Mlp: MlpState; Norm: BatchNormStats }

/// Layers.[l] is GIN layer l + 1; Heads.[l] reads the pooled features of layer l (Heads.[0] the input features).
type GinParams = { Layers: GinLayer list; Heads: Linear list }

type GinState = { Layers: GinLayerState list }

/// One layer's pass: Output = ReLU(Pre), Pre = BN(MLP(aggregate)) (the pre-activation), the updated state and the
/// inputs of the layer's batch norms in order (MLP's first).
type GinLayerOutput = { Output: Tensor; Pre: Tensor; State: GinLayerState; NormInputs: Tensor list }

[<RequireQualifiedAccess>]
module Gin =
    /// The paper's model for `NumLayers` = 5, width 64, GIN-0 (eps fixed at 0), sum readout, dropout 0.5.
    let config (inFeatures: int) (numClasses: int) =
        { InFeatures = inFeatures; Width = 64; NumLayers = 5; NumClasses = numClasses; MlpLayers = 2
          Eps = FixedEps 0.0f; FinalDropout = 0.5f; Pooling = SumPool; Norm = NormSettings.torch; LayerWidths = None }

    /// The MLP of a layer reading `inF` features: Linear-BN-ReLU-...-Linear to `width`.
    let mlpConfig (mlpLayers: int) (norm: NormSettings) (inF: int) (width: int) =
        if mlpLayers < 1 then invalidArg "mlpLayers" (sprintf "Gin: an MLP needs at least one layer, got %d" mlpLayers)
        { Sizes = inF :: List.replicate mlpLayers width; Activation = Relu; Dropout = 0.0f; BatchNorm = true; Norm = norm; Bias = true }

    let private validate (cfg: GinConfig) =
        if cfg.NumLayers < 2 then
            invalidArg "cfg" (sprintf "Gin: NumLayers counts the input, so it must be at least 2, got %d" cfg.NumLayers)
        match cfg.LayerWidths with
        | Some ws when ws.Length <> cfg.NumLayers - 1 || ws |> List.exists (fun w -> w.Length <> cfg.MlpLayers || List.exists (fun x -> x < 1) w) ->
            invalidArg "cfg" (sprintf "Gin: LayerWidths needs %d layers of %d positive widths each, got %A" (cfg.NumLayers - 1) cfg.MlpLayers ws)
        | _ -> ()

    /// Every GIN layer's MLP widths after its input (the last is the layer's output width).
    let layerWidths (cfg: GinConfig) =
        match cfg.LayerWidths with
        | Some ws -> ws
        | None -> List.replicate (cfg.NumLayers - 1) (List.replicate cfg.MlpLayers cfg.Width)

    /// Widths of the features each readout head reads: the input, then every GIN layer's output.
    let readoutWidths (cfg: GinConfig) = cfg.InFeatures :: (layerWidths cfg |> List.map List.last)

    /// Every GIN layer's MLP (input included).
    let layerMlps (cfg: GinConfig) =
        List.zip (readoutWidths cfg |> List.take (cfg.NumLayers - 1)) (layerWidths cfg)
        |> List.map (fun (i, ws) -> { mlpConfig cfg.MlpLayers cfg.Norm i (List.head ws) with Sizes = i :: ws })

    let initLayer (mlp: MlpConfig) (learnedEps: bool) (rng: Rng) : GinLayer =
        { Mlp = Mlp.init mlp rng
          Norm = fst (BatchNorm.init (List.last mlp.Sizes))
          Eps = if learnedEps then Some (Tensor.zeros [| 1 |]) else None }

    let initLayerState (mlp: MlpConfig) : GinLayerState =
        { Mlp = Mlp.initState mlp; Norm = snd (BatchNorm.init (List.last mlp.Sizes)) }

    /// torch defaults: Linear layers uniform(+-1/sqrt(in)), batch norm (1, 0), learned eps 0.
    let init (cfg: GinConfig) (rng: Rng) : GinParams =
        validate cfg
        let keys = Rng.splitN (2 * cfg.NumLayers) rng
        let learned = (cfg.Eps = LearnedEps)
        { Layers = layerMlps cfg |> List.mapi (fun l mlp -> initLayer mlp learned keys.[l])
          Heads = readoutWidths cfg |> List.mapi (fun l w -> Linear.initTorch keys.[cfg.NumLayers + l] w cfg.NumClasses true) }

    let initState (cfg: GinConfig) : GinState =
        validate cfg
        { Layers = layerMlps cfg |> List.map initLayerState }

    /// (1 + eps) h_i + sum_{j in N(i)} h_j, the neighbour sum given as a function (a fixed or a differentiable
    /// weighted adjacency).
    let aggregateWith (propagate: Tensor -> Tensor) (eps: GinEps) (learned: Tensor option) (h: Tensor) =
        let neigh = propagate h
        match eps, learned with
        | LearnedEps, Some e -> neigh + h * (e + 1.0f)
        | LearnedEps, None -> invalidArg "learned" "Gin.aggregate: eps is learned but the layer has no Eps parameter"
        | FixedEps 0.0f, _ -> neigh + h
        | FixedEps e, _ -> neigh + h * (1.0f + e)

    /// (1 + eps) h_i + sum_{j in N(i)} h_j, with `adj` the raw adjacency (row = destination).
    let aggregate (adj: Csr) (eps: GinEps) (learned: Tensor option) (h: Tensor) = aggregateWith (Sparse.spmm adj) eps learned h

    /// One GIN layer (aggregate, MLP, batch norm, ReLU); `ctx.Rng` is unused (the MLP has no dropout).
    let layerWith (mlp: MlpConfig) (eps: GinEps) (p: GinLayer) (state: GinLayerState) (ctx: ForwardContext) (propagate: Tensor -> Tensor) (h: Tensor) : GinLayerOutput =
        let m = Mlp.run mlp p.Mlp state.Mlp ctx (aggregateWith propagate eps p.Eps h)
        let pre, running = NormSettings.apply mlp.Norm ctx.Training p.Norm state.Norm m.Output
        { Output = Elementwise.relu pre
          Pre = pre
          State = { Mlp = m.State; Norm = running }
          NormInputs = m.NormInputs @ [ m.Output ] }

    /// One GIN layer on a fixed adjacency.
    let layer (mlp: MlpConfig) (eps: GinEps) (p: GinLayer) (state: GinLayerState) (ctx: ForwardContext) (adj: Csr) (h: Tensor) : GinLayerOutput =
        layerWith mlp eps p state ctx (Sparse.spmm adj) h

    /// Graph features [numGraphs, d] from node features, pooled per graph of the batch.
    let pool (pooling: GraphPooling) (nodeGraph: int[]) (numGraphs: int) (h: Tensor) =
        match pooling with
        | SumPool -> Sparse.segmentSum nodeGraph numGraphs h
        | MeanPool -> Sparse.segmentMean nodeGraph numGraphs h
        | MaxPool -> Sparse.segmentMax nodeGraph numGraphs h

    /// Graph logits [numGraphs, NumClasses]; `batch.Adj` is the raw block-diagonal adjacency (no self-loops: the
    /// (1 + eps) term counts each node once), x [numNodes, InFeatures]. Hidden holds each GIN layer's BN output
    /// before its ReLU.
    let forward (cfg: GinConfig) (p: GinParams) (state: GinState) (ctx: ForwardContext) (batch: GraphBatch) (x: Tensor) : ModelOutput * GinState =
        validate cfg
        if x.Rank <> 2 || x.Shape.[1] <> cfg.InFeatures || x.Shape.[0] <> batch.NumNodes then
            invalidArg "x" (sprintf "Gin.forward: x must be [%d, %d] (the batch's nodes x InFeatures), got %s" batch.NumNodes cfg.InFeatures (Shape.describe x.Shape))
        let layers = Array.ofList p.Layers
        let states = Array.ofList state.Layers
        let heads = Array.ofList p.Heads
        let keys = Rng.splitN heads.Length ctx.Rng
        let mlps = Array.ofList (layerMlps cfg)
        let readout l h =
            let scores = Linear.apply heads.[l] (pool cfg.Pooling batch.NodeGraph batch.NumGraphs h)
            Dropout.apply keys.[l] cfg.FinalDropout ctx.Training scores
        let hidden = ResizeArray()
        let newStates = Array.copy states
        let mutable h = x
        let mutable logits = readout 0 x
        for l in 0 .. layers.Length - 1 do
            let r = layer mlps.[l] cfg.Eps layers.[l] states.[l] ctx batch.Adj h
            hidden.Add r.Pre
            newStates.[l] <- r.State
            h <- r.Output
            logits <- logits + readout (l + 1) h
        { Logits = logits; Hidden = List.ofSeq hidden }, { Layers = List.ofArray newStates }
