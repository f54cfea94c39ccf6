/// Graph attention network (Velickovic et al., ICLR 2018). Per head k of a layer, with Wh the projected features:
///   e_ij = LeakyReLU(a_dst . Wh_i + a_src . Wh_j)        (eq. 1-3; i the destination, j a source in N(i))
///   alpha_ij = softmax_j e_ij                           (over the in-edges of i, self-loop included)
///   h_i' = sum_j alpha_ij Wh_j                           (eq. 4), heads concatenated (eq. 5) or averaged (eq. 6)
/// The score splits into per-node terms, so each layer computes two scores per node and head, adds them per edge
/// (Sparse.edgeSum), normalises per destination (segmentSoftmax) and aggregates all heads in one spmmValues.
namespace GcnKd

/// How a GAT layer adds its input back (residual connections, on every layer but the first as in DGL's GAT example).
type GatResidual =
    | NoResidual
    /// A bias-free linear projection of the input on every residual layer, even where the widths match: DGL <= 0.4's
    /// GATConv, which the LSP code ran (it is what makes the PPI teacher 3,640,748 parameters).
    | Projection
    /// The input itself where the widths match, a bias-free projection otherwise (current DGL and PyG).
    | IdentityOrProjection

type GatConfig =
    { InFeatures: int
      /// (heads, features per head) of each hidden layer; hidden layers concatenate their heads.
      Hidden: (int * int) list
      OutHeads: int
      OutFeatures: int
      /// Average the output heads (GAT's Cora and PPI models) rather than concatenating them.
      OutMean: bool
      /// Dropout probability on every layer's input features.
      FeatureDropout: float32
      /// Dropout probability on the attention coefficients.
      AttentionDropout: float32
      /// Slope of the LeakyReLU inside the attention score (0.2 in the paper).
      NegativeSlope: float32
      Residual: GatResidual
      /// A bias after the heads are combined ([heads * F] when concatenated, [F] when averaged), as in PyG.
      Bias: bool }

/// One attention layer: W [in, H*F]; AttnSrc and AttnDst [H, F] (a_src, a_dst); Residual [in, H*F] when the layer
/// projects its input; Bias when configured.
type GatLayer =
    { W: Tensor
      AttnSrc: Tensor
      AttnDst: Tensor
      Residual: Tensor option
      Bias: Tensor option }

type GatParams = { Layers: GatLayer list }

/// How one layer's input comes back into its output.
type GatSkip =
    | NoSkip
    | IdentitySkip
    | ProjectedSkip

/// What one layer is, derived from the config.
type GatLayerSpec =
    { In: int
      Heads: int
      Width: int
      Concat: bool
      Skip: GatSkip }

