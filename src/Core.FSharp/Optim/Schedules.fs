/// Learning-rate schedules as closed forms of the epoch: a schedule is a value, the learning rate at an epoch a pure
/// function, so resuming from a checkpoint at epoch e needs no scheduler state. Each case is the closed form of
/// the PyTorch scheduler named below, stepped once per epoch (epoch 0 is the first epoch, at the base rate).
namespace GcnKd

open System

type Schedule =
    /// The base rate throughout.
    | Constant
    /// torch StepLR: base * gamma^(epoch / every).
    | Step of every: int * gamma: float32
    /// torch CosineAnnealingLR (T_max = total, eta_min = minLr):
    /// minLr + (base - minLr) (1 + cos(pi epoch / total)) / 2. Like torch, it is periodic past `total` (it rises
    /// again); set total to the number of epochs to anneal once.
    | Cosine of total: int * minLr: float32
    /// torch LinearLR from factor 1 to endFactor over `total` epochs, then constant:
    /// base (1 + (endFactor - 1) min(epoch, total) / total).
    | Linear of total: int * endFactor: float32

[<RequireQualifiedAccess>]
module Schedule =
    /// Reject a schedule whose parameters make no sense, naming the parameter.
    let validate (sched: Schedule) =
        match sched with
        | Constant -> ()
        | Step (every, gamma) ->
            if every <= 0 then invalidArg "every" (sprintf "Step schedule: every must be a positive number of epochs, got %d" every)
            if not (gamma > 0.0f) then invalidArg "gamma" (sprintf "Step schedule: gamma must be positive, got %g" gamma)
        | Cosine (total, minLr) ->
            if total <= 0 then invalidArg "total" (sprintf "Cosine schedule: total must be a positive number of epochs, got %d" total)
            if not (minLr >= 0.0f) then invalidArg "minLr" (sprintf "Cosine schedule: minLr must be >= 0, got %g" minLr)
        | Linear (total, endFactor) ->
            if total <= 0 then invalidArg "total" (sprintf "Linear schedule: total must be a positive number of epochs, got %d" total)
            if not (endFactor >= 0.0f) then invalidArg "endFactor" (sprintf "Linear schedule: endFactor must be >= 0, got %g" endFactor)

    /// The learning rate at `epoch` (0-based) for base rate `baseLr`, computed in double as torch does.
    let lr (sched: Schedule) (baseLr: float32) (epoch: int) : float32 =
        validate sched
        if epoch < 0 then invalidArg "epoch" (sprintf "Schedule.lr: epoch must be >= 0, got %d" epoch)
        let b = float baseLr
        let v =
            match sched with
            | Constant -> b
            | Step (every, gamma) -> b * Math.Pow(float gamma, float (epoch / every))
            | Cosine (total, minLr) ->
                let m = float minLr
                m + (b - m) * (1.0 + Math.Cos(Math.PI * float epoch / float total)) / 2.0
            | Linear (total, endFactor) ->
                b * (1.0 + (float endFactor - 1.0) * float (min epoch total) / float total)
        float32 v
