/// The distillation tables (LSP and its baselines): per dataset, one row per method with the student's metric over
/// seeds, both models' sizes, and the method's gain over the student trained alone, rendered as Markdown and JSON.
namespace GcnKd.Report

open System
open System.Globalization

type DistillRow =
    { Dataset: string
      Teacher: string
      Student: string
      /// "none" for the student alone, then "kd(...)", "fitnet", "at(...)", "lsp".
      Method: string
      /// LSP's score function, "-" for the other methods.
      Kernel: string
      Metric: string
      Mean: float
      Std: float
      N: int
      TeacherParams: int
      StudentParams: int
      /// The teacher's own test metric on this dataset.
      TeacherMetric: float
      /// A published number to read next to ours (the paper's PPI table), when there is one.
      Published: float option
      Command: string }

[<RequireQualifiedAccess>]
module DistillTable =
    let private inv (f: float) = if Double.IsNaN f then "" else f.ToString("0.00", CultureInfo.InvariantCulture)

    /// The student-alone row of a dataset, if the table has one.
    let baseline (rows: DistillRow list) (dataset: string) =
        rows |> List.tryFind (fun r -> r.Dataset = dataset && r.Method = "none")

    /// The gain over the student alone and whether it exceeds one standard deviation of both runs (the larger).
    let gain (rows: DistillRow list) (r: DistillRow) : (float * bool) option =
        match baseline rows r.Dataset with
        | Some b when r.Method <> "none" && not (Double.IsNaN r.Mean || Double.IsNaN b.Mean) ->
            let d = r.Mean - b.Mean
            Some(d, d > max r.Std b.Std)
        | _ -> None

    let private gainText rows r =
        match gain rows r with
        | Some(d, true) -> sprintf "**%s%s** (> 1 std)" (if d >= 0.0 then "+" else "") (inv d)
        | Some(d, false) -> sprintf "%s%s (within 1 std)" (if d >= 0.0 then "+" else "") (inv d)
        | None -> ""

    let markdown (title: string) (preamble: string) (rows: DistillRow list) =
        let t, n = MarkdownTable.text, MarkdownTable.numeric
        MarkdownTable.render title preamble
            [ t "dataset"; t "teacher (params, metric)"; t "student (params)"; t "method"; t "kernel"; t "metric"; n "mean"; n "std"; n "n"
              t "vs student alone"; n "published"; t "command" ]
            (fun r ->
                [ r.Dataset; sprintf "%s (%d, %s)" r.Teacher r.TeacherParams (inv r.TeacherMetric); sprintf "%s (%d)" r.Student r.StudentParams
                  r.Method; r.Kernel; r.Metric; inv r.Mean; inv r.Std; string r.N; gainText rows r
                  r.Published |> Option.map inv |> Option.defaultValue ""; sprintf "`%s`" r.Command ])
            rows

    /// The same rows as JSON, with the gain over the student alone.
    let json (title: string) (rows: DistillRow list) =
        JsonTable.render title rows (fun w r ->
            w.WriteString("dataset", r.Dataset)
            w.WriteString("teacher", r.Teacher)
            w.WriteString("student", r.Student)
            w.WriteString("method", r.Method)
            w.WriteString("kernel", r.Kernel)
            w.WriteString("metric", r.Metric)
            JsonTable.number w "mean" r.Mean
            JsonTable.number w "std" r.Std
            w.WriteNumber("n", r.N)
            w.WriteNumber("teacher_params", r.TeacherParams)
            w.WriteNumber("student_params", r.StudentParams)
            JsonTable.number w "teacher_metric" r.TeacherMetric
            match gain rows r with
            | Some(d, beyond) -> JsonTable.number w "gain_over_student_alone" d; w.WriteBoolean("gain_beyond_one_std", beyond)
            | None -> w.WriteNull "gain_over_student_alone"; w.WriteNull "gain_beyond_one_std"
            JsonTable.optional w "published" r.Published
            w.WriteString("command", r.Command))
