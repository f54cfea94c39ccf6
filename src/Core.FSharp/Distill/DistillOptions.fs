/// What a feature-level distillation term (LSP, FitNet, AT) needs from an experiment's configuration: which hidden
/// layers are paired, its weight lambda, and when it is on. The distillation trainer reads these; everything here
/// is a plain value or a pure function.
namespace GcnKd

/// A teacher hidden layer matched with a student hidden layer: indices into ModelOutput.Hidden (0 = first hidden
/// layer; negative indices count from the end, -1 = the last hidden layer).
type LayerPair = { TeacherLayer: int; StudentLayer: int }

/// When the term is on: every epoch, or only epochs 0 .. K-1 (the released LSP code's `--tofull 30`).
[<RequireQualifiedAccess>]
type DistillSchedule =
    | Always
    | FirstEpochs of int

/// L = L_task + weight(epoch) * L_distill, with L_distill averaged over the layer pairs.
type DistillOptions =
    { Pairs: LayerPair list
      Lambda: float32
      Schedule: DistillSchedule }

[<RequireQualifiedAccess>]
module DistillOptions =
    /// The released LSP code's settings (shared/reference/lsp-notes.md 1.2, 1.4): the teacher's last hidden layer
    /// (index 1 of its 2) with the student's third (index 2 of its 4), lambda 1, on for the first 30 epochs.
    let releasedLsp = { Pairs = [ { TeacherLayer = 1; StudentLayer = 2 } ]; Lambda = 1.0f; Schedule = DistillSchedule.FirstEpochs 30 }

    /// Check lambda and the schedule (naming the field).
    let validate (o: DistillOptions) =
        if List.isEmpty o.Pairs then invalidArg "Pairs" "DistillOptions: Pairs is empty; at least one (teacher, student) layer pair is needed"
        if not (o.Lambda >= 0.0f) || System.Single.IsInfinity o.Lambda then
            invalidArg "Lambda" (sprintf "DistillOptions: Lambda must be a finite number >= 0, got %g" o.Lambda)
        match o.Schedule with
        | DistillSchedule.FirstEpochs k when k < 0 -> invalidArg "Schedule" (sprintf "DistillOptions: FirstEpochs %d is negative" k)
        | _ -> ()

    /// The weight of the distillation term at `epoch` (0-based): Lambda while the schedule is on, else 0.
    let weight (o: DistillOptions) (epoch: int) : float32 =
        if epoch < 0 then invalidArg "epoch" (sprintf "DistillOptions.weight: epoch must be >= 0, got %d" epoch)
        match o.Schedule with
        | DistillSchedule.Always -> o.Lambda
        | DistillSchedule.FirstEpochs k -> if epoch < k then o.Lambda else 0.0f

    /// Resolve a possibly negative layer index against `count` hidden layers.
    let private resolve (side: string) (index: int) (count: int) =
        let k = if index < 0 then count + index else index
        if k < 0 || k >= count then
            invalidArg "Pairs" (sprintf "DistillOptions.select: %s layer %d does not exist; the %s has %d hidden layers (indices 0..%d or -%d..-1)"
                                    side index side count (count - 1) count)
        k

    /// The (teacher, student) hidden features of every pair, in order.
    let select (o: DistillOptions) (teacher: ModelOutput) (student: ModelOutput) : (Tensor * Tensor) list =
        let th, sh = Array.ofList teacher.Hidden, Array.ofList student.Hidden
        o.Pairs |> List.map (fun p -> th.[resolve "teacher" p.TeacherLayer th.Length], sh.[resolve "student" p.StudentLayer sh.Length])
