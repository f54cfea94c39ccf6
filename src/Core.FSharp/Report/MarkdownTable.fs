/// The Markdown shape every results table shares: a heading, a preamble paragraph, then one table whose columns are
/// named (right-aligned when numeric) and whose cells each row gives as text.
module GcnKd.Report.MarkdownTable

open System

/// A column: its heading and whether its cells are right-aligned numbers.
type Column = { Heading: string; Numeric: bool }

let text heading = { Heading = heading; Numeric = false }
let numeric heading = { Heading = heading; Numeric = true }

/// The document; `cells` gives a row's cells in column order (a `|` inside a cell is escaped).
let render (title: string) (preamble: string) (columns: Column list) (cells: 'R -> string list) (rows: 'R list) : string =
    let sb = Text.StringBuilder()
    let line (s: string) = sb.Append(s).Append('\n') |> ignore
    let row (xs: string list) = line ("| " + String.Join(" | ", xs) + " |")
    line ("# " + title)
    line ""
    line preamble
    line ""
    row (columns |> List.map (fun c -> c.Heading))
    line ("|" + String.Join("|", columns |> List.map (fun c -> if c.Numeric then "---:" else "---")) + "|")
    for r in rows do
        let xs = cells r
        if List.length xs <> List.length columns then
            invalidArg "cells" (sprintf "MarkdownTable.render: a row has %d cells for %d columns" (List.length xs) (List.length columns))
        row (xs |> List.map (fun s -> s.Replace("|", "\\|")))
    sb.ToString()
