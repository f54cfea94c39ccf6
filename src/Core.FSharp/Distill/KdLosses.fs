/// The baseline distillation losses every distillation table needs beside LSP (shared/METHODS.md section 1): Hinton
/// KD on softened logits (softmax form, and the sigmoid form for multi-label tasks), FitNet hints through a learned
/// regressor, and attention transfer. Teacher inputs are always detached: the teacher is frozen, only the student
/// (and a FitNet regressor) learns.
namespace GcnKd

open System

[<RequireQualifiedAccess>]
module Kd =
    let private checkTemperature (op: string) (temperature: float32) =
        if not (temperature > 0.0f) || Single.IsInfinity temperature then
            invalidArg "temperature" (sprintf "%s: temperature must be a positive finite number, got %g" op temperature)

    let private checkAlpha (op: string) (alpha: float32) =
        if not (alpha >= 0.0f && alpha <= 1.0f) then
            invalidArg "alpha" (sprintf "%s: alpha must be in [0, 1] (the weight of the distillation term), got %g" op alpha)

    let private checkLogits (op: string) (teacherLogits: Tensor) (studentLogits: Tensor) =
        if isNull teacherLogits then invalidArg "teacherLogits" (sprintf "%s: teacherLogits is null" op)
        if isNull studentLogits then invalidArg "studentLogits" (sprintf "%s: studentLogits is null" op)
        if teacherLogits.Rank <> 2 then
            invalidArg "teacherLogits" (sprintf "%s: teacherLogits must be [rows; classes], got shape %s" op (Shape.describe teacherLogits.Shape))
        if studentLogits.Shape <> teacherLogits.Shape then
            invalidArg "studentLogits" (sprintf "%s: studentLogits must have the teacher's shape %s, got %s"
                                            op (Shape.describe teacherLogits.Shape) (Shape.describe studentLogits.Shape))

    /// Hinton et al. 2015: T^2 KL(softmax(t / T) || softmax(s / T)), mean over rows. The T^2 keeps the soft
    /// term's gradient scale independent of T (its gradient shrinks as 1/T^2).
    let soft (temperature: float32) (teacherLogits: Tensor) (studentLogits: Tensor) : Tensor =
        checkTemperature "Kd.soft" temperature
        checkLogits "Kd.soft" teacherLogits studentLogits
        Loss.klDiv temperature (teacherLogits.Detach()) studentLogits * (temperature * temperature)

    /// The full Hinton objective: (1 - alpha) CE(student, labels) + alpha T^2 KL(softmax(t/T) || softmax(s/T)).
    let withCrossEntropy (alpha: float32) (temperature: float32) (teacherLogits: Tensor) (studentLogits: Tensor) (labels: int[]) : Tensor =
        checkAlpha "Kd.withCrossEntropy" alpha
        checkTemperature "Kd.withCrossEntropy" temperature
        checkLogits "Kd.withCrossEntropy" teacherLogits studentLogits
        Loss.crossEntropy studentLogits labels * (1.0f - alpha) + soft temperature teacherLogits studentLogits * alpha

    /// The multi-label form: T^2 BCE-with-logits(s / T, sigmoid(t / T)), mean over all (row, label) pairs: each
    /// label is its own two-class softmax. It differs from the binary KL by the teacher's binary entropy, a constant
    /// for the student, so it is minimal (zero gradient) but not zero when s = t.
    let sigmoid (temperature: float32) (teacherLogits: Tensor) (studentLogits: Tensor) : Tensor =
        checkTemperature "Kd.sigmoid" temperature
        checkLogits "Kd.sigmoid" teacherLogits studentLogits
        let inv = 1.0f / temperature
        let targets = Elementwise.sigmoid (teacherLogits.Detach() * inv)
        Loss.bceWithLogits (studentLogits * inv) targets * (temperature * temperature)

    /// (1 - alpha) BCE-with-logits(student, targets) + alpha * sigmoid temperature teacher student.
    let withBce (alpha: float32) (temperature: float32) (teacherLogits: Tensor) (studentLogits: Tensor) (targets: Tensor) : Tensor =
        checkAlpha "Kd.withBce" alpha
        checkTemperature "Kd.withBce" temperature
        checkLogits "Kd.withBce" teacherLogits studentLogits
        if isNull targets || targets.Shape <> studentLogits.Shape then
            invalidArg "targets" (sprintf "Kd.withBce: targets must have the logits' shape %s, got %s"
                                      (Shape.describe studentLogits.Shape) (if isNull targets then "null" else Shape.describe targets.Shape))
        Loss.bceWithLogits studentLogits targets * (1.0f - alpha) + sigmoid temperature teacherLogits studentLogits * alpha

