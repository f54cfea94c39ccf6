/// A line chart as a standalone SVG document (no dependencies, inline in HTML or opened directly): named series of
/// (x, y) points on shared linear axes with tick labels, a title and a legend. Used for the GA's best and mean
/// fitness per generation and for learning curves.
module GcnKd.Report.SvgPlot

open System
open System.Globalization
open System.Text

type Series = { Name: string; Points: (float * float)[] }

let private palette = [| "#1f77b4"; "#d62728"; "#2ca02c"; "#ff7f0e"; "#9467bd"; "#8c564b" |]

let private inv (f: float) = f.ToString("0.###", CultureInfo.InvariantCulture)

/// Text made safe for XML and HTML, in element content and in quoted attribute values alike.
let escape (s: string) =
    s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;").Replace("'", "&#39;")

/// About five round tick values covering [lo, hi].
let ticks (lo: float) (hi: float) =
    if not (hi > lo) then [| lo |]
    else
        let raw = (hi - lo) / 5.0
        let mag = Math.Pow(10.0, Math.Floor(Math.Log10 raw))
        let step = [| 1.0; 2.0; 5.0; 10.0 |] |> Array.map (fun m -> m * mag) |> Array.find (fun s -> s >= raw)
        let first = Math.Ceiling(lo / step) * step
        Array.unfold (fun v -> if v <= hi + step * 1e-9 then Some(v, v + step) else None) first

/// The chart; non-finite points are skipped. Throws when no series has a finite point.
let render (title: string) (xLabel: string) (yLabel: string) (series: Series list) : string =
    let finite = series |> List.collect (fun s -> s.Points |> Array.filter (fun (x, y) -> Double.IsFinite x && Double.IsFinite y) |> List.ofArray)
    if finite.IsEmpty then invalidArg "series" "SvgPlot.render: no finite point to plot"
    let w, h, left, right, top, bottom = 640.0, 400.0, 70.0, 160.0, 40.0, 50.0
    let x0, x1 = finite |> List.map fst |> List.min, finite |> List.map fst |> List.max
    let y0, y1 = finite |> List.map snd |> List.min, finite |> List.map snd |> List.max
    let x0, x1 = if x1 > x0 then x0, x1 else x0 - 1.0, x1 + 1.0
    let pad = if y1 > y0 then 0.05 * (y1 - y0) else 1.0
    let y0, y1 = y0 - pad, y1 + pad
    let px x = left + (x - x0) / (x1 - x0) * (w - left - right)
    let py y = h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)
    let sb = StringBuilder()
    let add (s: string) = sb.Append(s).Append('\n') |> ignore
    add (sprintf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"sans-serif\" font-size=\"12\">" (inv w) (inv h) (inv w) (inv h))
    add (sprintf "<rect width=\"%s\" height=\"%s\" fill=\"white\"/>" (inv w) (inv h))
    add (sprintf "<text x=\"%s\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">%s</text>" (inv ((left + w - right) / 2.0)) (escape title))
    for t in ticks x0 x1 do
        add (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#ddd\"/>" (inv (px t)) (inv top) (inv (px t)) (inv (h - bottom)))
        add (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>" (inv (px t)) (inv (h - bottom + 16.0)) (inv t))
    for t in ticks y0 y1 do
        add (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#ddd\"/>" (inv left) (inv (py t)) (inv (w - right)) (inv (py t)))
        add (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>" (inv (left - 6.0)) (inv (py t + 4.0)) (inv t))
    add (sprintf "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" stroke=\"#333\"/>" (inv left) (inv top) (inv (w - left - right)) (inv (h - top - bottom)))
    add (sprintf "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>" (inv ((left + w - right) / 2.0)) (inv (h - 12.0)) (escape xLabel))
    add (sprintf "<text transform=\"translate(16 %s) rotate(-90)\" text-anchor=\"middle\">%s</text>" (inv ((top + h - bottom) / 2.0)) (escape yLabel))
    series |> List.iteri (fun i s ->
        let colour = palette.[i % palette.Length]
        let pts = s.Points |> Array.filter (fun (x, y) -> Double.IsFinite x && Double.IsFinite y)
        if pts.Length > 0 then
            let path = pts |> Array.map (fun (x, y) -> inv (px x) + "," + inv (py y)) |> String.concat " "
            add (sprintf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>" colour path)
        let ly = top + 10.0 + 18.0 * float i
        add (sprintf "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"2\"/>" (inv (w - right + 12.0)) (inv ly) (inv (w - right + 32.0)) (inv ly) colour)
        add (sprintf "<text x=\"%s\" y=\"%s\">%s</text>" (inv (w - right + 38.0)) (inv (ly + 4.0)) (escape s.Name)))
    add "</svg>"
    sb.ToString()
