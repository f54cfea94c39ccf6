/// Size and arithmetic cost of one inference pass, counted analytically from a model's configuration (as the
/// compression literature does: rc = params(full) / params(thin), rs = mults(full) / mults(thin)). Multiplications
/// counted: dense products (rows x in x out), convolutions (out x in x k^2 per output position), weighted neighbour
/// aggregations (stored edges x width), attention scores (two per node and head) and batch norm (one per element,
/// folded at inference). Additions, pooling, softmax and nonlinearities are not counted.
namespace GcnKd.Evolution

open GcnKd

/// Scalars stored and multiplications of one inference pass.
type ModelCost = { Params: int64; Mults: int64 }

/// The graph an inference pass runs on: nodes, stored adjacency entries (self-loops included where the model adds
/// them) and graphs (for graph-level readouts).
type GraphSize = { Nodes: int; Edges: int; Graphs: int }

[<RequireQualifiedAccess>]
module ModelCost =
    let zero = { Params = 0L; Mults = 0L }
    let add (a: ModelCost) (b: ModelCost) = { Params = a.Params + b.Params; Mults = a.Mults + b.Mults }
    let sum (xs: ModelCost seq) = Seq.fold add zero xs

    /// A dense layer in -> out applied to `rows` rows.
    let linear (rows: int) (inF: int) (outF: int) (bias: bool) =
        { Params = int64 inF * int64 outF + (if bias then int64 outF else 0L); Mults = int64 rows * int64 inF * int64 outF }

    /// Batch norm over `width` channels applied to `elements / width` rows.
    let batchNorm (rows: int) (width: int) = { Params = 2L * int64 width; Mults = int64 rows * int64 width }

    /// One image through LeNet.
    let lenet (cfg: LeNetConfig) =
        let c1, _, c2, _ = LeNet.mapSides cfg
        let k2 = int64 cfg.Kernel * int64 cfg.Kernel
        let conv (inC: int) (outC: int) (side: int) =
            { Params = int64 outC * int64 inC * k2 + int64 outC; Mults = int64 outC * int64 inC * k2 * int64 side * int64 side }
        sum [ conv cfg.InChannels cfg.Conv1 c1
              conv cfg.Conv1 cfg.Conv2 c2
              linear 1 (LeNet.flatFeatures cfg) cfg.Fc1 true
              linear 1 cfg.Fc1 cfg.NumClasses true ]

    /// An MLP on `rows` rows.
    let mlp (rows: int) (cfg: MlpConfig) =
        let pairs = List.pairwise cfg.Sizes
        sum [ for l, (i, o) in List.indexed pairs do
                  yield linear rows i o cfg.Bias
                  if cfg.BatchNorm && l < pairs.Length - 1 then yield batchNorm rows o ]

    /// A GCN on one graph (`Edges` counts the self-loops the normalised adjacency adds): each layer multiplies by
    /// W and aggregates the narrower side, as `Gcn.conv` does.
    let gcn (g: GraphSize) (cfg: GcnConfig) =
        let widths = cfg.InFeatures :: cfg.Hidden @ [ cfg.OutFeatures ]
        sum [ for i, o in List.pairwise widths ->
                  add (linear g.Nodes i o cfg.Bias) { Params = 0L; Mults = int64 g.Edges * int64 (min i o) } ]

    /// A GCN-conv model of the GFKD family (GCN5_64, GCN3_32) on a batch of graphs (`Edges` with the self-loops):
    /// per layer the GCN product and aggregation, then its batch norm on every node (the residual sums and the
    /// sum readout multiply nothing), and the linear head on the pooled features.
    let gfkdGcn (g: GraphSize) (cfg: GfkdConfig) =
        if cfg.Conv <> GcnConv then invalidArg "cfg" (sprintf "ModelCost.gfkdGcn: %s is not a GCN-conv model" cfg.Name)
        let widths = cfg.InFeatures :: List.replicate (cfg.NumLayers - 1) cfg.Width
        sum [ for i, o in List.pairwise widths do
                  yield add (linear g.Nodes i o true) { Params = 0L; Mults = int64 g.Edges * int64 (min i o) }
                  yield batchNorm g.Nodes o
              yield linear g.Graphs cfg.Width cfg.NumClasses true ]

    /// A GAT on one graph (`Edges` with the self-loops): projection, two scores per node and head, weighted
    /// aggregation of every head's features, residual projections.
    let gat (g: GraphSize) (cfg: GatConfig) =
        let specs = Gat.specs cfg
        sum [ for s in specs do
                  let hf = s.Heads * s.Width
                  yield linear g.Nodes s.In hf false
                  yield { Params = 2L * int64 hf; Mults = 2L * int64 g.Nodes * int64 hf + int64 g.Edges * int64 hf }
                  if s.Skip = ProjectedSkip then yield linear g.Nodes s.In hf false
                  if cfg.Bias then yield { Params = int64 (if s.Concat then hf else s.Width); Mults = 0L } ]

    /// A GIN on a batch of graphs: each layer's MLP and batch norm on every node (the neighbour sum has no
    /// multiplications at eps = 0, one per element otherwise), one linear head per layer on the pooled features.
    let gin (g: GraphSize) (cfg: GinConfig) =
        let layers =
            [ for mlpCfg in Gin.layerMlps cfg do
                  let i = List.head mlpCfg.Sizes
                  yield mlp g.Nodes mlpCfg
                  yield batchNorm g.Nodes (List.last mlpCfg.Sizes)
                  match cfg.Eps with
                  | FixedEps 0.0f -> ()
                  | FixedEps _ -> yield { Params = 0L; Mults = int64 g.Nodes * int64 i }
                  | LearnedEps -> yield { Params = 1L; Mults = int64 g.Nodes * int64 i } ]
        let heads = Gin.readoutWidths cfg |> List.map (fun w -> linear g.Graphs w cfg.NumClasses true)
        sum (layers @ heads)

    /// Compression ratio rc = params(full) / params(thin) and speed-up ratio rs = mults(full) / mults(thin).
    let ratios (full: ModelCost) (thin: ModelCost) = float full.Params / float thin.Params, float full.Mults / float thin.Mults