[<RequireQualifiedAccess>]
module Gat =
    /// The Cora/CiteSeer model of the paper: 8 heads x 8 features, one output head, dropout 0.6 on features and
    /// attention, no residual, bias on (PyG's GATConv: 92,373 parameters on Cora).
    let cora (inFeatures: int) (classes: int) =
        { InFeatures = inFeatures; Hidden = [ 8, 8 ]; OutHeads = 1; OutFeatures = classes; OutMean = true
          FeatureDropout = 0.6f; AttentionDropout = 0.6f; NegativeSlope = 0.2f; Residual = NoResidual; Bias = true }

    /// LSP's PPI teacher (Yang et al. 2020): 3 layers, 4 heads x 256, 6 averaged output heads, residual
    /// projections, no bias, no dropout (3,640,748 parameters for 50 features and 121 labels).
    let ppiTeacher (inFeatures: int) (labels: int) =
        { InFeatures = inFeatures; Hidden = [ 4, 256; 4, 256 ]; OutHeads = 6; OutFeatures = labels; OutMean = true
          FeatureDropout = 0.0f; AttentionDropout = 0.0f; NegativeSlope = 0.2f; Residual = Projection; Bias = false }

    /// LSP's PPI student: 5 layers, 2 heads x 68, 2 averaged output heads, residual (185,172 parameters on PPI).
    let ppiStudent (inFeatures: int) (labels: int) =
        { ppiTeacher inFeatures labels with Hidden = List.replicate 4 (2, 68); OutHeads = 2 }

    /// GAT expects self-loops (each node attends to itself): A with unit self-loops, unnormalised.
    let prepare (adj: Csr) : Csr = Graph.addSelfLoops adj

    /// Every layer's shape, input layer first.
    let specs (cfg: GatConfig) : GatLayerSpec list =
        let shapes = cfg.Hidden @ [ cfg.OutHeads, cfg.OutFeatures ]
        if shapes |> List.exists (fun (h, f) -> h <= 0 || f <= 0) then
            invalidArg "cfg" (sprintf "Gat: heads and features per head must be positive, got hidden %A, output %d x %d" cfg.Hidden cfg.OutHeads cfg.OutFeatures)
        let last = shapes.Length - 1
        let inputs = cfg.InFeatures :: (cfg.Hidden |> List.map (fun (h, f) -> h * f))
        List.zip inputs shapes
        |> List.mapi (fun l (i, (h, f)) ->
            let residual =
                if l = 0 then NoSkip
                else
                    match cfg.Residual with
                    | NoResidual -> NoSkip
                    | Projection -> ProjectedSkip
                    | IdentityOrProjection -> if i = h * f then IdentitySkip else ProjectedSkip
            { In = i; Heads = h; Width = f; Concat = (l < last || not cfg.OutMean); Skip = residual })

    /// Glorot-uniform W, attention vectors (fan H + F, as PyG) and residual projections; zero bias.
    let init (cfg: GatConfig) (rng: Rng) : GatParams =
        let specs = specs cfg
        let keys = Rng.splitN specs.Length rng
        { Layers =
            specs |> List.mapi (fun l s ->
                let k = Rng.splitN 4 keys.[l]
                let hf = s.Heads * s.Width
                { W = Init.glorotUniform k.[0] s.In hf [| s.In; hf |]
                  AttnSrc = Init.glorotUniform k.[1] s.Heads s.Width [| s.Heads; s.Width |]
                  AttnDst = Init.glorotUniform k.[2] s.Heads s.Width [| s.Heads; s.Width |]
                  Residual = if s.Skip = ProjectedSkip then Some (Init.glorotUniform k.[3] s.In hf [| s.In; hf |]) else None
                  Bias = if cfg.Bias then Some (Init.zeros [| (if s.Concat then hf else s.Width) |]) else None }) }

    /// One attention layer: (output, attention coefficients [nnz, heads] in CSR order, before attention dropout).
    /// The output is [n, H*F] (concatenated) or [n, F] (averaged), residual and bias included, no activation.
    let conv (cfg: GatConfig) (spec: GatLayerSpec) (layer: GatLayer) (ctx: ForwardContext) (adj: Csr) (x: Tensor) =
        let n = x.Shape.[0]
        let h, f = spec.Heads, spec.Width
        let kFeat, kAttn = Rng.split ctx.Rng
        let xd = Dropout.apply kFeat cfg.FeatureDropout ctx.Training x
        let wh = Linalg.matmul xd layer.W
        let wh3 = Reshape.reshape [| n; h; f |] wh
        let scoreSrc = Reduce.sumAxis 2 false (wh3 * layer.AttnSrc)
        let scoreDst = Reduce.sumAxis 2 false (wh3 * layer.AttnDst)
        let e = Elementwise.leakyRelu cfg.NegativeSlope (Sparse.edgeSum adj scoreDst scoreSrc)
        let alpha = Sparse.segmentSoftmax adj e
        let mutable out = Sparse.spmmValues adj (Dropout.apply kAttn cfg.AttentionDropout ctx.Training alpha) wh
        match spec.Skip, layer.Residual with
        | IdentitySkip, _ -> out <- out + xd
        | ProjectedSkip, Some r -> out <- out + Linalg.matmul xd r
        | ProjectedSkip, None -> invalidArg "layer" "Gat.conv: the layer has no residual projection but the config asks for one"
        | NoSkip, _ -> ()
        if not spec.Concat then out <- Reduce.meanAxis 1 false (Reshape.reshape [| n; h; f |] out)
        (match layer.Bias with
         | Some b -> out + b
         | None -> out), alpha

    /// Node logits; `adj` from `prepare` (self-loops included), x [n, InFeatures]. Hidden holds every hidden layer's
    /// output (heads concatenated, residual and bias added) before the ELU.
    let forward (cfg: GatConfig) (p: GatParams) (ctx: ForwardContext) (adj: Csr) (x: Tensor) : ModelOutput =
        if x.Rank <> 2 || x.Shape.[1] <> cfg.InFeatures then
            invalidArg "x" (sprintf "Gat.forward: x must be [n, %d] (InFeatures), got %s" cfg.InFeatures (Shape.describe x.Shape))
        if adj.Rows <> x.Shape.[0] || adj.Cols <> x.Shape.[0] then
            invalidArg "adj" (sprintf "Gat.forward: adj must be %d x %d (one row and column per node of x), got %d x %d" x.Shape.[0] x.Shape.[0] adj.Rows adj.Cols)
        let specs = Array.ofList (specs cfg)
        let layers = Array.ofList p.Layers
        if layers.Length <> specs.Length then
            invalidArg "p" (sprintf "Gat.forward: the config has %d layers, the parameters %d" specs.Length layers.Length)
        let keys = Rng.splitN layers.Length ctx.Rng
        let hidden = ResizeArray()
        let mutable h = x
        for l in 0 .. layers.Length - 1 do
            let z, _ = conv cfg specs.[l] layers.[l] { ctx with Rng = keys.[l] } adj h
            if l < layers.Length - 1 then
                hidden.Add z
                h <- Elementwise.elu 1.0f z
            else h <- z
        { Logits = h; Hidden = List.ofSeq hidden }
