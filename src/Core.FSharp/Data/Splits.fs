/// Train / validation / test partitions of a dataset's items (graphs or nodes), seeded and stratified by label.
/// Every function is a pure function of its arguments: the same key gives the same partition on any machine.
/// Index arrays are returned sorted ascending, so a partition is a set; trainers shuffle per epoch themselves.
namespace GcnKd

open System

[<RequireQualifiedAccess>]
module Splits =
    let private checkLabels (op: string) (labels: int[]) =
        for i in 0 .. labels.Length - 1 do
            if labels.[i] < 0 then invalidArg "labels" (sprintf "Splits.%s: label %d at index %d is negative; expected class ids 0..C-1" op labels.[i] i)

    let private checkFraction (op: string) (p: float) =
        if Double.IsNaN p || p < 0.0 || p > 1.0 then invalidArg "fraction" (sprintf "Splits.%s: fraction %g is outside [0, 1]" op p)

    /// floor(p * n) with a guard against float noise (0.7 * 10 = 6.999...): the count sklearn's `train_size` gives.
    let private countOf (p: float) (n: int) = int (Math.Floor(p * float n + 1e-9)) |> min n |> max 0

    /// Item indices grouped by class (class order), each group shuffled by its own key derived from `rng`.
    let private shuffledByClass (rng: Rng) (labels: int[]) =
        let numClasses = if labels.Length = 0 then 0 else Array.max labels + 1
        let groups = Array.init numClasses (fun _ -> ResizeArray<int>())
        labels |> Array.iteri (fun i c -> groups.[c].Add i)
        let keys = Rng.splitN (max 1 numClasses) rng
        groups |> Array.mapi (fun c g -> let arr = g.ToArray() in Rng.permutation arr.Length keys.[c] |> Array.map (fun j -> arr.[j]))

    /// Stratified k-fold: the test indices of each of the k folds. Classes are laid out one after another (each
    /// shuffled) and dealt round-robin to the folds, so every class's count differs by at most one between folds,
    /// fold sizes differ by at most one, and the folds partition 0..n-1 (as sklearn's StratifiedKFold(shuffle)).
    let stratifiedKFold (rng: Rng) (k: int) (labels: int[]) : int[][] =
        checkLabels "stratifiedKFold" labels
        if k < 2 || k > labels.Length then
            invalidArg "k" (sprintf "Splits.stratifiedKFold: k = %d folds for %d items; expected 2 <= k <= number of items" k labels.Length)
        let order = shuffledByClass rng labels |> Array.concat
        let folds = Array.init k (fun _ -> ResizeArray<int>())
        order |> Array.iteri (fun pos i -> folds.[pos % k].Add i)
        folds |> Array.map (fun f -> f.ToArray() |> Array.sort)

    /// The training indices of a fold: 0..n-1 without the fold's test indices (sorted).
    let complement (n: int) (test: int[]) : int[] =
        let inTest = Array.zeroCreate<bool> n
        for i in test do
            if i < 0 || i >= n then invalidArg "test" (sprintf "Splits.complement: index %d is out of range [0, %d)" i n)
            inTest.[i] <- true
        [| for i in 0 .. n - 1 do if not inTest.[i] then yield i |]

    /// A seeded random split of 0..n-1 into floor(p n) "first" and the rest, not stratified (e.g. GFKD's 70/30
    /// split: `randomSplit (Rng.create 29) 0.7 n`). Returns (first, rest).
    let randomSplit (rng: Rng) (p: float) (n: int) : int[] * int[] =
        checkFraction "randomSplit" p
        if n < 0 then invalidArg "n" (sprintf "Splits.randomSplit: negative item count %d" n)
        let perm = Rng.permutation n rng
        let m = countOf p n
        Array.sort perm.[.. m - 1], Array.sort perm.[m ..]

    /// Per-class counts summing to floor(p n) overall: floor(p n_c) per class, and the remaining items go to the
    /// classes with the largest fractional parts (ties to the smaller class id). Each class gets floor or ceil of
    /// its exact share, so the class proportions of both parts follow the whole.
    let private allocate (p: float) (sizes: int[]) =
        let total = countOf p (Array.sum sizes)
        let exact = sizes |> Array.map (fun s -> p * float s)
        let counts = exact |> Array.mapi (fun c e -> min sizes.[c] (int (Math.Floor(e + 1e-9))))
        let order = Array.init sizes.Length id |> Array.sortBy (fun c -> -(exact.[c] - float counts.[c]), c)
        let mutable left = total - Array.sum counts
        for c in order do
            if left > 0 && counts.[c] < sizes.[c] then
                counts.[c] <- counts.[c] + 1
                left <- left - 1
        counts

    /// A seeded split stratified by label: (first, rest) with floor(p n) items in `first` and every class split in
    /// (almost exactly) the proportion p.
    let stratifiedSplit (rng: Rng) (p: float) (labels: int[]) : int[] * int[] =
        checkFraction "stratifiedSplit" p
        checkLabels "stratifiedSplit" labels
        let groups = shuffledByClass rng labels
        let counts = allocate p (groups |> Array.map Array.length)
        let first = groups |> Array.mapi (fun c g -> g.[.. counts.[c] - 1]) |> Array.concat |> Array.sort
        let rest = groups |> Array.mapi (fun c g -> g.[counts.[c] ..]) |> Array.concat |> Array.sort
        first, rest

    /// Carve a validation part out of a training fold, stratified by label, seeded: `valFraction` of `train`
    /// (floor) becomes validation; returns (train', val), both subsets of `train`, disjoint, covering it. Model
    /// selection (epoch choice) reads only `val`, never the fold's test part.
    let carveValidation (rng: Rng) (valFraction: float) (labels: int[]) (train: int[]) : int[] * int[] =
        checkFraction "carveValidation" valFraction
        checkLabels "carveValidation" labels
        for i in train do
            if i < 0 || i >= labels.Length then
                invalidArg "train" (sprintf "Splits.carveValidation: index %d is out of range [0, %d)" i labels.Length)
        let sub = train |> Array.map (fun i -> labels.[i])
        let valPos, trainPos = stratifiedSplit rng valFraction sub
        Array.sort (trainPos |> Array.map (fun j -> train.[j])), Array.sort (valPos |> Array.map (fun j -> train.[j]))