/// Argument checks shared by the feature-level losses.
module internal FeaturePair =
    let private describe (t: Tensor) = if isNull t then "null" else Shape.describe t.Shape

    /// teacher [nodes; dt] and student [nodes; ds] over the same nodes (widths may differ).
    let check (op: string) (teacher: Tensor) (student: Tensor) =
        if isNull teacher || teacher.Rank <> 2 then
            invalidArg "teacher" (sprintf "%s: teacher must be [nodes; features], got %s" op (describe teacher))
        if isNull student || student.Rank <> 2 || student.Shape.[0] <> teacher.Shape.[0] then
            invalidArg "student" (sprintf "%s: student must be [nodes; features] with the teacher's %d rows, got %s"
                                      op teacher.Shape.[0] (describe student))

/// FitNet's learned regressor (Romero et al. 2015, "hints"): a linear map from the student's hidden width to the
/// teacher's, trained together with the student.
type FitNetParams = { Regressor: Linear }

[<RequireQualifiedAccess>]
module FitNet =
    /// A regressor studentWidth -> teacherWidth with torch.nn.Linear's initialisation (weight and bias
    /// U(-1/sqrt(studentWidth), 1/sqrt(studentWidth))).
    let init (rng: Rng) (studentWidth: int) (teacherWidth: int) : FitNetParams =
        if studentWidth <= 0 || teacherWidth <= 0 then
            invalidArg "studentWidth" (sprintf "FitNet.init: widths must be positive, got student %d, teacher %d" studentWidth teacherWidth)
        { Regressor = Linear.initTorch rng studentWidth teacherWidth true }

    /// MSE(student W + b, teacher), mean over all elements, teacher detached; gradients reach the student features
    /// and the regressor.
    let loss (p: FitNetParams) (teacher: Tensor) (student: Tensor) : Tensor =
        FeaturePair.check "FitNet.loss" teacher student
        let inW, outW = Linear.inFeatures p.Regressor, Linear.outFeatures p.Regressor
        if student.Shape.[1] <> inW then
            invalidArg "student" (sprintf "FitNet.loss: student has %d features but the regressor takes %d" student.Shape.[1] inW)
        if teacher.Shape.[1] <> outW then
            invalidArg "teacher" (sprintf "FitNet.loss: teacher has %d features but the regressor produces %d" teacher.Shape.[1] outW)
        Loss.mse (Linear.apply p.Regressor student) (teacher.Detach())

/// Attention transfer (Zagoruyko & Komodakis 2017) on graphs: the attention map of a layer is one value per node,
/// the mean over channels of |z|^p, L2-normalised over the nodes; the loss is the MSE between the teacher's and the
/// student's maps, so the two widths may differ.
[<RequireQualifiedAccess>]
module AttentionTransfer =
    /// The default exponent (the paper's beta = 2 form, p = 2).
    [<Literal>]
    let DefaultP = 2.0f

    /// a_i = mean_c |z_ic|^p, then a / max(||a||_2, 1e-12) (torch.nn.functional.normalize): [nodes].
    let map (p: float32) (z: Tensor) : Tensor =
        if not (p > 0.0f) || Single.IsInfinity p then
            invalidArg "p" (sprintf "AttentionTransfer.map: p must be a positive finite number, got %g" p)
        if isNull z || z.Rank <> 2 || z.Shape.[1] = 0 then
            invalidArg "z" (sprintf "AttentionTransfer.map: z must be [nodes; features] with at least one feature, got %s"
                                (if isNull z then "null" else Shape.describe z.Shape))
        let powered = if p = 2.0f then Elementwise.square z else Elementwise.pow p (Elementwise.abs z)
        let a = Reduce.meanAxis 1 false powered
        // max(||a||, 1e-12) as sqrt(max(||a||^2, 1e-24)): the same value, and a finite gradient at a = 0
        let norm = Elementwise.sqrt (Elementwise.clamp 1e-24f Single.MaxValue (Reduce.sum (Elementwise.square a)))
        a / norm

    /// MSE(map p student, map p teacher) over nodes, teacher detached.
    let loss (p: float32) (teacher: Tensor) (student: Tensor) : Tensor =
        FeaturePair.check "AttentionTransfer.loss" teacher student
        Loss.mse (map p student) (map p (teacher.Detach()))
