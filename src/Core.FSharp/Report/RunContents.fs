/// What a run directory holds, read from the texts of its files into what its report shows: the resolved config and
/// the final metrics as tables, and per sub-run (seed, fold, teacher, student, pruning method) its metrics and its
/// curves: learning curves from epochs.csv, the GA's fitness from ga.csv, GFKD's fitting from fit.csv. Pure: the host
/// lists and reads the files, so a report can be rebuilt for any old run from what it left on disk.
module GcnKd.Report.RunContents

open System
open System.Globalization
open System.Text.Json
open System.Text.RegularExpressions

/// Rows of (name, value).
type Table = (string * string) list

type Chart = { Title: string; XLabel: string; YLabel: string; Series: SvgPlot.Series list }

/// One directory of the run: its tables (caption, rows) and charts.
type Section = { Name: string; Tables: (string * Table) list; Charts: Chart list }

type Contents =
    { Title: string
      /// The run in a line: the config's command, dataset, model and method, as present.
      Summary: string
      Config: Table
      Metrics: Table
      Sections: Section list }

/// The CSV logs plotted: file name, x column, and its charts (title, y label, columns with their series names).
let private plots =
    [ "epochs.csv", "epoch",
      [ "loss", "loss", [ "train_loss", "train"; "val_loss", "validation" ]
        "metric", "metric", [ "train_metric", "train"; "val_metric", "validation" ] ]
      "distill.csv", "epoch", [ "distillation term", "loss", [ "distill_loss", "distillation term" ] ]
      "ga.csv", "generation", [ "GA fitness", "fitness", [ "best", "best"; "mean", "mean" ] ]
      "fit.csv", "iteration",
      [ "fake-graph fitting", "loss", [ "loss", "total"; "cross_entropy", "cross-entropy"; "bn_prior", "BN prior"; "entropy", "entropy" ]
        "fake graphs", "fraction", [ "density", "density"; "target_accuracy", "teacher agrees" ] ] ]

/// The JSON files shown as tables, with their captions.
let private tables = [ "config.json", "config"; "metrics.json", "metrics"; "transfer.json", "transfer graphs" ]

/// The file names a report reads, anywhere below the run directory.
let fileNames = (plots |> List.map (fun (f, _, _) -> f)) @ (tables |> List.map fst)

let private scalar (e: JsonElement) =
    match e.ValueKind with
    | JsonValueKind.String -> e.GetString()
    | JsonValueKind.Number ->
        match e.TryGetInt64() with
        | true, i -> i.ToString(CultureInfo.InvariantCulture)
        | _ -> e.GetDouble().ToString("G6", CultureInfo.InvariantCulture)
    | JsonValueKind.True -> "true"
    | JsonValueKind.False -> "false"
    | _ -> "null"

/// A JSON document as rows: nested objects give dotted names (`students.GCN3_32.mean`), an array of plain values one
/// comma-separated row. Throws (JsonException) on text that is not JSON.
let flattenJson (text: string) : Table =
    use doc = JsonDocument.Parse text
    let rec rows (name: string) (e: JsonElement) : Table =
        let child (n: string) = if name = "" then n else name + "." + n
        match e.ValueKind with
        | JsonValueKind.Object -> [ for p in e.EnumerateObject() do yield! rows (child p.Name) p.Value ]
        | JsonValueKind.Array when e.EnumerateArray() |> Seq.forall (fun x -> x.ValueKind <> JsonValueKind.Object && x.ValueKind <> JsonValueKind.Array) ->
            [ name, e.EnumerateArray() |> Seq.map scalar |> String.concat ", " ]
        | JsonValueKind.Array -> e.EnumerateArray() |> Seq.mapi (fun i x -> rows (child (string i)) x) |> List.concat
        | _ -> [ name, scalar e ]
    rows "" doc.RootElement

