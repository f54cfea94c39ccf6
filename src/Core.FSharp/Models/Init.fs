/// Parameter initialisers and the dense layer every model is built from. Each initialiser takes an explicit key,
/// so a model's initial parameters are a pure function of (config, key).
namespace GcnKd

/// Parameters of a dense layer y = x W + b, with W stored [in, out] (the layout `Linalg.linear` takes).
type Linear = { W: Tensor; B: Tensor option }

[<RequireQualifiedAccess>]
module Init =
    /// U(-a, a) with a = sqrt(6 / (fanIn + fanOut)) (Glorot & Bengio 2010, eq. 16; torch's xavier_uniform_).
    let glorotUniform (rng: Rng) (fanIn: int) (fanOut: int) (shape: int[]) =
        let a = sqrt (6.0f / float32 (fanIn + fanOut))
        Tensor.rand rng (-a) a shape

    /// U(-1/sqrt(fanIn), 1/sqrt(fanIn)): torch.nn.Linear's default for both weight and bias (kaiming_uniform_ with
    /// a = sqrt 5 gives exactly this bound), also the default of Conv1d/Conv2d with fanIn = in_channels * kernel.
    let kaimingUniform (rng: Rng) (fanIn: int) (shape: int[]) =
        let a = if fanIn > 0 then 1.0f / sqrt (float32 fanIn) else 0.0f
        Tensor.rand rng (-a) a shape

    let zeros (shape: int[]) = Tensor.zeros shape

[<RequireQualifiedAccess>]
module Linear =
    let private check (op: string) (inF: int) (outF: int) =
        if inF <= 0 || outF <= 0 then
            invalidArg "inFeatures" (sprintf "%s: a linear layer needs positive sizes, got %d -> %d" op inF outF)

    /// torch.nn.Linear's initialisation: weight and bias both U(-1/sqrt(in), 1/sqrt(in)).
    let initTorch (rng: Rng) (inF: int) (outF: int) (bias: bool) : Linear =
        check "Linear.initTorch" inF outF
        let kw, kb = Rng.split rng
        { W = Init.kaimingUniform kw inF [| inF; outF |]
          B = if bias then Some (Init.kaimingUniform kb inF [| outF |]) else None }

    /// Glorot-uniform weight and zero bias (Kipf & Welling's GCN, Velickovic et al.'s GAT, DGL's GraphConv).
    let initGlorot (rng: Rng) (inF: int) (outF: int) (bias: bool) : Linear =
        check "Linear.initGlorot" inF outF
        { W = Init.glorotUniform rng inF outF [| inF; outF |]
          B = if bias then Some (Init.zeros [| outF |]) else None }

    /// x W + b over the last axis of x.
    let apply (l: Linear) (x: Tensor) = Linalg.linear x l.W l.B

    let inFeatures (l: Linear) = l.W.Shape.[0]
    let outFeatures (l: Linear) = l.W.Shape.[1]

/// Parameters of a 2-D convolution: W [out, in, kh, kw] (the layout of `Conv.conv2d`), B [out].
type Conv2dLayer = { W: Tensor; B: Tensor option }

[<RequireQualifiedAccess>]
module Conv2dLayer =
    /// torch.nn.Conv2d's initialisation: weight and bias U(-1/sqrt(fanIn), 1/sqrt(fanIn)), fanIn = in * kh * kw.
    let initTorch (rng: Rng) (inC: int) (outC: int) (kernel: int) (bias: bool) : Conv2dLayer =
        if inC <= 0 || outC <= 0 || kernel <= 0 then
            invalidArg "inC" (sprintf "Conv2dLayer.initTorch: a convolution needs positive sizes, got %d -> %d, kernel %d" inC outC kernel)
        let kw, kb = Rng.split rng
        let fanIn = inC * kernel * kernel
        { W = Init.kaimingUniform kw fanIn [| outC; inC; kernel; kernel |]
          B = if bias then Some (Init.kaimingUniform kb fanIn [| outC |]) else None }

    /// Stride 1, no padding ("valid"), as in LeNet.
    let apply (l: Conv2dLayer) (x: Tensor) = Conv.conv2d 1 0 x l.W l.B

    let outChannels (l: Conv2dLayer) = l.W.Shape.[0]
    let inChannels (l: Conv2dLayer) = l.W.Shape.[1]

/// The loop shared by the plain node models (GCN, GraphSAGE): dropout on each layer's input, the layer, ReLU between
/// layers; Hidden keeps every hidden layer's output before its ReLU.
[<RequireQualifiedAccess>]
module NodeStack =
    /// Check the inputs every node model takes: x [n, inFeatures] and an n x n adjacency.
    let checkInputs (op: string) (inFeatures: int) (adj: Csr) (x: Tensor) =
        if x.Rank <> 2 || x.Shape.[1] <> inFeatures then
            invalidArg "x" (sprintf "%s: x must be [n, %d] (InFeatures), got %s" op inFeatures (Shape.describe x.Shape))
        if adj.Rows <> x.Shape.[0] || adj.Cols <> x.Shape.[0] then
            invalidArg "adj" (sprintf "%s: adj must be %d x %d (one row and column per node of x), got %d x %d" op x.Shape.[0] x.Shape.[0] adj.Rows adj.Cols)

    let run (layers: 'L list) (layer: 'L -> Tensor -> Tensor) (dropout: float32) (ctx: ForwardContext) (x: Tensor) : ModelOutput =
        let layers = Array.ofList layers
        let keys = Rng.splitN layers.Length ctx.Rng
        let hidden = ResizeArray()
        let mutable h = x
        for l in 0 .. layers.Length - 1 do
            let z = layer layers.[l] (Dropout.apply keys.[l] dropout ctx.Training h)
            if l < layers.Length - 1 then
                hidden.Add z
                h <- Elementwise.relu z
            else h <- z
        { Logits = h; Hidden = List.ofSeq hidden }
