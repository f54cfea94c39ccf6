namespace GcnKd.Train

open GcnKd

/// One epoch of a training log. Test metrics are never logged per epoch: the test split is read once, for the
/// model selected on validation.
type EpochLog =
    { Epoch: int
      Lr: float
      TrainLoss: float
      TrainMetric: float
      ValLoss: float
      ValMetric: float }

/// What model selection ranks epochs by, on the validation split only.
type SelectBy =
    /// The best validation metric (accuracy, micro-F1); ties go to the lower validation loss, then the earlier epoch.
    | ValidationMetric
    /// The lowest validation loss; ties go to the better metric, then the earlier epoch. Less noisy than accuracy
    /// on small validation sets (a tenth of MUTAG's training fold is 17 graphs).
    | ValidationLoss

/// Model selection state: the best epoch so far under a criterion. Early stopping after `patience` epochs without
/// a new best (0: never).
type Selection<'M> =
    { Best: 'M option
      BestEpoch: int
      BestMetric: float
      BestLoss: float
      SinceBest: int }

[<RequireQualifiedAccess>]
module Selection =
    let empty<'M> : Selection<'M> = { Best = None; BestEpoch = -1; BestMetric = -infinity; BestLoss = infinity; SinceBest = 0 }

    /// Offer an epoch's model; `snapshot` is called only when it becomes the new best.
    let offerBy (by: SelectBy) (log: EpochLog) (snapshot: unit -> 'M) (s: Selection<'M>) =
        let better =
            match by with
            | ValidationMetric -> log.ValMetric > s.BestMetric || (log.ValMetric = s.BestMetric && log.ValLoss < s.BestLoss)
            | ValidationLoss -> log.ValLoss < s.BestLoss || (log.ValLoss = s.BestLoss && log.ValMetric > s.BestMetric)
        if better then { Best = Some (snapshot ()); BestEpoch = log.Epoch; BestMetric = log.ValMetric; BestLoss = log.ValLoss; SinceBest = 0 }
        else { s with SinceBest = s.SinceBest + 1 }

    /// Offer an epoch's model under the metric criterion.
    let offer (log: EpochLog) (snapshot: unit -> 'M) (s: Selection<'M>) = offerBy ValidationMetric log snapshot s

    let shouldStop (patience: int) (s: Selection<'M>) = patience > 0 && s.SinceBest >= patience

/// Mean and (sample) standard deviation of repeated runs.
[<RequireQualifiedAccess>]
module Summary =
    let meanStd (xs: float[]) =
        if xs.Length = 0 then nan, nan
        else
            let m = Array.average xs
            let sd = if xs.Length < 2 then 0.0 else sqrt (Array.sumBy (fun x -> (x - m) * (x - m)) xs / float (xs.Length - 1))
            m, sd
