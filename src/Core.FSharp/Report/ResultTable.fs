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
        let t, n = MarkdownTable.text, MarkdownTable.numeric
        MarkdownTable.render title preamble
            [ t "dataset"; t "model"; t "protocol"; t "metric"; n "mean"; n "std"; n "n"; n "params"; n "published"; t "target"; t "command" ]
            (fun r ->
                [ r.Dataset; r.Model; r.Protocol; r.Metric; inv r.Mean; inv r.Std; string r.N; string r.Params
                  r.Published |> Option.map inv |> Option.defaultValue ""; status r; sprintf "`%s`" r.Command ])
            rows

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
