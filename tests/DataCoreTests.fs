/// Splits (stratified k-fold, seeded p/(1-p) splits, validation carving) and MNIST point clouds: the pure parts of
/// data handling, as FsCheck properties.
module GcnKd.Tests.DataCoreTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd

/// Labels of n items over c classes (some classes may be rare or absent).
let private labelsGen =
    gen {
        let! c = Props.dim 1 5
        let! n = Props.dim 2 80
        let! skew = Gen.choose (0, 3)
        let! raw = Gen.arrayOfLength n (Gen.choose (0, c - 1))
        // skew: fold part of the labels onto class 0 so class sizes differ a lot
        return raw |> Array.mapi (fun i l -> if skew > 0 && i % (skew + 1) = 0 then 0 else l)
    }

let private classCount (labels: int[]) (idx: int[]) c = idx |> Array.filter (fun i -> labels.[i] = c) |> Array.length
let private isSortedDistinct (a: int[]) = a |> Array.pairwise |> Array.forall (fun (x, y) -> x < y)

[<Fact>]
let ``stratifiedKFold partitions the items, balances fold sizes and every class across folds`` () =
    Props.forAll (Gen.zip3 labelsGen (Props.dim 2 10) Props.seed) (fun (labels, k0, seed) ->
        let k = min k0 labels.Length
        let folds = Splits.stratifiedKFold (Rng.create seed) k labels
        let all = Array.concat folds
        let sizes = folds |> Array.map Array.length
        let classes = Array.distinct labels
        folds.Length = k
        && (Array.sort all = Array.init labels.Length id)                   // disjoint and covering
        && folds |> Array.forall isSortedDistinct
        && Array.max sizes - Array.min sizes <= 1
        && classes |> Array.forall (fun c ->
            let per = folds |> Array.map (fun f -> classCount labels f c)
            Array.max per - Array.min per <= 1))

[<Fact>]
let ``stratifiedKFold is a function of the seed`` () =
    Props.forAll (Gen.zip labelsGen Props.seed) (fun (labels, seed) ->
        let k = min 3 labels.Length
        Splits.stratifiedKFold (Rng.create seed) k labels = Splits.stratifiedKFold (Rng.create seed) k labels)
    // and different seeds do shuffle (a constant split would satisfy every property above)
    let labels = Array.init 60 (fun i -> i % 3)
    let distinct = [ 0 .. 9 ] |> List.map (fun s -> Splits.stratifiedKFold (Rng.create s) 5 labels) |> List.distinct
    Assert.True(distinct.Length >= 9, sprintf "only %d distinct fold sets for 10 seeds" distinct.Length)

