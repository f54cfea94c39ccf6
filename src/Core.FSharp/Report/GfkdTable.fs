/// The GFKD table: per dataset, teacher and student, one row per method with the student's test accuracy over
/// seeds, the transfer graphs' density next to the real data's, and the comparisons the method is judged by
/// (GFKD against RandG and DeepInvG, and its distance to KD on the real data), rendered as Markdown and JSON.
namespace GcnKd.Report

open System
open System.Globalization

type GfkdRow =
    { Dataset: string
      /// The teacher's model name, its parameter count and its test accuracy (%) on the real 30 %.
      Teacher: string
      TeacherParams: int
      TeacherAccuracy: float
      Student: string
      StudentParams: int
      /// The method's CLI name (GfkdRegistry.methodNames).
      Method: string
      Mean: float
      Std: float
      N: int
      /// Mean density of the transfer graphs, and of the real 70 %.
      TransferDensity: float
      RealDensity: float
      /// Seconds to make one seed's transfer graphs (0 for the real-data rows).
      GenerationSeconds: float
      Command: string }

[<RequireQualifiedAccess>]
module GfkdTable =
    let private inv (digits: string) (f: float) = if Double.IsNaN f then "" else f.ToString(digits, CultureInfo.InvariantCulture)

    let private isGfkd (r: GfkdRow) = r.Method.StartsWith("gfkd", StringComparison.Ordinal)

    let private peer (rows: GfkdRow list) (r: GfkdRow) (m: string) =
        rows |> List.tryFind (fun p -> p.Dataset = r.Dataset && p.Teacher = r.Teacher && p.Student = r.Student && p.Method = m && not (Double.IsNaN p.Mean))

    /// A GFKD row's margin over a baseline and whether it exceeds the larger of the two standard deviations.
    let beats (rows: GfkdRow list) (r: GfkdRow) (baseline: string) : (float * bool) option =
        match peer rows r baseline with
        | Some b when isGfkd r && not (Double.IsNaN r.Mean) -> let d = r.Mean - b.Mean in Some(d, d > max r.Std b.Std)
        | _ -> None

    /// A GFKD row's gap to KD on the real data (real KD minus GFKD) and whether it is within 5 points.
    let gapToRealKd (rows: GfkdRow list) (r: GfkdRow) : (float * bool) option =
        match peer rows r "kd-real" with
        | Some k when isGfkd r && not (Double.IsNaN r.Mean) -> let g = k.Mean - r.Mean in Some(g, g <= 5.0)
        | _ -> None

    let private signed (d: float) = (if d >= 0.0 then "+" else "") + inv "0.00" d

    let private versus rows r baseline =
        match beats rows r baseline with
        | Some(d, true) -> sprintf "**%s**" (signed d)
        | Some(d, false) -> signed d
        | None -> ""

    let private gapText rows r =
        match gapToRealKd rows r with
        | Some(g, true) -> sprintf "**%s**" (inv "0.00" g)
        | Some(g, false) -> inv "0.00" g
        | None -> ""

    let markdown (title: string) (preamble: string) (rows: GfkdRow list) =
        let t, n = MarkdownTable.text, MarkdownTable.numeric
        MarkdownTable.render title preamble
            [ t "dataset"; t "teacher (params, test %)"; t "student (params)"; t "method"; n "accuracy (%)"; n "std"; n "n"
              t "transfer density (real)"; n "generation s/seed"; n "vs RandG"; n "vs DeepInvG"; n "below real KD"; t "command" ]
            (fun r ->
                [ r.Dataset; sprintf "%s (%d, %s)" r.Teacher r.TeacherParams (inv "0.00" r.TeacherAccuracy); sprintf "%s (%d)" r.Student r.StudentParams
                  r.Method; inv "0.00" r.Mean; inv "0.00" r.Std; string r.N
                  sprintf "%s (%s)" (inv "0.000" r.TransferDensity) (inv "0.000" r.RealDensity); inv "0.0" r.GenerationSeconds
                  versus rows r "randg"; versus rows r "deepinvg"; gapText rows r; sprintf "`%s`" r.Command ])
            rows

    /// The same rows as JSON, with the comparisons.
    let json (title: string) (rows: GfkdRow list) =
        let pair (w: Text.Json.Utf8JsonWriter) (name: string) (flag: string) (v: (float * bool) option) =
            match v with
            | Some(d, b) -> JsonTable.number w name d; w.WriteBoolean(flag, b)
            | None -> w.WriteNull name; w.WriteNull flag
        JsonTable.render title rows (fun w r ->
            w.WriteString("dataset", r.Dataset)
            w.WriteString("teacher", r.Teacher)
            w.WriteNumber("teacher_params", r.TeacherParams)
            JsonTable.number w "teacher_accuracy" r.TeacherAccuracy
            w.WriteString("student", r.Student)
            w.WriteNumber("student_params", r.StudentParams)
            w.WriteString("method", r.Method)
            w.WriteString("metric", "accuracy (%)")
            JsonTable.number w "mean" r.Mean
            JsonTable.number w "std" r.Std
            w.WriteNumber("n", r.N)
            JsonTable.number w "transfer_density" r.TransferDensity
            JsonTable.number w "real_density" r.RealDensity
            JsonTable.number w "generation_seconds" r.GenerationSeconds
            pair w "margin_over_randg" "beats_randg_by_one_std" (beats rows r "randg")
            pair w "margin_over_deepinvg" "beats_deepinvg_by_one_std" (beats rows r "deepinvg")
            pair w "gap_to_real_kd" "within_5_points_of_real_kd" (gapToRealKd rows r)
            w.WriteString("command", r.Command))
