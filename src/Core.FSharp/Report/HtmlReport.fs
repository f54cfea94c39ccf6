/// A run's report as one self-contained HTML page (no external CSS, scripts or images): a title, the resolved config
/// and the final metrics as tables, then per sub-run its tables and its curves as inline SVG (SvgPlot). Every name and
/// value is HTML-escaped.
module GcnKd.Report.HtmlReport

open System.Text
open GcnKd.Report.RunContents

let private style =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1400px}" +
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}" +
    "th{background:#f4f4f4;font-weight:normal;font-family:monospace}td{font-family:monospace;word-break:break-word}" +
    "figure{display:inline-block;margin:0 1em 1em 0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}"

let private table (sb: StringBuilder) (rows: Table) =
    sb.Append("<table>\n") |> ignore
    for name, value in rows do
        sb.Append("<tr><th>").Append(SvgPlot.escape name).Append("</th><td>").Append(SvgPlot.escape value).Append("</td></tr>\n") |> ignore
    sb.Append("</table>\n") |> ignore

/// The page.
let render (c: Contents) : string =
    let sb = StringBuilder()
    let add (s: string) = sb.Append(s).Append('\n') |> ignore
    let heading level (text: string) = add (sprintf "<h%d>%s</h%d>" level (SvgPlot.escape text) level)
    add "<!DOCTYPE html>"
    add "<html lang=\"en\">"
    add "<head>"
    add "<meta charset=\"utf-8\">"
    add (sprintf "<title>GcnKd run %s</title>" (SvgPlot.escape c.Title))
    add (sprintf "<style>%s</style>" style)
    add "</head>"
    add "<body>"
    heading 1 ("GcnKd run " + c.Title)
    if c.Summary <> "" then add (sprintf "<p>%s</p>" (SvgPlot.escape c.Summary))
    heading 2 "Configuration"
    if c.Config.IsEmpty then add "<p>No config.json.</p>" else table sb c.Config
    heading 2 "Final metrics"
    if c.Metrics.IsEmpty then add "<p>No metrics.json.</p>" else table sb c.Metrics
    for s in c.Sections do
        heading 2 s.Name
        for caption, rows in s.Tables do
            heading 3 caption
            table sb rows
        for chart in s.Charts do
            add "<figure>"
            add (SvgPlot.render chart.Title chart.XLabel chart.YLabel chart.Series)
            add "</figure>"
    add "</body>"
    add "</html>"
    sb.ToString()
