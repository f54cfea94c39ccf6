/// LeNet-5 as in Caffe's MNIST example, the network of the evolutionary-compression paper's MNIST experiment
/// (Wang et al., KDD 2018): conv 5x5 (20 filters) - max pool 2 - conv 5x5 (50) - max pool 2 - fc 500 - ReLU - fc 10.
/// Caffe's model has no nonlinearity after the convolutions; `ConvActivation` adds one (ReLU in the PyTorch
/// example's variant). Every width is a configuration field, so a thinned network is the same model, narrower.
namespace GcnKd

type LeNetConfig =
    { InChannels: int
      /// Side of the square input images (28 for MNIST).
      ImageSize: int
      /// Side of both convolution kernels (5).
      Kernel: int
      /// Filters of the first and second convolution (20, 50).
      Conv1: int
      Conv2: int
      /// Units of the hidden fully connected layer (500).
      Fc1: int
      NumClasses: int
      /// Applied after each pooled convolution (Identity in Caffe's LeNet).
      ConvActivation: Activation }

type LeNetParams = { Conv1: Conv2dLayer; Conv2: Conv2dLayer; Fc1: Linear; Fc2: Linear }

[<RequireQualifiedAccess>]
module LeNet =
    /// Caffe's LeNet for 28x28 single-channel images and 10 classes.
    let config =
        { InChannels = 1; ImageSize = 28; Kernel = 5; Conv1 = 20; Conv2 = 50; Fc1 = 500; NumClasses = 10; ConvActivation = Identity }

    /// Sides of the feature maps: (first convolution's output, after the first pool, second convolution's output,
    /// after the second pool). A pool of 2 floors odd sides, as Caffe's and torch's do.
    let mapSides (cfg: LeNetConfig) =
        let c1 = cfg.ImageSize - cfg.Kernel + 1
        let p1 = c1 / 2
        let c2 = p1 - cfg.Kernel + 1
        c1, p1, c2, c2 / 2

    let private validate (cfg: LeNetConfig) =
        let _, _, _, p2 = mapSides cfg
        if p2 < 1 then
            invalidArg "cfg" (sprintf "LeNet: images of side %d are too small for two %dx%d convolutions with 2x2 pooling" cfg.ImageSize cfg.Kernel cfg.Kernel)
        if [ cfg.InChannels; cfg.Conv1; cfg.Conv2; cfg.Fc1; cfg.NumClasses ] |> List.exists (fun w -> w <= 0) then
            invalidArg "cfg" (sprintf "LeNet: every width must be positive (in %d, conv %d, %d, fc %d, classes %d)"
                                  cfg.InChannels cfg.Conv1 cfg.Conv2 cfg.Fc1 cfg.NumClasses)

    /// Inputs of the first fully connected layer: the second convolution's pooled maps, flattened channel-major
    /// (channel c occupies positions c * side^2 .. (c + 1) * side^2 - 1).
    let flatFeatures (cfg: LeNetConfig) =
        let _, _, _, p2 = mapSides cfg
        cfg.Conv2 * p2 * p2

    /// torch's default initialisation of every layer.
    let init (cfg: LeNetConfig) (rng: Rng) : LeNetParams =
        validate cfg
        let k = Rng.splitN 4 rng
        { Conv1 = Conv2dLayer.initTorch k.[0] cfg.InChannels cfg.Conv1 cfg.Kernel true
          Conv2 = Conv2dLayer.initTorch k.[1] cfg.Conv1 cfg.Conv2 cfg.Kernel true
          Fc1 = Linear.initTorch k.[2] (flatFeatures cfg) cfg.Fc1 true
          Fc2 = Linear.initTorch k.[3] cfg.Fc1 cfg.NumClasses true }

    /// Class logits [n, NumClasses] from images [n, InChannels, ImageSize, ImageSize]. Hidden holds the two pooled
    /// (activated) convolution outputs and the hidden fully connected layer after its ReLU.
    let forward (cfg: LeNetConfig) (p: LeNetParams) (x: Tensor) : ModelOutput =
        validate cfg
        if x.Rank <> 4 || x.Shape.[1] <> cfg.InChannels || x.Shape.[2] <> cfg.ImageSize || x.Shape.[3] <> cfg.ImageSize then
            invalidArg "x" (sprintf "LeNet.forward: x must be [n, %d, %d, %d], got %s" cfg.InChannels cfg.ImageSize cfg.ImageSize (Shape.describe x.Shape))
        let stage (conv: Conv2dLayer) h = Activation.apply cfg.ConvActivation (Conv.maxPool2d 2 2 (Conv2dLayer.apply conv h))
        let h1 = stage p.Conv1 x
        let h2 = stage p.Conv2 h1
        let h3 = Elementwise.relu (Linear.apply p.Fc1 (Reshape.flatten h2))
        { Logits = Linear.apply p.Fc2 h3; Hidden = [ h1; h2; h3 ] }
