/// GraphSAGE with the mean aggregator (Hamilton et al., NeurIPS 2017, Alg. 1 with the concatenation written as
/// two weight matrices, as PyG's SAGEConv): h_i' = W_self h_i + W_neigh mean_{j in N(i)} h_j + b.
namespace GcnKd

type SageConfig =
    { InFeatures: int
      Hidden: int list
      OutFeatures: int
      /// Dropout probability on every layer's input.
      Dropout: float32 }

/// Neigh carries the bias (PyG's lin_l); Self has none (lin_r).
type SageLayer = { Self: Linear; Neigh: Linear }

type SageParams = { Layers: SageLayer list }

[<RequireQualifiedAccess>]
module Sage =
    let config (inFeatures: int) (hidden: int list) (outFeatures: int) =
        { InFeatures = inFeatures; Hidden = hidden; OutFeatures = outFeatures; Dropout = 0.5f }

    /// D^-1 A from a raw adjacency (no self-loops): each row averages the node's in-neighbours.
    let prepare (adj: Csr) : Csr = Graph.meanNorm adj

    /// torch.nn.Linear initialisation (PyG's SAGEConv).
    let init (cfg: SageConfig) (rng: Rng) : SageParams =
        let pairs = List.pairwise (cfg.InFeatures :: cfg.Hidden @ [ cfg.OutFeatures ])
        let keys = Rng.splitN pairs.Length rng
        { Layers =
            pairs |> List.mapi (fun l (i, o) ->
                let ks, kn = Rng.split keys.[l]
                { Self = Linear.initTorch ks i o false; Neigh = Linear.initTorch kn i o true }) }

    /// W_self h + W_neigh (Ā h) + b with Ā = D^-1 A, projecting before aggregating when that narrows the features.
    let conv (meanAdj: Csr) (layer: SageLayer) (h: Tensor) =
        let neigh =
            if Linear.outFeatures layer.Neigh <= Linear.inFeatures layer.Neigh then
                let z = Sparse.spmm meanAdj (Linalg.matmul h layer.Neigh.W)
                match layer.Neigh.B with
                | Some b -> z + b
                | None -> z
            else Linear.apply layer.Neigh (Sparse.spmm meanAdj h)
        Linear.apply layer.Self h + neigh

    /// Node logits; `adj` from `prepare`, x [n, InFeatures]. Hidden holds each hidden layer's output before the ReLU.
    let forward (cfg: SageConfig) (p: SageParams) (ctx: ForwardContext) (adj: Csr) (x: Tensor) : ModelOutput =
        NodeStack.checkInputs "Sage.forward" cfg.InFeatures adj x
        NodeStack.run p.Layers (conv adj) cfg.Dropout ctx x
