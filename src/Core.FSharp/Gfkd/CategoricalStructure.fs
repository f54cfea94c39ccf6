/// GFKD's multinomial structure mode (the proceedings version models topology with multinomial distributions):
/// each node i draws `budget` neighbours, with replacement, from Categorical(softmax(row i of the logits)) over the
/// other nodes; the graph is the symmetrised union of the draws. Rows are contiguous slices of the flat logit
/// vector (RowPtr). Gradients by the score function with a leave-one-out mean baseline over K samples:
///     g = 1/(K-1) sum_k (f_g(s_k) - mean_k f_g) d/dL log p(s_k),
///     d/dL_ij log p(s) = count_ij(s) - budget softmax(L_i)_j
/// (graph g's rows driven by graph g's value only, as in StructureGradient).
namespace GcnKd

open System

[<RequireQualifiedAccess>]
module CategoricalStructure =
    let private check (op: string) (rowPtr: int[]) (budget: int) (logits: float32[]) =
        if budget < 1 then invalidArg "budget" (sprintf "%s: the degree budget must be >= 1, got %d" op budget)
        if isNull logits || logits.Length <> rowPtr.[rowPtr.Length - 1] then
            invalidArg "logits" (sprintf "%s: expected %d logits (the rows' total), got %d" op rowPtr.[rowPtr.Length - 1] (if isNull logits then 0 else logits.Length))

    /// Per row, softmax of its logits (float64).
    let probabilities (rowPtr: int[]) (logits: float32[]) : float[] =
        let p = Array.zeroCreate<float> logits.Length
        for r in 0 .. rowPtr.Length - 2 do
            let lo, hi = rowPtr.[r], rowPtr.[r + 1]
            if hi > lo then
                let mutable m = Double.NegativeInfinity
                for e in lo .. hi - 1 do m <- max m (float logits.[e])
                let mutable z = 0.0
                for e in lo .. hi - 1 do
                    p.[e] <- Math.Exp(float logits.[e] - m)
                    z <- z + p.[e]
                for e in lo .. hi - 1 do p.[e] <- p.[e] / z
        p

    /// Draw counts per variable: `budget` categorical draws per non-empty row, with replacement (inverse CDF on
    /// the rng's uniforms, draw d of row r at stream position r * budget + d).
    let sampleCounts (rowPtr: int[]) (budget: int) (logits: float32[]) (rng: Rng) : int[] =
        check "CategoricalStructure.sampleCounts" rowPtr budget logits
        let p = probabilities rowPtr logits
        let counts = Array.zeroCreate<int> logits.Length
        for r in 0 .. rowPtr.Length - 2 do
            let lo, hi = rowPtr.[r], rowPtr.[r + 1]
            if hi > lo then
                for d in 0 .. budget - 1 do
                    let u = float (Rng.openUniformAt rng (int64 r * int64 budget + int64 d))
                    let mutable e = lo
                    let mutable acc = p.[lo]
                    while acc < u && e < hi - 1 do
                        e <- e + 1
                        acc <- acc + p.[e]
                    counts.[e] <- counts.[e] + 1
        counts

    /// The mode: each row's `budget` largest logits (ties to the lower index), as chosen variables.
    let mode (rowPtr: int[]) (budget: int) (logits: float32[]) : bool[] =
        check "CategoricalStructure.mode" rowPtr budget logits
        let chosen = Array.zeroCreate<bool> logits.Length
        for r in 0 .. rowPtr.Length - 2 do
            let lo, hi = rowPtr.[r], rowPtr.[r + 1]
            [| lo .. hi - 1 |] |> Array.sortBy (fun e -> -logits.[e], e) |> Array.truncate budget |> Array.iter (fun e -> chosen.[e] <- true)
        chosen

    /// The score-function estimate over `samples` >= 2 draws; the objective sees each sample as its chosen set.
    let reinforce (samples: int) (rowPtr: int[]) (budget: int) (layout: VariableLayout) (objective: bool[] -> float[]) (logits: float32[]) (rng: Rng) : StructureEstimate =
        let op = "CategoricalStructure.reinforce"
        check op rowPtr budget logits
        if samples < 2 then invalidArg "samples" (sprintf "%s: needs at least 2 samples for its baseline, got %d" op samples)
        if layout.Count <> logits.Length then invalidArg "layout" (sprintf "%s: the layout has %d variables, the rows %d" op layout.Count logits.Length)
        let counts = Rng.splitN samples rng |> Array.map (sampleCounts rowPtr budget logits)
        let values = counts |> Array.map (fun c ->
            let v = objective (c |> Array.map (fun k -> k > 0))
            if isNull v || v.Length <> layout.Graphs then
                invalidArg "objective" (sprintf "%s: the objective must return one value per graph (%d)" op layout.Graphs)
            v)
        let centre = Array.init layout.Graphs (fun g -> values |> Array.averageBy (fun v -> v.[g]))
        let p = probabilities rowPtr logits
        let owner = layout.Owner
        let g =
            Array.init logits.Length (fun e ->
                let o = owner.[e]
                let mutable s = 0.0
                for k in 0 .. samples - 1 do
                    s <- s + (values.[k].[o] - centre.[o]) * (float counts.[k].[e] - float budget * p.[e])
                float32 (s / float (samples - 1)))
        { Gradient = g; Values = values }

    /// The exact gradient of E[f] for one row by enumerating all budget-draw sequences (small rows, tests).
    let exact (budget: int) (objective: int[] -> float) (logits: float32[]) : float[] =
        let m = logits.Length
        let p = probabilities [| 0; m |] logits
        let g = Array.zeroCreate<float> m
        let rec go (d: int) (counts: int[]) (prob: float) =
            if d = budget then
                let f = objective counts
                for e in 0 .. m - 1 do g.[e] <- g.[e] + prob * f * (float counts.[e] - float budget * p.[e])
            else
                for e in 0 .. m - 1 do
                    counts.[e] <- counts.[e] + 1
                    go (d + 1) counts (prob * p.[e])
                    counts.[e] <- counts.[e] - 1
        go 0 (Array.zeroCreate m) 1.0
        g
