/// Fitness of a keep-mask, measured on a fixed random subset of the training data with no fine-tuning, maximised
/// by the genetic search. Both of the method's forms: the released GA code's scaled inverse loss plus a reward per
/// removed unit, and subset accuracy minus a multiplication-count penalty.
namespace GcnKd.Evolution

open System.Threading.Tasks
open GcnKd

type FitnessForm =
    /// scale / L_subset + lambda * (removed units); the released code uses 500 / L + 0.001 * removed.
    | InverseLoss of scale: float * lambda: float
    /// Acc_subset (a fraction) - flops * mults(thin) / mults(full) - parameters * params(thin) / params(full),
    /// floored at 0 for the roulette. With parameters = 0 it is the method's accuracy-FLOPs form; the parameter term
    /// asks for storage savings too (LeNet's parameters sit in fc1, its multiplications in conv2).
    | AccuracyCost of flops: float * parameters: float

/// How one thin candidate does on the fitness subset.
type CandidateScore = { Loss: float; Accuracy: float; Removed: int; MultsRatio: float; ParamsRatio: float }

/// What the search needs from a model: its prunable structure over the trained tree `Full`, a thin tree's loss and
/// accuracy on the fitness subset (given the kept-unit counts per group, which size the thin model), and the cost
/// of a thin model.
type PruningTarget<'P> =
    { Structure: PrunableStructure
      Full: 'P
      Score: int[] -> 'P -> float * float
      Cost: int[] -> ModelCost }

[<RequireQualifiedAccess>]
module Fitness =
    /// The fixed subset the fitness is measured on: `size` of the training indices, drawn with the search's seed.
    let subset (trainIdx: int[]) (size: int) (seed: int) =
        Rng.permutation trainIdx.Length (Rng.create (seed + 7919)) |> Array.truncate (min size trainIdx.Length) |> Array.map (fun i -> trainIdx.[i]) |> Array.sort

    /// The fitness of a viable candidate (non-negative).
    let value (form: FitnessForm) (s: CandidateScore) =
        match form with
        | InverseLoss (scale, lambda) -> scale / max s.Loss 1e-12 + lambda * float s.Removed
        | AccuracyCost (flops, parameters) -> max 0.0 (s.Accuracy - flops * s.MultsRatio - parameters * s.ParamsRatio)

    /// Score one mask: thin the tree, evaluate it, count what it removes. None for a mask that empties a group.
    let score (target: PruningTarget<'P>) (mask: bool[]) : CandidateScore option =
        if not (Prunable.isViable target.Structure mask) then None
        else
            let counts = Prunable.keptCounts target.Structure mask
            let loss, acc = target.Score counts (Thinning.thin target.Structure mask target.Full)
            let full = target.Cost (target.Structure.Groups |> List.map (fun g -> g.Units) |> Array.ofList)
            let thin = target.Cost counts
            Some { Loss = loss; Accuracy = acc; Removed = Prunable.removed target.Structure mask
                   MultsRatio = float thin.Mults / float full.Mults; ParamsRatio = float thin.Params / float full.Params }

    /// A batch evaluator for `Genetic.evolve`: candidates scored in parallel (one per core); a mask that empties a
    /// group scores 0, so the roulette never picks it while others score above 0.
    let evaluator (form: FitnessForm) (target: PruningTarget<'P>) : bool[][] -> float[] =
        fun masks ->
            let out = Array.zeroCreate masks.Length
            let opts = ParallelOptions(MaxDegreeOfParallelism = Threads.Count)
            Parallel.For(0, masks.Length, opts, fun i ->
                out.[i] <- match score target masks.[i] with
                           | Some s -> value form s
                           | None -> 0.0) |> ignore
            out
