/// Dynamic graph CNN (Wang et al., ACM TOG 2019) for point-cloud classification. EdgeConv (eq. 7-8 with the
/// asymmetric edge function h_theta(x_i, x_j - x_i)):
///   h_i' = max_{j in kNN(i)} LeakyReLU(BN(W [h_i, h_j - h_i]))
/// with the kNN graph rebuilt in each layer's input feature space (layer 1 on the coordinates). Since
/// W [h_i, h_j - h_i] = (W_1 - W_2) h_i + W_2 h_j, each layer projects the nodes twice and adds the two per edge
/// (Sparse.edgeSum), never building the [nnz, 2 in] edge features. LeakyReLU is increasing, so it commutes with
/// the max and runs once per node after the max (the same values and gradients as the paper's order).
/// The released classifier follows: concatenation of the EdgeConv outputs, a shared linear layer to the embedding
/// (+BN, LeakyReLU), global max and mean pooling concatenated, and an MLP head (Linear-BN-LeakyReLU-Dropout).
namespace GcnKd

type DgcnnConfig =
    { InFeatures: int
      /// Output width of each EdgeConv layer (64-64-128-256 in the paper).
      EdgeWidths: int list
      /// Neighbours per point in every kNN graph (20).
      K: int
      /// Width of the shared per-point embedding before pooling (1024).
      Embedding: int
      /// Hidden widths of the classifier head (512, 256).
      HeadWidths: int list
      NumClasses: int
      /// Dropout after each hidden head layer (0.5).
      Dropout: float32
      NegativeSlope: float32
      Norm: NormSettings }

/// EdgeConv weight [2 in, out]: rows 0..in-1 read h_i, rows in..2 in-1 read h_j - h_i. No bias (batch norm follows).
type EdgeConvLayer = { W: Tensor; Norm: BatchNormParams }

/// Head.[l] maps the pooled features through the head; HeadNorms.[l] follows hidden head layer l. As in the
/// released code, the embedding and the first head layer have no bias.
type DgcnnParams =
    { EdgeConvs: EdgeConvLayer list
      Embed: Linear
      EmbedNorm: BatchNormParams
      Head: Linear list
      HeadNorms: BatchNormParams list }

type DgcnnState = { EdgeRunning: BatchNormStats list; EmbedRunning: BatchNormStats; HeadRunning: BatchNormStats list }

/// One pass with the kNN graph each EdgeConv layer used (row i lists i's neighbours), in layer order.
type DgcnnOutput = { Output: ModelOutput; State: DgcnnState; Graphs: Csr list }

