/// MNIST digits as point clouds: our stand-in for ModelNet40 (not available here) for DGCNN / EdgeConv.
/// A digit becomes P points (x, y, 0) sampled from its foreground pixels, centred on their mean and scaled into
/// the unit ball, so the network sees shape only (not position, size or intensity). The z coordinate is 0: the
/// models take [P; 3] clouds, and a constant axis leaves k-NN distances those of the 2-D shape.
namespace GcnKd

open System

[<RequireQualifiedAccess>]
module PointClouds =
    /// The sampled pixel positions (row-major pixel indices) of one image: P of its foreground pixels
    /// (intensity > threshold). With at least P foreground pixels, P distinct ones (a partial Fisher-Yates shuffle
    /// driven by `rng`); with fewer, every foreground pixel once and the remaining slots drawn uniformly with
    /// replacement, so no part of a thin digit is lost.
    let samplePixels (rng: Rng) (numPoints: int) (threshold: float32) (pixels: ReadOnlySpan<float32>) : int[] =
        if numPoints < 1 then invalidArg "numPoints" (sprintf "PointClouds.samplePixels: numPoints = %d, expected >= 1" numPoints)
        let fg = ResizeArray<int>()
        for i in 0 .. pixels.Length - 1 do
            if pixels.[i] > threshold then fg.Add i
        if fg.Count = 0 then
            invalidArg "pixels" (sprintf "PointClouds.samplePixels: no pixel is above the threshold %g; a point cloud needs at least one foreground pixel" threshold)
        let fg = fg.ToArray()
        let n = fg.Length
        if n >= numPoints then
            for i in 0 .. numPoints - 1 do
                let j = i + Rng.intAt rng (int64 i) (n - i)
                let t = fg.[i]
                fg.[i] <- fg.[j]
                fg.[j] <- t
            fg.[.. numPoints - 1]
        else
            Array.init numPoints (fun i -> if i < n then fg.[i] else fg.[Rng.intAt rng (int64 i) n])

    /// Centre points (rows of a [P; 3] array) on their mean and divide by the largest norm, so they lie in the
    /// unit ball with at least one point on its sphere (a single distinct point stays at the origin).
    let normalise (points: float32[]) : float32[] =
        if points.Length % 3 <> 0 then invalidArg "points" (sprintf "PointClouds.normalise: %d values is not a whole number of 3-D points" points.Length)
        let p = points.Length / 3
        let mean = Array.init 3 (fun d -> (let mutable s = 0.0 in (for i in 0 .. p - 1 do s <- s + float points.[3 * i + d]); s / float (max p 1)))
        let centred = Array.init points.Length (fun k -> float points.[k] - mean.[k % 3])
        let mutable maxNorm = 0.0
        for i in 0 .. p - 1 do
            let x, y, z = centred.[3 * i], centred.[3 * i + 1], centred.[3 * i + 2]
            maxNorm <- max maxNorm (sqrt (x * x + y * y + z * z))
        let scale = if maxNorm > 0.0 then 1.0 / maxNorm else 1.0
        centred |> Array.map (fun v -> float32 (v * scale))

    /// The point cloud [P; 3] of one height x width image (row-major intensities in [0, 1]): pixel (row, col)
    /// becomes (col, -row, 0) (y up, so the digit stands upright), then `normalise`.
    let ofImage (rng: Rng) (numPoints: int) (threshold: float32) (height: int) (width: int) (pixels: ReadOnlySpan<float32>) : Tensor =
        if pixels.Length <> height * width then
            invalidArg "pixels" (sprintf "PointClouds.ofImage: %d pixels for a %d x %d image, expected %d" pixels.Length height width (height * width))
        let idx = samplePixels rng numPoints threshold pixels
        let raw = Array.zeroCreate<float32> (3 * numPoints)
        for i in 0 .. numPoints - 1 do
            raw.[3 * i] <- float32 (idx.[i] % width)
            raw.[3 * i + 1] <- -(float32 (idx.[i] / width))
        Tensor.ofArray [| numPoints; 3 |] (normalise raw)

    /// Point clouds of `count` images stored back to back in `images` (count * height * width intensities).
    /// Image i uses key i of `Rng.splitN count rng`, so a cloud depends only on (rng, i, its image) and the
    /// result is the same on any thread count.
    let ofImages (rng: Rng) (numPoints: int) (threshold: float32) (height: int) (width: int) (images: float32[]) (labels: int[]) : PointCloud[] =
        let size = height * width
        if size <= 0 || images.Length <> labels.Length * size then
            invalidArg "images" (sprintf "PointClouds.ofImages: %d intensities for %d labels of %d x %d images, expected %d" images.Length labels.Length height width (labels.Length * size))
        let keys = Rng.splitN labels.Length rng
        let clouds = Array.zeroCreate<PointCloud> labels.Length
        Threads.For(labels.Length, 20 * size, Action<int, int>(fun lo hi ->
            for i in lo .. hi - 1 do
                let px = ReadOnlySpan<float32>(images, i * size, size)
                clouds.[i] <- { Points = ofImage keys.[i] numPoints threshold height width px; Label = labels.[i] }))
        clouds

    /// The point-cloud dataset of an image dataset (train and test images with labels). Train and test clouds use
    /// independent keys split from `rng`.
    let dataset (name: string) (rng: Rng) (numPoints: int) (threshold: float32) (height: int) (width: int)
                (trainImages: float32[]) (trainLabels: int[]) (testImages: float32[]) (testLabels: int[]) (numClasses: int) : PointCloudDataset =
        let rTrain, rTest = Rng.split rng
        { Name = name
          Train = ofImages rTrain numPoints threshold height width trainImages trainLabels
          Test = ofImages rTest numPoints threshold height width testImages testLabels
          NumClasses = numClasses }
