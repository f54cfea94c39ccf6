/// Gradients of an expectation over independent Bernoulli variables with respect to their logits, from forward
/// evaluations only (GFKD, Deng & Zhang 2021; shared/METHODS.md section 2). The variables of several fake graphs
/// are laid out flat, graph g owning the slice Offsets.[g] .. Offsets.[g + 1] - 1; the objective is evaluated on a
/// whole sample at once (one batched teacher pass) and returns one value per graph, and graph g's variables are
/// driven by graph g's value only (other graphs' terms do not depend on g's draw, so dropping them keeps each
/// estimator unbiased and lowers its variance).
///
///     d/d theta_i E_{a ~ Bern(sigmoid theta)} [f(a)]
///
/// ARM (augment-REINFORCE-merge, Yin & Zhou, ICLR 2019), one uniform u per variable and two antithetic samples:
///     a1 = 1[u > sigmoid(-theta)],  a2 = 1[u < sigmoid(theta)],   g_i = (f(a1) - f(a2)) (u_i - 1/2)
/// REINFORCE (score function) with K samples a_k and, optionally, the mean of the K values as a baseline:
///     g_i = 1/(K-1) sum_k (f(a_k) - mean_k f) (a_k,i - sigmoid theta_i)      (the leave-one-out form: unbiased)
///     g_i = 1/K     sum_k f(a_k) (a_k,i - sigmoid theta_i)                    (no baseline)
namespace GcnKd

open System

/// Where each graph's variables sit in the flat logit vector: graph g owns Offsets.[g] .. Offsets.[g + 1] - 1.
type VariableLayout =
    { Offsets: int[] }

    member l.Graphs = l.Offsets.Length - 1
    member l.Count = l.Offsets.[l.Offsets.Length - 1]

    /// The graph that owns every variable, [Count].
    member l.Owner =
        let owner = Array.zeroCreate<int> l.Count
        for g in 0 .. l.Graphs - 1 do
            for i in l.Offsets.[g] .. l.Offsets.[g + 1] - 1 do owner.[i] <- g
        owner

[<RequireQualifiedAccess>]
module VariableLayout =
    /// One slice per graph with the given variable counts.
    let ofCounts (counts: int[]) =
        if counts |> Array.exists (fun c -> c < 0) then
            invalidArg "counts" (sprintf "VariableLayout.ofCounts: counts must be >= 0, got %A" counts)
        { Offsets = Array.append [| 0 |] (Array.scan (+) 0 counts |> Array.tail) }

    /// A single graph owning all n variables.
    let single (n: int) = ofCounts [| n |]

/// A structure-gradient estimator for Bernoulli logits.
[<RequireQualifiedAccess>]
type StructureEstimator =
    /// Augment-REINFORCE-merge: two forward passes per step.
    | Arm
    /// Score function over K >= 2 samples (K passes), with the leave-one-out mean baseline or none.
    | Reinforce of samples: int * baseline: bool

/// One estimate: the gradient for every logit and the objective values it was computed from (per pass, per graph),
/// so a caller can log the objective without another pass.
type StructureEstimate = { Gradient: float32[]; Values: float[][] }

