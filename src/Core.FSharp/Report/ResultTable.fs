/// Result tables: the rows a reproduction produces, rendered as Markdown (for people) and JSON (for tools).
namespace GcnKd.Report

open System
open System.Globalization
open System.Text.Json

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
        use ms = new IO.MemoryStream()
        (
            use w = new Utf8JsonWriter(ms, JsonWriterOptions(Indented = true))
            let num (name: string) (v: float) = if Double.IsNaN v then w.WriteNull name else w.WriteNumber(name, Math.Round(v, 4))
            w.WriteStartObject()
            w.WriteString("table", title)
            w.WriteStartArray "rows"
            for r in rows do
                w.WriteStartObject()
                w.WriteString("dataset", r.Dataset)
                w.WriteString("model", r.Model)
                w.WriteString("protocol", r.Protocol)
                w.WriteString("metric", r.Metric)
                num "mean" r.Mean
                num "std" r.Std
                w.WriteNumber("n", r.N)
                w.WriteNumber("params", r.Params)
                match r.Published with Some p -> w.WriteNumber("published", p) | None -> w.WriteNull "published"
                match r.Target with Some t -> w.WriteNumber("target", t) | None -> w.WriteNull "target"
                w.WriteString("command", r.Command)
                w.WriteEndObject()
            w.WriteEndArray()
            w.WriteEndObject()
        )
        Text.Encoding.UTF8.GetString(ms.ToArray())
