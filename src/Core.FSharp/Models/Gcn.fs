/// Graph convolutional network (Kipf & Welling, ICLR 2017): H' = Â H W + b with Â = D̃^-1/2 (A + I) D̃^-1/2
/// (eq. 2), ReLU between layers, dropout on every layer's input (as in the paper's released code).
namespace GcnKd

type GcnConfig =
    { InFeatures: int
      /// Width of every hidden layer (Kipf & Welling's Cora model: [16]).
      Hidden: int list
      OutFeatures: int
      /// Dropout probability on the input of every layer.
      Dropout: float32
      Bias: bool }

/// One Linear per layer: Layers.[l] maps layer l's input to its output.
type GcnParams = { Layers: Linear list }

[<RequireQualifiedAccess>]
module Gcn =
    /// The paper's Cora/CiteSeer model: one hidden layer of 16, dropout 0.5.
    let config (inFeatures: int) (hidden: int list) (outFeatures: int) =
        { InFeatures = inFeatures; Hidden = hidden; OutFeatures = outFeatures; Dropout = 0.5f; Bias = true }

    /// Â = D̃^-1/2 (A + I) D̃^-1/2 from a raw adjacency (existing self-loops are replaced by unit ones).
    let prepare (adj: Csr) : Csr = Graph.gcnNorm adj

    let private widths (cfg: GcnConfig) = cfg.InFeatures :: cfg.Hidden @ [ cfg.OutFeatures ]

    /// Glorot-uniform weights, zero biases (the paper's initialisation).
    let init (cfg: GcnConfig) (rng: Rng) : GcnParams =
        let pairs = List.pairwise (widths cfg)
        let keys = Rng.splitN pairs.Length rng
        { Layers = pairs |> List.mapi (fun l (i, o) -> Linear.initGlorot keys.[l] i o cfg.Bias) }

    /// Â H W + b, multiplying by W first when that narrows the features (fewer values to aggregate).
    let conv (adj: Csr) (layer: Linear) (h: Tensor) =
        let aggregated =
            if Linear.outFeatures layer <= Linear.inFeatures layer then Sparse.spmm adj (Linalg.matmul h layer.W)
            else Linalg.matmul (Sparse.spmm adj h) layer.W
        match layer.B with
        | Some b -> aggregated + b
        | None -> aggregated

    /// Node logits [n, OutFeatures]; `adj` is the normalised adjacency from `prepare`, x is [n, InFeatures].
    /// Hidden holds each hidden layer's Â H W + b (before the ReLU).
    let forward (cfg: GcnConfig) (p: GcnParams) (ctx: ForwardContext) (adj: Csr) (x: Tensor) : ModelOutput =
        if x.Rank <> 2 || x.Shape.[1] <> cfg.InFeatures then
            invalidArg "x" (sprintf "Gcn.forward: x must be [n, %d] (InFeatures), got %s" cfg.InFeatures (Shape.describe x.Shape))
        if adj.Rows <> x.Shape.[0] || adj.Cols <> x.Shape.[0] then
            invalidArg "adj" (sprintf "Gcn.forward: adj must be %d x %d (one row and column per node of x), got %d x %d" x.Shape.[0] x.Shape.[0] adj.Rows adj.Cols)
        let layers = Array.ofList p.Layers
        let keys = Rng.splitN layers.Length ctx.Rng
        let hidden = ResizeArray()
        let mutable h = x
        for l in 0 .. layers.Length - 1 do
            let z = conv adj layers.[l] (Dropout.apply keys.[l] cfg.Dropout ctx.Training h)
            if l < layers.Length - 1 then
                hidden.Add z
                h <- Elementwise.relu z
            else h <- z
        { Logits = h; Hidden = List.ofSeq hidden }
