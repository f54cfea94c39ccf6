/// The JSON shape every results table shares: { "table": title, "rows": [ ... ] }, numbers rounded to 4 decimals,
/// a NaN or a missing value written as null.
module GcnKd.Report.JsonTable

open System
open System.Text.Json

/// A number, or null when it is NaN.
let number (w: Utf8JsonWriter) (name: string) (v: float) =
    if Double.IsNaN v then w.WriteNull name else w.WriteNumber(name, Math.Round(v, 4))

/// An optional number, null when absent.
let optional (w: Utf8JsonWriter) (name: string) (v: float option) =
    match v with
    | Some x -> number w name x
    | None -> w.WriteNull name

/// The table as indented JSON text; `row` writes one row's fields inside its object.
let render (title: string) (rows: 'R list) (row: Utf8JsonWriter -> 'R -> unit) : string =
    use ms = new IO.MemoryStream()
    (
        use w = new Utf8JsonWriter(ms, JsonWriterOptions(Indented = true))
        w.WriteStartObject()
        w.WriteString("table", title)
        w.WriteStartArray "rows"
        for r in rows do
            w.WriteStartObject()
            row w r
            w.WriteEndObject()
        w.WriteEndArray()
        w.WriteEndObject()
    )
    Text.Encoding.UTF8.GetString(ms.ToArray())
