/// Result tables: the rows a reproduction produces, rendered as Markdown (for people) and JSON (for tools).
namespace GcnKd.Report

open System
open System.Globalization

/// One row: a metric's mean and standard deviation over n runs (seeds or folds), next to the published number.
type ResultRow =
    { Dataset: string
      Model: string
      Protocol: string
      Metric: string
      Mean: float
      Std: float
      N: int
      Params: int
      /// The paper's number, when there is one.
      Published: float option
      /// The number the issue asks for (a lower bound).
      Target: float option
      /// The command that produces the row.
      Command: string }

[<RequireQualifiedAccess>]
module ResultTable =
    let private inv (f: float) = f.ToString("0.00", CultureInfo.InvariantCulture)

    let private status (r: ResultRow) =
        match r.Target with
        | Some t when Double.IsNaN r.Mean -> sprintf "not run (target %s)" (inv t)
        | Some t when r.Mean >= t -> sprintf "meets >= %s" (inv t)
        | Some t -> sprintf "**below %s**" (inv t)
        | None -> ""

    /// A Markdown table with a heading and a preamble paragraph.
    let markdown (title: string) (preamble: string) (rows: ResultRow list) =
        let sb = Text.StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        line ("# " + title)
        line ""
        line preamble
        line ""
        line "| dataset | model | protocol | metric | mean | std | n | params | published | target | command |"
        line "|---|---|---|---|---:|---:|---:|---:|---:|---|---|"
        for r in rows do
            line (sprintf "| %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | `%s` |" r.Dataset r.Model r.Protocol r.Metric
                      (inv r.Mean) (inv r.Std) r.N r.Params (r.Published |> Option.map inv |> Option.defaultValue "")
                      (status r) r.Command)
        sb.ToString()

    /// The same rows as JSON (numbers as numbers; a missing value as null).
    let json (title: string) (rows: ResultRow list) =
        JsonTable.render title rows (fun w r ->
            w.WriteString("dataset", r.Dataset)
            w.WriteString("model", r.Model)
            w.WriteString("protocol", r.Protocol)
            w.WriteString("metric", r.Metric)
            JsonTable.number w "mean" r.Mean
            JsonTable.number w "std" r.Std
            w.WriteNumber("n", r.N)
            w.WriteNumber("params", r.Params)
            JsonTable.optional w "published" r.Published
            JsonTable.optional w "target" r.Target
            w.WriteString("command", r.Command))
