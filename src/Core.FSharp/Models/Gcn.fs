/// Graph convolutional network (Kipf & Welling, ICLR 2017): H' = Â H W + b with Â = D̃^-1/2 (A + I) D̃^-1/2
/// (eq. 2), ReLU between layers, dropout on every layer's input (as in the paper's released code).
namespace GcnKd

/// The adjacency preparations the models ask for. Same definitions as the Graph module's gcnNorm / addSelfLoops /
/// meanNorm; kept here so the models do not depend on its landing order.
[<RequireQualifiedAccess>]
module internal Adjacency =
    let private square (op: string) (a: Csr) =
        Csr.ensureValid a
        if a.Rows <> a.Cols then invalidArg "adj" (sprintf "%s: the adjacency must be square, got %d x %d" op a.Rows a.Cols)

    /// A with its existing self-loops replaced by unit self-loops (one (i, i, 1) entry per node).
    let withSelfLoops (a: Csr) : Csr =
        square "addSelfLoops" a
        let rows = ResizeArray<int>(Csr.nnz a + a.Rows)
        let cols = ResizeArray<int>(Csr.nnz a + a.Rows)
        let vals = ResizeArray<float32>(Csr.nnz a + a.Rows)
        for i in 0 .. a.Rows - 1 do
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                if a.ColIdx.[e] <> i then
                    rows.Add i
                    cols.Add a.ColIdx.[e]
                    vals.Add a.Values.[e]
            rows.Add i
            cols.Add i
            vals.Add 1.0f
        Csr.ofCoo a.Rows a.Cols (rows.ToArray()) (cols.ToArray()) (Some (vals.ToArray()))

    /// Weighted in-degree of every node (row sums of the stored values).
    let private rowSums (a: Csr) =
        Array.init a.Rows (fun i ->
            let mutable s = 0.0
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do s <- s + float a.Values.[e]
            s)

    /// D^-1/2 A D^-1/2 with D the row sums (in-degrees): entries a_ij / sqrt(d_i d_j); nodes of degree 0 keep 0.
    let symNorm (a: Csr) : Csr =
        square "symNorm" a
        let inv = rowSums a |> Array.map (fun d -> if d > 0.0 then 1.0 / sqrt d else 0.0)
        let rows = Csr.edgeRows a
        { a with Values = Array.init (Csr.nnz a) (fun e -> float32 (float a.Values.[e] * inv.[rows.[e]] * inv.[a.ColIdx.[e]])) }

    /// D^-1 A: each row averages the node's in-neighbours; rows of isolated nodes stay empty.
    let meanNorm (a: Csr) : Csr =
        square "meanNorm" a
        let d = rowSums a
        let rows = Csr.edgeRows a
        { a with Values = Array.init (Csr.nnz a) (fun e -> float32 (float a.Values.[e] / d.[rows.[e]])) }

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
    let prepare (adj: Csr) : Csr = Adjacency.symNorm (Adjacency.withSelfLoops adj)

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
