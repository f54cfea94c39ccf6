/// The multilayer perceptron, and the two small pieces every model shares: a choice of nonlinearity and the
/// batch-norm hyper-parameters. An MLP is also the update function inside GIN layers (Xu et al. 2019, eq. 4.1).
namespace GcnKd

/// A nonlinearity selectable by configuration.
type Activation =
    | Relu
    | LeakyRelu of slope: float32
    | Elu of alpha: float32
    | Tanh
    | Sigmoid
    | Identity

[<RequireQualifiedAccess>]
module Activation =
    let apply (a: Activation) (x: Tensor) =
        match a with
        | Relu -> Elementwise.relu x
        | LeakyRelu s -> Elementwise.leakyRelu s x
        | Elu alpha -> Elementwise.elu alpha x
        | Tanh -> Elementwise.tanh x
        | Sigmoid -> Elementwise.sigmoid x
        | Identity -> x

/// Batch-norm hyper-parameters: running = (1 - Momentum) running + Momentum batch; y = (x - mean) / sqrt(var + Eps).
type NormSettings = { Momentum: float32; Eps: float32 }

[<RequireQualifiedAccess>]
module NormSettings =
    /// torch.nn.BatchNorm1d's defaults.
    let torch = { Momentum = 0.1f; Eps = 1e-5f }

    /// Batch statistics (updating the running ones) when training, running statistics otherwise.
    let apply (s: NormSettings) (training: bool) (p: BatchNormParams) (running: BatchNormStats) (x: Tensor) =
        BatchNorm.apply training s.Momentum s.Eps p running x

type MlpConfig =
    { /// Widths, input first and output last: [in; h1; ...; out] (at least two entries).
      Sizes: int list
      /// Applied after every hidden layer (after its batch norm); the output layer is linear.
      Activation: Activation
      /// Dropout probability on every hidden layer's output (after the activation); 0 for none.
      Dropout: float32
      /// Batch norm between every hidden linear layer and its activation.
      BatchNorm: bool
      Norm: NormSettings
      Bias: bool }

/// Layers.[l] maps Sizes.[l] -> Sizes.[l+1]; Norms.[l] follows hidden layer l (empty without batch norm).
type MlpParams = { Layers: Linear list; Norms: BatchNormParams list }

/// Running statistics of the hidden layers' batch norms (empty without batch norm).
type MlpState = { Running: BatchNormStats list }

/// Everything one MLP pass produces; `NormInputs` are the inputs of the batch norms in order (what GFKD's
/// batch-norm prior compares with the running statistics).
type MlpOutput = { Output: Tensor; Hidden: Tensor list; State: MlpState; NormInputs: Tensor list }

[<RequireQualifiedAccess>]
module Mlp =
    /// Linear-ReLU MLP without batch norm or dropout, bias on.
    let config (sizes: int list) =
        { Sizes = sizes; Activation = Relu; Dropout = 0.0f; BatchNorm = false; Norm = NormSettings.torch; Bias = true }

    let private validate (cfg: MlpConfig) =
        if List.length cfg.Sizes < 2 then
            invalidArg "cfg" (sprintf "Mlp: Sizes needs at least the input and output widths, got %A" cfg.Sizes)
        if cfg.Sizes |> List.exists (fun s -> s <= 0) then
            invalidArg "cfg" (sprintf "Mlp: every width must be positive, got %A" cfg.Sizes)
        if not (cfg.Dropout >= 0.0f && cfg.Dropout < 1.0f) then
            invalidArg "cfg" (sprintf "Mlp: Dropout must lie in [0, 1), got %g" cfg.Dropout)

    let private hiddenWidths (cfg: MlpConfig) = cfg.Sizes |> List.tail |> List.take (List.length cfg.Sizes - 2)

    /// torch.nn.Linear initialisation for every layer; batch norm gamma 1, beta 0.
    let init (cfg: MlpConfig) (rng: Rng) : MlpParams =
        validate cfg
        let pairs = List.pairwise cfg.Sizes
        let keys = Rng.splitN pairs.Length rng
        { Layers = pairs |> List.mapi (fun l (i, o) -> Linear.initTorch keys.[l] i o cfg.Bias)
          Norms = if cfg.BatchNorm then hiddenWidths cfg |> List.map (fun w -> fst (BatchNorm.init w)) else [] }

    let initState (cfg: MlpConfig) : MlpState =
        validate cfg
        { Running = if cfg.BatchNorm then hiddenWidths cfg |> List.map (fun w -> snd (BatchNorm.init w)) else [] }

    /// The full pass: output, hidden features (each hidden layer's value before its activation, after its batch
    /// norm), updated state (changed only when training) and the batch norms' inputs.
    let run (cfg: MlpConfig) (p: MlpParams) (state: MlpState) (ctx: ForwardContext) (x: Tensor) : MlpOutput =
        let inF = List.head cfg.Sizes
        if x.Rank <> 2 || x.Shape.[1] <> inF then
            invalidArg "x" (sprintf "Mlp.forward: x must be [n, %d], got %s" inF (Shape.describe x.Shape))
        let layers = Array.ofList p.Layers
        let norms = Array.ofList p.Norms
        let running = Array.ofList state.Running
        let keys = Rng.splitN layers.Length ctx.Rng
        let hidden = ResizeArray()
        let normInputs = ResizeArray()
        let newRunning = Array.copy running
        let mutable h = x
        for l in 0 .. layers.Length - 2 do
            let mutable z = Linear.apply layers.[l] h
            if cfg.BatchNorm then
                normInputs.Add z
                let y, st = NormSettings.apply cfg.Norm ctx.Training norms.[l] running.[l] z
                newRunning.[l] <- st
                z <- y
            hidden.Add z
            h <- Dropout.apply keys.[l] cfg.Dropout ctx.Training (Activation.apply cfg.Activation z)
        { Output = Linear.apply layers.[layers.Length - 1] h
          Hidden = List.ofSeq hidden
          State = { Running = List.ofArray newRunning }
          NormInputs = List.ofSeq normInputs }

    /// Logits and hidden features, with the updated batch-norm state.
    let forward (cfg: MlpConfig) (p: MlpParams) (state: MlpState) (ctx: ForwardContext) (x: Tensor) : ModelOutput * MlpState =
        let r = run cfg p state ctx x
        { Logits = r.Output; Hidden = r.Hidden }, r.State