[<RequireQualifiedAccess>]
module Dgcnn =
    /// The paper's ModelNet40 classifier: EdgeConv 64-64-128-256, k = 20, embedding 1024, head 512-256, dropout 0.5.
    let config (inFeatures: int) (numClasses: int) =
        { InFeatures = inFeatures; EdgeWidths = [ 64; 64; 128; 256 ]; K = 20; Embedding = 1024; HeadWidths = [ 512; 256 ]
          NumClasses = numClasses; Dropout = 0.5f; NegativeSlope = 0.2f; Norm = NormSettings.torch }

    let private validate (cfg: DgcnnConfig) =
        if List.isEmpty cfg.EdgeWidths then invalidArg "cfg" "Dgcnn: EdgeWidths needs at least one EdgeConv layer"
        if cfg.K < 1 then invalidArg "cfg" (sprintf "Dgcnn: K must be at least 1, got %d" cfg.K)
        if (cfg.InFeatures :: cfg.Embedding :: cfg.NumClasses :: cfg.EdgeWidths @ cfg.HeadWidths) |> List.exists (fun w -> w <= 0) then
            invalidArg "cfg" (sprintf "Dgcnn: every width must be positive (in %d, edge %A, embedding %d, head %A, classes %d)"
                                  cfg.InFeatures cfg.EdgeWidths cfg.Embedding cfg.HeadWidths cfg.NumClasses)

    let private headSizes (cfg: DgcnnConfig) = 2 * cfg.Embedding :: cfg.HeadWidths @ [ cfg.NumClasses ]

    /// torch defaults (uniform +-1/sqrt(fan in) for 1x1 convolutions and linear layers; batch norm (1, 0)).
    let init (cfg: DgcnnConfig) (rng: Rng) : DgcnnParams =
        validate cfg
        let k = Rng.splitN 3 rng
        let inputs = cfg.InFeatures :: cfg.EdgeWidths |> List.take cfg.EdgeWidths.Length
        let edgeKeys = Rng.splitN cfg.EdgeWidths.Length k.[0]
        let pairs = List.pairwise (headSizes cfg)
        let headKeys = Rng.splitN pairs.Length k.[2]
        { EdgeConvs =
            List.zip inputs cfg.EdgeWidths |> List.mapi (fun l (i, o) ->
                { W = Init.kaimingUniform edgeKeys.[l] (2 * i) [| 2 * i; o |]; Norm = fst (BatchNorm.init o) })
          Embed = Linear.initTorch k.[1] (List.sum cfg.EdgeWidths) cfg.Embedding false
          EmbedNorm = fst (BatchNorm.init cfg.Embedding)
          Head = pairs |> List.mapi (fun l (i, o) -> Linear.initTorch headKeys.[l] i o (l > 0))
          HeadNorms = cfg.HeadWidths |> List.map (fun w -> fst (BatchNorm.init w)) }

    let initState (cfg: DgcnnConfig) : DgcnnState =
        validate cfg
        { EdgeRunning = cfg.EdgeWidths |> List.map (fun w -> snd (BatchNorm.init w))
          EmbedRunning = snd (BatchNorm.init cfg.Embedding)
          HeadRunning = cfg.HeadWidths |> List.map (fun w -> snd (BatchNorm.init w)) }

    /// One EdgeConv on the graph `g` (row i = i's neighbours): max_j BN(W [h_i, h_j - h_i]) before the activation,
    /// and the updated batch-norm statistics (computed over all edges, as BatchNorm2d over [B, C, N, k]).
    let edgeConv (norm: NormSettings) (training: bool) (layer: EdgeConvLayer) (running: BatchNormStats) (g: Csr) (h: Tensor) =
        let inF = h.Shape.[1]
        if layer.W.Shape.[0] <> 2 * inF then
            invalidArg "h" (sprintf "Dgcnn.edgeConv: h has %d features but the weight %s expects %d" inF (Shape.describe layer.W.Shape) (layer.W.Shape.[0] / 2))
        let wNeigh = Reshape.sliceRows inF inF layer.W
        let towardSelf = Linalg.matmul h (Reshape.sliceRows 0 inF layer.W - wNeigh)
        let towardNeigh = Linalg.matmul h wNeigh
        let e, running' = NormSettings.apply norm training layer.Norm running (Sparse.edgeSum g towardSelf towardNeigh)
        Sparse.segmentMax (Csr.edgeRows g) g.Rows e, running'

    /// The full pass over a batch of point clouds: points [numPoints, InFeatures], nodeGraph the cloud of every
    /// point; `knn k x` returns the kNN graph of the rows of x within each cloud (Knn.graph k true nodeGraph
    /// numGraphs: the released code counts each point among its own k neighbours). Hidden holds, in order, each
    /// EdgeConv output before its LeakyReLU (per point, aligned with Graphs), the embedding's batch-norm output
    /// (per point) and each hidden head layer's batch-norm output (per cloud).
    let run (cfg: DgcnnConfig) (p: DgcnnParams) (state: DgcnnState) (ctx: ForwardContext) (knn: int -> Tensor -> Csr)
            (nodeGraph: int[]) (numGraphs: int) (points: Tensor) : DgcnnOutput =
        validate cfg
        if points.Rank <> 2 || points.Shape.[1] <> cfg.InFeatures || points.Shape.[0] <> nodeGraph.Length then
            invalidArg "points" (sprintf "Dgcnn.forward: points must be [%d, %d] (one row per entry of nodeGraph x InFeatures), got %s"
                                     nodeGraph.Length cfg.InFeatures (Shape.describe points.Shape))
        let n = points.Shape.[0]
        let act = Elementwise.leakyRelu cfg.NegativeSlope
        let hidden = ResizeArray()
        let graphs = ResizeArray()
        let edgeRunning = ResizeArray()
        let mutable h = points
        let outputs = ResizeArray()
        for layer, running in List.zip p.EdgeConvs state.EdgeRunning do
            let g = knn cfg.K h
            if g.Rows <> n || g.Cols <> n then
                invalidArg "knn" (sprintf "Dgcnn.forward: the kNN graph must be %d x %d, got %d x %d" n n g.Rows g.Cols)
            let z, running' = edgeConv cfg.Norm ctx.Training layer running g h
            hidden.Add z
            graphs.Add g
            edgeRunning.Add running'
            h <- act z
            outputs.Add h
        let emb, embRunning =
            NormSettings.apply cfg.Norm ctx.Training p.EmbedNorm state.EmbedRunning (Linear.apply p.Embed (Reshape.concat 1 (outputs.ToArray())))
        hidden.Add emb
        let e = act emb
        let mutable g =
            Reshape.concat 1 [| Sparse.segmentMax nodeGraph numGraphs e; Sparse.segmentMean nodeGraph numGraphs e |]
        let head = Array.ofList p.Head
        let norms = Array.ofList p.HeadNorms
        let headRunning = Array.ofList state.HeadRunning
        let keys = Rng.splitN head.Length ctx.Rng
        for l in 0 .. head.Length - 2 do
            let z, running' = NormSettings.apply cfg.Norm ctx.Training norms.[l] headRunning.[l] (Linear.apply head.[l] g)
            hidden.Add z
            headRunning.[l] <- running'
            g <- Dropout.apply keys.[l] cfg.Dropout ctx.Training (act z)
        { Output = { Logits = Linear.apply head.[head.Length - 1] g; Hidden = List.ofSeq hidden }
          State = { EdgeRunning = List.ofSeq edgeRunning; EmbedRunning = embRunning; HeadRunning = List.ofArray headRunning }
          Graphs = List.ofSeq graphs }

    /// Cloud logits [numGraphs, NumClasses] with the updated batch-norm state.
    let forward (cfg: DgcnnConfig) (p: DgcnnParams) (state: DgcnnState) (ctx: ForwardContext) (knn: int -> Tensor -> Csr)
                (nodeGraph: int[]) (numGraphs: int) (points: Tensor) : ModelOutput * DgcnnState =
        let r = run cfg p state ctx knn nodeGraph numGraphs points
        r.Output, r.State
