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

    /// Â H W + b with Â H given as a function (a fixed or a differentiable weighted adjacency), multiplying by W
    /// first when that narrows the features (fewer values to aggregate).
    let convWith (propagate: Tensor -> Tensor) (layer: Linear) (h: Tensor) =
        let aggregated =
            if Linear.outFeatures layer <= Linear.inFeatures layer then propagate (Linalg.matmul h layer.W)
            else Linalg.matmul (propagate h) layer.W
        match layer.B with
        | Some b -> aggregated + b
        | None -> aggregated

    /// Â H W + b for a fixed normalised adjacency.
    let conv (adj: Csr) (layer: Linear) (h: Tensor) = convWith (Sparse.spmm adj) layer h

    /// Node logits [n, OutFeatures]; `adj` is the normalised adjacency from `prepare`, x is [n, InFeatures].
    /// Hidden holds each hidden layer's Â H W + b (before the ReLU).
    let forward (cfg: GcnConfig) (p: GcnParams) (ctx: ForwardContext) (adj: Csr) (x: Tensor) : ModelOutput =
        NodeStack.checkInputs "Gcn.forward" cfg.InFeatures adj x
        NodeStack.run p.Layers (conv adj) cfg.Dropout ctx x