/// The columns of a CSV text with a header row, by name; an empty or unreadable cell is NaN.
let csvColumns (text: string) : Map<string, float[]> =
    let lines = text.Split('\n') |> Array.map (fun l -> l.TrimEnd '\r') |> Array.filter (fun l -> l <> "")
    if lines.Length = 0 then Map.empty
    else
        let cells = lines.[1..] |> Array.map (fun l -> l.Split ',')
        let number (s: string) =
            match Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, v -> v
            | _ -> nan
        lines.[0].Split ','
        |> Array.mapi (fun j h -> h.Trim(), cells |> Array.map (fun r -> if j < r.Length then number r.[j] else nan))
        |> Map.ofArray

/// The charts of one CSV log; a series without a finite value is left out, a chart without a series too.
let private chartsOf (section: string) (metric: string option) (xColumn: string) specs (columns: Map<string, float[]>) =
    match columns.TryFind xColumn with
    | None -> []
    | Some xs ->
        [ for (title: string), (yLabel: string), series in specs do
            let yLabel = if yLabel = "metric" then defaultArg metric yLabel else yLabel
            let plotted =
                [ for column, name in series do
                    match columns.TryFind column with
                    | Some ys ->
                        let points = Array.zip xs ys |> Array.filter (fun (x, y) -> Double.IsFinite x && Double.IsFinite y)
                        if points.Length > 0 then yield { SvgPlot.Name = name; SvgPlot.Points = points }
                    | None -> () ]
            if not plotted.IsEmpty then
                yield { Title = (if section = "" then title else section + ": " + title); XLabel = xColumn; YLabel = yLabel; Series = plotted } ]

/// Directory names in reading order: `fold-2` before `fold-10`.
let private naturalKey (s: string) = Regex.Replace(s, @"\d+", fun m -> m.Value.PadLeft(12, '0'))

let private directoryOf (path: string) = match path.LastIndexOf '/' with -1 -> "" | i -> path.Substring(0, i)
let private fileOf (path: string) = match path.LastIndexOf '/' with -1 -> path | i -> path.Substring(i + 1)

/// The contents of a run directory named `title` from its files: (path relative to it, '/'-separated, text). Files
/// with other names are ignored. A JSON file that does not parse raises ArgumentException naming it.
let ofFiles (title: string) (files: (string * string) list) : Contents =
    let json (path: string) (text: string) =
        try flattenJson text
        with :? JsonException as e -> invalidArg "files" (sprintf "%s is not valid JSON: %s" path e.Message)
    let byDir =
        files
        |> List.filter (fun (p, _) -> List.contains (fileOf p) fileNames)
        |> List.groupBy (fst >> directoryOf)
        |> List.sortBy (fst >> naturalKey)
    let tableOf dir name = files |> List.tryFind (fun (p, _) -> p = (if dir = "" then name else dir + "/" + name)) |> Option.map (fun (p, t) -> json p t)
    let sections =
        [ for dir, inDir in byDir do
            let metric = tableOf dir "metrics.json" |> Option.bind (List.tryFind (fun (k, _) -> k = "metric")) |> Option.map snd
            let shown =
                [ for file, caption in tables do
                    if dir <> "" || file = "transfer.json" then
                        match tableOf dir file with
                        | Some t when not t.IsEmpty -> yield caption, t
                        | _ -> () ]
            let charts =
                [ for file, x, specs in plots do
                    match inDir |> List.tryFind (fun (p, _) -> fileOf p = file) with
                    | Some(_, text) -> yield! chartsOf dir metric x specs (csvColumns text)
                    | None -> () ]
            if not (shown.IsEmpty && charts.IsEmpty) then
                yield { Name = (if dir = "" then "run" else dir); Tables = shown; Charts = charts } ]
    let config = defaultArg (tableOf "" "config.json") []
    let summary =
        [ "command"; "dataset"; "model"; "method"; "teacher_model"; "protocol" ]
        |> List.choose (fun k -> config |> List.tryFind (fun (n, _) -> n = k) |> Option.map snd)
        |> String.concat ", "
    { Title = title; Summary = summary; Config = config; Metrics = defaultArg (tableOf "" "metrics.json") []; Sections = sections }
