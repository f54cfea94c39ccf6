/// The quickstart's summary: one row per model (teacher, students, the GFKD student, the pruned student) with its
/// parameters and its accuracy on the held-out 30 %, as Markdown and JSON.
module GcnKd.Report.QuickstartTable

open System.Globalization

/// One model of the quickstart.
type QuickstartRow =
    { Step: string
      Model: string
      Params: int
      /// Test accuracy on the held-out graphs (0..1).
      Test: float
      Note: string }

let private columns =
    [ MarkdownTable.text "step"; MarkdownTable.text "model"; MarkdownTable.numeric "parameters"
      MarkdownTable.numeric "test accuracy (%)"; MarkdownTable.text "notes" ]

let private cells (r: QuickstartRow) =
    [ r.Step; r.Model; string r.Params; (100.0 * r.Test).ToString("F1", CultureInfo.InvariantCulture); r.Note ]

let preamble (dataset: string) (trainGraphs: int) (testGraphs: int) =
    sprintf "%s, GFKD's 70 / 30 split (seed 0): %d training graphs, %d held-out graphs that score each model once, after its last epoch. One seed and shortened schedules: a tour of GcnKd, not a result (`gcnkd reproduce lsp|gfkd|evolution` make the tables)."
        dataset trainGraphs testGraphs

let markdown (title: string) (preamble: string) (rows: QuickstartRow list) = MarkdownTable.render title preamble columns cells rows

let json (title: string) (rows: QuickstartRow list) =
    JsonTable.render title rows (fun w row ->
        w.WriteString("step", row.Step)
        w.WriteString("model", row.Model)
        w.WriteNumber("params", row.Params)
        JsonTable.number w "test_accuracy" (100.0 * row.Test)
        w.WriteString("notes", row.Note))