[<Fact>]
let ``stratifiedKFold rejects bad k and negative labels`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> Splits.stratifiedKFold (Rng.create 0) 1 [| 0; 1; 0 |] |> ignore)
    Assert.Contains("k = 1", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> Splits.stratifiedKFold (Rng.create 0) 5 [| 0; 1; 0 |] |> ignore)
    Assert.Contains("3 items", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> Splits.stratifiedKFold (Rng.create 0) 2 [| 0; -1; 0 |] |> ignore)
    Assert.Contains("label -1 at index 1", e.Message)

[<Fact>]
let ``randomSplit gives floor(p n) items, disjoint and covering, determined by the seed`` () =
    Props.forAll (Gen.zip3 (Props.dim 0 200) (Gen.choose (0, 100)) Props.seed) (fun (n, pct, seed) ->
        let p = float pct / 100.0
        let a, b = Splits.randomSplit (Rng.create seed) p n
        a.Length = int (Math.Floor(p * float n + 1e-9))
        && Array.sort (Array.append a b) = Array.init n id
        && isSortedDistinct a && isSortedDistinct b
        && (a, b) = Splits.randomSplit (Rng.create seed) p n)
    // GFKD's 70/30 split with seed 29: the sizes sklearn's train_size=0.7 gives
    let tr, te = Splits.randomSplit (Rng.create 29) 0.7 188
    Assert.Equal(131, tr.Length)
    Assert.Equal(57, te.Length)
    Assert.NotEqual<int[]>(tr, Splits.randomSplit (Rng.create 30) 0.7 188 |> fst)

[<Fact>]
let ``stratifiedSplit keeps every class within one item of its exact share`` () =
    Props.forAll (Gen.zip3 labelsGen (Gen.choose (0, 100)) Props.seed) (fun (labels, pct, seed) ->
        let p = float pct / 100.0
        let a, b = Splits.stratifiedSplit (Rng.create seed) p labels
        let n = labels.Length
        a.Length = int (Math.Floor(p * float n + 1e-9))
        && Array.sort (Array.append a b) = Array.init n id
        && isSortedDistinct a && isSortedDistinct b
        && Array.distinct labels |> Array.forall (fun c ->
            let size = classCount labels (Array.init n id) c
            abs (float (classCount labels a c) - p * float size) < 1.0 + 1e-9)
        && (a, b) = Splits.stratifiedSplit (Rng.create seed) p labels)

[<Fact>]
let ``carveValidation splits a training fold into stratified, disjoint parts of that fold`` () =
    Props.forAll (Gen.zip3 labelsGen (Gen.choose (0, 50)) Props.seed) (fun (labels, pct, seed) ->
        let n = labels.Length
        let k = min 4 n
        let folds = Splits.stratifiedKFold (Rng.create seed) k labels
        let train = Splits.complement n folds.[0]
        let p = float pct / 100.0
        let tr, va = Splits.carveValidation (Rng.create (seed + 1)) p labels train
        let inFold = Set.ofArray train
        Array.sort (Array.append tr va) = train
        && va.Length = int (Math.Floor(p * float train.Length + 1e-9))
        && Array.forall (fun i -> inFold.Contains i) va
        && Set.intersect (Set.ofArray va) (Set.ofArray folds.[0]) |> Set.isEmpty
        && Array.distinct labels |> Array.forall (fun c ->
            abs (float (classCount labels va c) - p * float (classCount labels train c)) < 1.0 + 1e-9)
        && (tr, va) = Splits.carveValidation (Rng.create (seed + 1)) p labels train)

[<Fact>]
let ``complement rejects out-of-range indices`` () =
    Assert.Equal<int[]>([| 0; 2; 4 |], Splits.complement 5 [| 3; 1 |])
    let e = Assert.Throws<ArgumentException>(fun () -> Splits.complement 5 [| 5 |] |> ignore)
    Assert.Contains("index 5 is out of range [0, 5)", e.Message)

// ---------------------------------------------------------------------------------------------------------------
// Point clouds

/// A random h x w image with a random number of foreground pixels (at least one).
let private imageGen =
    gen {
        let! h = Props.dim 1 12
        let! w = Props.dim 1 12
        let! density = Gen.choose (1, 100)
        let! seed = Props.seed
        let r = Rng.create seed
        let px = Array.init (h * w) (fun i -> if Rng.uniformAt r (int64 i) * 100.0f < float32 density then 0.5f + 0.5f * Rng.uniformAt r (int64 (i + 1000)) else 0.0f)
        px.[Rng.intAt r 99999L (h * w)] <- 1.0f
        return h, w, px
    }

let private norms (t: Tensor) = Array.init t.Shape.[0] (fun i -> let d = t.Data in sqrt (d.[3*i] * d.[3*i] + d.[3*i+1] * d.[3*i+1] + d.[3*i+2] * d.[3*i+2]))

[<Fact>]
let ``samplePixels picks foreground pixels, distinct when there are enough, all of them when there are few`` () =
    Props.forAll (Gen.zip3 imageGen (Props.dim 1 64) Props.seed) (fun ((h, w, px), p, seed) ->
        let idx = PointClouds.samplePixels (Rng.create seed) p 0.25f (ReadOnlySpan px)
        let fg = px |> Array.indexed |> Array.filter (fun (_, v) -> v > 0.25f) |> Array.map fst
        idx.Length = p
        && idx |> Array.forall (fun i -> px.[i] > 0.25f)
        && (if fg.Length >= p then (Array.distinct idx).Length = p else Set.ofArray idx = Set.ofArray fg)
        && idx = PointClouds.samplePixels (Rng.create seed) p 0.25f (ReadOnlySpan px))

[<Fact>]
let ``ofImage gives P points centred on the mean, inside the unit ball with one on its sphere`` () =
    Props.forAll (Gen.zip3 imageGen (Props.dim 1 64) Props.seed) (fun ((h, w, px), p, seed) ->
        let t = PointClouds.ofImage (Rng.create seed) p 0.25f h w (ReadOnlySpan px)
        let d = t.Data
        let mean k = (Array.init p (fun i -> float d.[3 * i + k]) |> Array.sum) / float p
        let ns = norms t
        let single = (Array.distinct (PointClouds.samplePixels (Rng.create seed) p 0.25f (ReadOnlySpan px))).Length = 1
        t.Shape = [| p; 3 |]
        && abs (mean 0) < 1e-5 && abs (mean 1) < 1e-5 && Array.forall (fun i -> d.[3 * i + 2] = 0.0f) [| 0 .. p - 1 |]
        && ns |> Array.forall (fun v -> v <= 1.0f + 1e-5f)
        && (if single then Array.max ns = 0.0f else abs (Array.max ns - 1.0f) < 1e-5f))

[<Fact>]
let ``ofImage keeps the shape: a horizontal bar gives points with y = 0 spread along x`` () =
    let px = Array.zeroCreate<float32> (5 * 7)
    for c in 1 .. 5 do px.[2 * 7 + c] <- 1.0f                     // row 2, columns 1..5
    let t = PointClouds.ofImage (Rng.create 3) 5 0.5f 5 7 (ReadOnlySpan px)
    let xs = Array.init 5 (fun i -> t.Data.[3 * i]) |> Array.sort
    Assert.Equal<float32[]>([| -1.0f; -0.5f; 0.0f; 0.5f; 1.0f |], xs)
    for i in 0 .. 4 do Assert.Equal(0.0f, t.Data.[3 * i + 1])

[<Fact>]
let ``ofImages is deterministic by seed, per image, and rejects blank images and bad sizes`` () =
    let r = Rng.create 11
    let images = Array.init (6 * 16) (fun i -> if Rng.uniformAt r (int64 i) > 0.5f then 1.0f else 0.0f)
    for i in 0 .. 5 do images.[i * 16] <- 1.0f
    let labels = [| 0; 1; 2; 0; 1; 2 |]
    let a = PointClouds.ofImages (Rng.create 5) 8 0.5f 4 4 images labels
    let b = PointClouds.ofImages (Rng.create 5) 8 0.5f 4 4 images labels
    Assert.True(Array.forall2 (fun (x: PointCloud) (y: PointCloud) -> x.Points.Data = y.Points.Data && x.Label = y.Label) a b)
    Assert.Equal<int[]>(labels, a |> Array.map (fun c -> c.Label))
    // a cloud depends on its own key and image only: the first 3 images alone give the same first 3 clouds
    let c = PointClouds.ofImages (Rng.create 5) 8 0.5f 4 4 images.[.. 3 * 16 - 1] labels.[.. 2]
    Assert.True(Array.forall2 (fun (x: PointCloud) (y: PointCloud) -> x.Points.Data = y.Points.Data) a.[.. 2] c)
    let other = PointClouds.ofImages (Rng.create 6) 8 0.5f 4 4 images labels
    Assert.False(Array.forall2 (fun (x: PointCloud) (y: PointCloud) -> x.Points.Data = y.Points.Data) a other)
    let blank = Array.zeroCreate<float32> 16
    let e = Assert.Throws<ArgumentException>(fun () -> PointClouds.ofImages (Rng.create 0) 8 0.5f 4 4 blank [| 0 |] |> ignore)
    Assert.Contains("no pixel is above the threshold 0.5", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> PointClouds.ofImages (Rng.create 0) 8 0.5f 4 4 images [| 0 |] |> ignore)
    Assert.Contains("96 intensities for 1 labels", e.Message)

[<Fact>]
let ``dataset builds train and test clouds with independent keys`` () =
    let img = Array.init (2 * 9) (fun i -> if i % 2 = 0 then 1.0f else 0.0f)
    let ds = PointClouds.dataset "toy" (Rng.create 1) 4 0.5f 3 3 img [| 0; 1 |] img [| 1; 0 |] 2
    Assert.Equal(2, ds.Train.Length)
    Assert.Equal(2, ds.Test.Length)
    Assert.Equal(2, ds.NumClasses)
    Assert.Equal<int[]>([| 1; 0 |], ds.Test |> Array.map (fun c -> c.Label))
    Assert.NotEqual<float32[]>(ds.Train.[0].Points.Data, ds.Test.[0].Points.Data)