[<RequireQualifiedAccess>]
module StructureGradient =
    let inline private sigmoid (x: float) = 1.0 / (1.0 + Math.Exp(-x))

    let private check (op: string) (layout: VariableLayout) (logits: float32[]) =
        if isNull logits || logits.Length <> layout.Count then
            invalidArg "logits" (sprintf "%s: expected %d logits (the layout's variable count), got %d" op layout.Count (if isNull logits then 0 else logits.Length))
        if logits |> Array.exists Single.IsNaN then invalidArg "logits" (sprintf "%s: the logits contain NaN" op)

    let private evaluate (op: string) (layout: VariableLayout) (objective: bool[] -> float[]) (sample: bool[]) =
        let v = objective sample
        if isNull v || v.Length <> layout.Graphs then
            invalidArg "objective" (sprintf "%s: the objective must return one value per graph (%d), got %d" op layout.Graphs (if isNull v then 0 else v.Length))
        v

    /// Bernoulli(sigmoid theta) draws from uniforms in (0, 1): a_i = u_i < sigmoid(theta_i).
    let sample (logits: float32[]) (u: float32[]) = Array.map2 (fun (t: float32) (x: float32) -> float x < sigmoid (float t)) logits u

    /// The mode 1[sigmoid(theta) >= 1/2] = 1[theta >= 0].
    let mode (logits: float32[]) = logits |> Array.map (fun t -> t >= 0.0f)

    /// ARM's two antithetic samples for uniforms u: (1[u > sigmoid(-theta)], 1[u < sigmoid(theta)]).
    let armPair (logits: float32[]) (u: float32[]) =
        Array.map2 (fun (t: float32) (x: float32) -> float x > sigmoid (-(float t))) logits u,
        Array.map2 (fun (t: float32) (x: float32) -> float x < sigmoid (float t)) logits u

    /// The ARM estimate for given uniforms (exposed so tests can fix u).
    let armWith (layout: VariableLayout) (objective: bool[] -> float[]) (logits: float32[]) (u: float32[]) : StructureEstimate =
        let op = "StructureGradient.arm"
        check op layout logits
        if isNull u || u.Length <> logits.Length then invalidArg "u" (sprintf "%s: expected %d uniforms, got %d" op logits.Length (if isNull u then 0 else u.Length))
        let a1, a2 = armPair logits u
        let f1 = evaluate op layout objective a1
        let f2 = evaluate op layout objective a2
        let owner = layout.Owner
        let g = Array.init logits.Length (fun i -> let o = owner.[i] in float32 ((f1.[o] - f2.[o]) * (float u.[i] - 0.5)))
        { Gradient = g; Values = [| f1; f2 |] }

    /// The ARM estimate, its uniforms drawn from rng (open interval, so no draw sits on a boundary of (0, 1)).
    let arm (layout: VariableLayout) (objective: bool[] -> float[]) (logits: float32[]) (rng: Rng) : StructureEstimate =
        let u = Array.zeroCreate<float32> logits.Length
        Rng.fillOpenUniform rng 0L u
        armWith layout objective logits u

    /// The score-function estimate over `samples` draws (>= 2 with the baseline, >= 1 without).
    let reinforce (samples: int) (baseline: bool) (layout: VariableLayout) (objective: bool[] -> float[]) (logits: float32[]) (rng: Rng) : StructureEstimate =
        let op = "StructureGradient.reinforce"
        check op layout logits
        if samples < (if baseline then 2 else 1) then
            invalidArg "samples" (sprintf "%s: needs at least %d samples%s, got %d" op (if baseline then 2 else 1) (if baseline then " with a baseline" else "") samples)
        let keys = Rng.splitN samples rng
        let draws = keys |> Array.map (fun k ->
            let u = Array.zeroCreate<float32> logits.Length
            Rng.fillOpenUniform k 0L u
            sample logits u)
        let values = draws |> Array.map (evaluate op layout objective)
        let graphs = layout.Graphs
        let centre = Array.init graphs (fun g -> if baseline then (values |> Array.averageBy (fun v -> v.[g])) else 0.0)
        let scale = if baseline then 1.0 / float (samples - 1) else 1.0 / float samples
        let owner = layout.Owner
        let p = logits |> Array.map (fun t -> sigmoid (float t))
        let g =
            Array.init logits.Length (fun i ->
                let o = owner.[i]
                let mutable s = 0.0
                for k in 0 .. samples - 1 do
                    s <- s + (values.[k].[o] - centre.[o]) * ((if draws.[k].[i] then 1.0 else 0.0) - p.[i])
                float32 (s * scale))
        { Gradient = g; Values = values }

    /// Dispatch on the estimator.
    let estimate (estimator: StructureEstimator) (layout: VariableLayout) (objective: bool[] -> float[]) (logits: float32[]) (rng: Rng) =
        match estimator with
        | StructureEstimator.Arm -> arm layout objective logits rng
        | StructureEstimator.Reinforce(k, b) -> reinforce k b layout objective logits rng

    /// Forward passes one estimate costs.
    let passes (estimator: StructureEstimator) =
        match estimator with
        | StructureEstimator.Arm -> 2
        | StructureEstimator.Reinforce(k, _) -> k

    /// The exact gradient of E[f] by enumerating all 2^n configurations of a single graph's variables (n <= 20;
    /// for tests and small checks): sum_a f(a) p(a) (a_i - sigmoid theta_i).
    let exact (objective: bool[] -> float) (logits: float32[]) : float[] =
        let n = logits.Length
        if n > 20 then invalidArg "logits" (sprintf "StructureGradient.exact: enumeration needs at most 20 variables, got %d" n)
        let p = logits |> Array.map (fun t -> sigmoid (float t))
        let g = Array.zeroCreate<float> n
        for bits in 0 .. (1 <<< n) - 1 do
            let a = Array.init n (fun i -> (bits >>> i) &&& 1 = 1)
            let mutable prob = 1.0
            for i in 0 .. n - 1 do prob <- prob * (if a.[i] then p.[i] else 1.0 - p.[i])
            let f = objective a
            for i in 0 .. n - 1 do g.[i] <- g.[i] + f * prob * ((if a.[i] then 1.0 else 0.0) - p.[i])
        g
