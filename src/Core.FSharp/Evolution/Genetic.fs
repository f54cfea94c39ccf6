/// The genetic search over keep-masks (Wang et al., KDD 2018; operators and schedule of the same group's released
/// GA code): a population of random bit strings; each generation keeps its best individuals unchanged (elitism)
/// and fills every other slot with one operator drawn at random: a roulette-wheel copy, a two-point crossover of
/// two roulette-chosen parents, or a mutation that flips every bit of a random segment. Fitness is maximised and
/// must be non-negative (the roulette draws in proportion to it).
namespace GcnKd.Evolution

open GcnKd

type GeneticConfig =
    { Population: int
      Generations: int
      /// Probability that a new slot is a roulette copy of one parent.
      PCopy: float
      /// Probability that it comes from a two-point crossover; the rest (1 - PCopy - PCrossover) is mutation.
      PCrossover: float
      /// Best individuals carried over unchanged each generation.
      Elites: int
      /// Probability that a bit of an initial individual is 1 (kept); 0.5 is the released uniform start.
      InitKeep: float
      Seed: int }

/// One generation's fitness summary (after evaluation).
type GenerationStats = { Generation: int; Best: float; Mean: float; BestKept: int; Evaluated: int }

type GeneticResult =
    { Best: bool[]
      BestFitness: float
      History: GenerationStats[]
      /// The last generation and its fitness.
      Population: bool[][]
      Fitness: float[] }

