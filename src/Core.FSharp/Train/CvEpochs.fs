namespace GcnKd.Train

open GcnKd

/// A training length chosen by cross-validation inside the training data: the epoch whose validation numbers,
/// averaged over the folds' logs, rank best under a selection criterion.
type CvEpochChoice =
    { /// The chosen epoch (0-based): train for Epoch + 1 epochs.
      Epoch: int
      /// The folds' mean validation metric and loss at that epoch.
      MeanValMetric: float
      MeanValLoss: float
      Folds: int }

[<RequireQualifiedAccess>]
module CvEpochs =
    /// The folds' logs averaged epoch by epoch, over the epochs every fold reached.
    let meanLog (logs: EpochLog[][]) : EpochLog[] =
        if logs.Length = 0 then invalidArg "logs" "CvEpochs.meanLog: no fold logs"
        let n = logs |> Array.map Array.length |> Array.min
        if n = 0 then invalidArg "logs" "CvEpochs.meanLog: a fold logged no epoch"
        Array.init n (fun e ->
            let at = logs |> Array.map (fun l -> l.[e])
            if at |> Array.exists (fun x -> x.Epoch <> e) then invalidArg "logs" (sprintf "CvEpochs.meanLog: entry %d is not epoch %d in every fold" e e)
            { Epoch = e; Lr = at.[0].Lr; TrainLoss = at |> Array.averageBy (fun x -> x.TrainLoss); TrainMetric = at |> Array.averageBy (fun x -> x.TrainMetric)
              ValLoss = at |> Array.averageBy (fun x -> x.ValLoss); ValMetric = at |> Array.averageBy (fun x -> x.ValMetric) })

    /// The best epoch of the averaged log under `by` (the same ranking and ties as single-run selection).
    let choose (by: SelectBy) (logs: EpochLog[][]) : CvEpochChoice =
        let mean = meanLog logs
        if mean |> Array.exists (fun x -> System.Double.IsNaN x.ValMetric || System.Double.IsNaN x.ValLoss) then
            invalidArg "logs" "CvEpochs.choose: the fold logs have no validation numbers"
        let sel = mean |> Array.fold (fun s x -> Selection.offerBy by x (fun () -> ()) s) Selection.empty
        { Epoch = sel.BestEpoch; MeanValMetric = sel.BestMetric; MeanValLoss = sel.BestLoss; Folds = logs.Length }