[<RequireQualifiedAccess>]
module Genetic =
    /// The released code's schedule: 32 individuals, 50 generations, copy 0.2 / crossover 0.7 / mutation 0.1,
    /// one elite, uniform random start.
    let released = { Population = 32; Generations = 50; PCopy = 0.2; PCrossover = 0.7; Elites = 1; InitKeep = 0.5; Seed = 0 }

    let validate (cfg: GeneticConfig) =
        if cfg.Population < 2 then invalidArg "Population" (sprintf "the population needs at least 2 individuals, got %d" cfg.Population)
        if cfg.Generations < 1 then invalidArg "Generations" (sprintf "at least one generation is needed, got %d" cfg.Generations)
        if cfg.Elites < 0 || cfg.Elites >= cfg.Population then
            invalidArg "Elites" (sprintf "elites must lie in [0, population), got %d of %d" cfg.Elites cfg.Population)
        if cfg.PCopy < 0.0 || cfg.PCrossover < 0.0 || cfg.PCopy + cfg.PCrossover > 1.0 then
            invalidArg "PCopy" (sprintf "operator probabilities must be non-negative and sum to at most 1, got copy %g, crossover %g" cfg.PCopy cfg.PCrossover)
        if cfg.InitKeep < 0.0 || cfg.InitKeep > 1.0 then invalidArg "InitKeep" (sprintf "InitKeep must lie in [0, 1], got %g" cfg.InitKeep)

    /// Roulette wheel: the index i with cumulative share first exceeding u in [0, 1), shares in proportion to
    /// fitness. All-zero fitness draws uniformly. Negative or non-finite fitness is an error.
    let roulette (fitness: float[]) (u: float) =
        if fitness.Length = 0 then invalidArg "fitness" "roulette: empty population"
        if fitness |> Array.exists (fun f -> not (f >= 0.0) || System.Double.IsInfinity f) then
            invalidArg "fitness" (sprintf "roulette: fitness must be finite and non-negative, got %A" (fitness |> Array.filter (fun f -> not (f >= 0.0) || System.Double.IsInfinity f)))
        let total = Array.sum fitness
        if total <= 0.0 then min (fitness.Length - 1) (int (u * float fitness.Length))
        else
            let target = u * total
            let mutable acc = 0.0
            let mutable i = 0
            let mutable found = -1
            while found < 0 && i < fitness.Length do
                acc <- acc + fitness.[i]
                if target < acc && fitness.[i] > 0.0 then found <- i
                i <- i + 1
            // rounding can leave u * total at the very top: take the last individual with positive fitness
            if found >= 0 then found else Array.findIndexBack (fun f -> f > 0.0) fitness

    let private ordered (i: int) (j: int) = min i j, max i j

    /// Two-point crossover: the children swap the bits in [min i j, max i j).
    let crossover (a: bool[]) (b: bool[]) (i: int) (j: int) =
        if a.Length <> b.Length then invalidArg "b" (sprintf "crossover: parents of lengths %d and %d" a.Length b.Length)
        let lo, hi = ordered i j
        if lo < 0 || hi > a.Length then invalidArg "i" (sprintf "crossover: cut points %d, %d outside [0, %d]" i j a.Length)
        let c1, c2 = Array.copy a, Array.copy b
        for k in lo .. hi - 1 do
            c1.[k] <- b.[k]
            c2.[k] <- a.[k]
        c1, c2

    /// Segment mutation: every bit in [min i j, max i j) flipped.
    let flipSegment (a: bool[]) (i: int) (j: int) =
        let lo, hi = ordered i j
        if lo < 0 || hi > a.Length then invalidArg "i" (sprintf "flipSegment: cut points %d, %d outside [0, %d]" i j a.Length)
        Array.mapi (fun k b -> if k >= lo && k < hi then not b else b) a

    /// Indices by decreasing fitness (ties: the earlier index first).
    let rank (fitness: float[]) = Array.init fitness.Length id |> Array.sortWith (fun i j -> match compare fitness.[j] fitness.[i] with 0 -> compare i j | c -> c)

    /// The next population from the current one: elites, then operator-made slots. Pure in (population, fitness,
    /// key).
    let breed (cfg: GeneticConfig) (population: bool[][]) (fitness: float[]) (key: Rng) : bool[][] =
        let len = population.[0].Length
        let next = ResizeArray<bool[]>(cfg.Population)
        for i in rank fitness |> Array.truncate cfg.Elites do next.Add(Array.copy population.[i])
        let mutable draw = 0L
        let u () =
            let v = float (Rng.uniformAt key draw)
            draw <- draw + 1L
            v
        let cut () =
            let c = Rng.intAt key draw (len + 1)
            draw <- draw + 1L
            c
        let pick () = population.[roulette fitness (u ())]
        while next.Count < cfg.Population do
            let s = u ()
            if s < cfg.PCopy then next.Add(Array.copy (pick ()))
            elif s < cfg.PCopy + cfg.PCrossover then
                let a = pick ()
                let b = pick ()
                let c1, c2 = crossover a b (cut ()) (cut ())
                next.Add c1
                if next.Count < cfg.Population then next.Add c2
            else next.Add(flipSegment (pick ()) (cut ()) (cut ()))
        next.ToArray()

    /// A random initial population (bit = 1 with probability InitKeep).
    let initial (cfg: GeneticConfig) (length: int) (key: Rng) =
        Array.init cfg.Population (fun i -> Array.init length (fun k -> float (Rng.uniformAt key (int64 i * int64 length + int64 k)) < cfg.InitKeep))

    /// Run the search. `evaluate` scores a batch of individuals (it may run them in parallel); each distinct mask is
    /// evaluated once (fitness must be a function of the mask alone). `seeds` are individuals placed into the
    /// initial population (e.g. the full network). `onGeneration` sees each generation's statistics.
    let evolve (cfg: GeneticConfig) (length: int) (seeds: bool[][]) (evaluate: bool[][] -> float[]) (onGeneration: GenerationStats -> unit) : GeneticResult =
        validate cfg
        if length < 1 then invalidArg "length" "evolve: the chromosome needs at least one bit"
        for s in seeds do
            if s.Length <> length then invalidArg "seeds" (sprintf "evolve: a seed individual has %d bits, the chromosome %d" s.Length length)
        let keys = Rng.splitN (cfg.Generations + 1) (Rng.create cfg.Seed)
        let memo = System.Collections.Generic.Dictionary<string, float>()
        let keyOf (b: bool[]) = System.String(b |> Array.map (fun x -> if x then '1' else '0'))
        let score (pop: bool[][]) =
            let fresh = pop |> Array.map keyOf |> Array.indexed |> Array.filter (fun (_, k) -> not (memo.ContainsKey k)) |> Array.distinctBy snd
            let values = evaluate (fresh |> Array.map (fun (i, _) -> pop.[i]))
            if values.Length <> fresh.Length then invalidArg "evaluate" (sprintf "evolve: %d fitness values for %d individuals" values.Length fresh.Length)
            Array.iter2 (fun (_, k) v -> memo.[k] <- v) fresh values
            pop |> Array.map (fun b -> memo.[keyOf b]), fresh.Length
        let mutable pop = initial cfg length keys.[0]
        for i, s in Array.indexed (Array.truncate cfg.Population seeds) do pop.[i] <- Array.copy s
        let history = ResizeArray()
        let mutable fit = [||]
        for gen in 0 .. cfg.Generations - 1 do
            if gen > 0 then pop <- breed cfg pop fit keys.[gen]
            let f, evaluated = score pop
            fit <- f
            let best = (rank fit).[0]
            let stats = { Generation = gen; Best = fit.[best]; Mean = Array.average fit; BestKept = pop.[best] |> Array.sumBy (fun b -> if b then 1 else 0); Evaluated = evaluated }
            history.Add stats
            onGeneration stats
        let best = (rank fit).[0]
        { Best = Array.copy pop.[best]; BestFitness = fit.[best]; History = history.ToArray(); Population = pop; Fitness = fit }
