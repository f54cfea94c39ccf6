/// The HTML report of a run directory: the config and final metrics as escaped tables, one SVG polyline per plotted
/// series with one point per logged epoch (or generation, iteration), sections in reading order; `gcnkd report DIR`
/// rebuilds it for a run made by `gcnkd train` and refuses, with exit code 2, what is not a run directory.
module GcnKd.Tests.RunReportTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open GcnKd.Report
open GcnKd.Host.Experiments
open GcnKd.Tests.TestData

/// The point counts of every polyline of a page, in order.
let private polylines (html: string) =
    [ for m in Regex.Matches(html, "<polyline [^>]*points=\"([^\"]*)\"") -> m.Groups.[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length ]

let private epochsCsv (n: int) (withVal: bool) =
    "epoch,lr,train_loss,train_metric,val_loss,val_metric\n"
    + String.concat "" [ for e in 0 .. n - 1 ->
                           let v = if withVal then sprintf "%g,%g" (1.0 / float (e + 1)) (0.5 + 0.01 * float e) else ","
                           sprintf "%d,0.01,%g,%g,%s\n" e (2.0 / float (e + 1)) (0.4 + 0.02 * float e) v ]

let private configJson =
    """{ "dataset": "MUTAG", "model": "gin", "protocol": "a<b & \"quoted\" 'x'", "settings": { "epochs": "7", "schedule": "Step (50, 0.5f)" } }"""

let private metricsJson =
    """{ "metric": "accuracy", "mean": 0.8537, "n": 3, "test_accuracy": [0.8, 0.9, 0.85], "students": { "GCN3_32": { "mean": 0.7649, "params": 3234 } } }"""

[<Fact>]
let ``the report holds the config, the final metrics and one polyline per series with a point per epoch`` () =
    let files =
        [ "config.json", configJson
          "metrics.json", metricsJson
          "fold-10/epochs.csv", epochsCsv 7 true
          "fold-10/metrics.json", """{ "metric": "accuracy", "best_epoch": 3 }"""
          "fold-2/epochs.csv", epochsCsv 7 true
          "seed-0/student-GCN3_32/epochs.csv", epochsCsv 5 false      // no validation part: its series are left out
          "seed-0/ga.csv", "generation,best,mean,best_kept,evaluated\n0,0.5,0.3,100,32\n1,0.6,0.4,90,20\n2,0.7,0.5,80,10\n"
          "seed-0/mask.txt", "ignored" ]
    let c = RunContents.ofFiles "run <1>" files
    let html = HtmlReport.render c
    // title, config values and final metrics, escaped
    Assert.Contains("<title>GcnKd run run &lt;1&gt;</title>", html)
    Assert.Contains("<td>a&lt;b &amp; &quot;quoted&quot; &#39;x&#39;</td>", html)
    Assert.DoesNotContain("a<b", html)
    Assert.DoesNotContain("\"quoted\"", html)
    Assert.Contains("<tr><th>settings.epochs</th><td>7</td></tr>", html)
    Assert.Contains("<tr><th>mean</th><td>0.8537</td></tr>", html)
    Assert.Contains("<tr><th>test_accuracy</th><td>0.8, 0.9, 0.85</td></tr>", html)
    Assert.Contains("<tr><th>students.GCN3_32.params</th><td>3234</td></tr>", html)
    // sections in reading order, files not in the report ignored
    Assert.Equal<string list>([ "fold-2"; "fold-10"; "seed-0"; "seed-0/student-GCN3_32" ], c.Sections |> List.map (fun s -> s.Name))
    Assert.DoesNotContain("ignored", html)
    // two folds x (train, validation loss + train, validation metric), the GA's best and mean, the student's two train series
    Assert.Equal<int list>([ 7; 7; 7; 7; 7; 7; 7; 7; 3; 3; 5; 5 ], polylines html)
    Assert.Equal(7, Regex.Matches(html, "<svg ").Count)   // per fold loss and metric, the GA's fitness, the student's loss and metric
    // the metric chart is labelled with the run's metric
    Assert.Contains("fold-10: metric", html)
    Assert.Contains(">accuracy</text>", html)
    // self-contained: nothing fetched from elsewhere
    for outside in [ "<script"; "<link"; "src="; "@import"; "url(" ] do Assert.DoesNotContain(outside, html)

[<Fact>]
let ``GFKD's fitting log and transfer report are shown, and a metrics file that is not JSON is named`` () =
    let fit =
        "iteration,loss,cross_entropy,bn_prior,entropy,density,target_accuracy,structure_objective\n"
        + String.concat "" [ for i in 0 .. 9 -> sprintf "%d,%g,%g,0.1,0.2,0.15,%g,1\n" i (3.0 - 0.1 * float i) (2.0 - 0.1 * float i) (0.1 * float i) ]
    let c = RunContents.ofFiles "g" [ "metrics.json", "{}"; "seed-0/fit.csv", fit; "seed-0/transfer.json", """{ "graphs": 131, "mean_density": 0.14 }""" ]
    let html = HtmlReport.render c
    Assert.Equal<int list>([ 10; 10; 10; 10; 10; 10 ], polylines html)
    Assert.Contains("<tr><th>graphs</th><td>131</td></tr>", html)
    Assert.Contains("No config.json.", html)
    let e = Assert.Throws<ArgumentException>(fun () -> RunContents.ofFiles "g" [ "metrics.json", "{}"; "fold-1/metrics.json", "{ not json" ] |> ignore)
    Assert.Contains("fold-1/metrics.json is not valid JSON", e.Message)

[<Fact>]
let ``JSON flattens to dotted names, plain arrays to one row, numbers readably`` () =
    let rows = RunContents.flattenJson """{ "a": { "b": 1, "c": [1, 2.5, null], "d": [ { "e": true } ] }, "f": 0.123456789, "g": "x" }"""
    Assert.Equal<(string * string) list>([ "a.b", "1"; "a.c", "1, 2.5, null"; "a.d.0.e", "true"; "f", "0.123457"; "g", "x" ], rows)
    let cols = RunContents.csvColumns "x,y\n0,1.5\n1,\n2,oops\n"
    Assert.Equal<float[]>([| 0.0; 1.0; 2.0 |], cols.["x"])
    Assert.Equal(1.5, cols.["y"].[0])
    Assert.True(Double.IsNaN cols.["y"].[1] && Double.IsNaN cols.["y"].[2])

[<Fact>]
let ``report parses its directory and refuses none`` () =
    match (GcnKd.Cli.parse [| "report"; "runs/x" |]).Command with
    | GcnKd.Cli.RunReport r -> Assert.Equal("runs/x", r.Dir)
    | other -> failwithf "unexpected %A" other
    for argv in [ [| "report" |]; [| "report"; " " |] ] do
        match (GcnKd.Cli.parse argv).Command with
        | GcnKd.Cli.Usage(_, isError) -> Assert.True isError
        | other -> failwithf "expected a usage error for %A, got %A" argv other

let private gcnkd (args: string list) = GcnKd.Host.Program.Main(Array.ofList args)

[<Fact>]
let ``gcnkd train writes report.html, gcnkd report rebuilds it, and a directory that is not a run exits 2`` () =
    use tmp = new TempDir()
    let out = Path.Combine(tmp.Path, "mutag")
    let report = Path.Combine(out, "report.html")
    Assert.Equal(0, gcnkd [ "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--folds"; "2"; "--epochs"; "3"; "--data"; dataRoot.Value.Path; "--out"; out ])
    Assert.True(File.Exists report, "train wrote report.html")
    // the log holds what the command printed: its header, the folds' epoch lines and the result
    let log = File.ReadAllText(Path.Combine(out, "log.txt"))
    Assert.StartsWith("# gcnkd ", log)
    for fragment in [ "fold 1 epoch    0: train loss"; "fold 2 epoch    0: train loss"; "fold 2: best epoch" ] do
        Assert.Contains(fragment, log)
    let first = File.ReadAllText report
    File.Delete report
    Assert.Equal(0, gcnkd [ "report"; out ])
    let html = File.ReadAllText report
    Assert.Equal(first, html)
    Assert.Contains("<td>MUTAG</td>", html)
    Assert.Contains("<h2>fold-1</h2>", html)
    Assert.Contains("<h2>fold-2</h2>", html)
    // 2 folds x 4 series (train and validation loss, train and validation accuracy), 3 epochs each
    Assert.Equal<int list>(List.replicate 8 3, polylines html)
    Assert.Empty(Directory.GetFiles(out, "*.tmp*", SearchOption.AllDirectories))
    // not a run directory: missing, empty, a file
    let empty = Path.Combine(tmp.Path, "empty")
    Directory.CreateDirectory empty |> ignore
    Assert.Equal(2, gcnkd [ "report"; Path.Combine(tmp.Path, "missing") ])
    Assert.Equal(2, gcnkd [ "report"; empty ])
    Assert.Equal(2, gcnkd [ "report"; Path.Combine(out, "metrics.json") ])
    Assert.False(File.Exists(Path.Combine(empty, "report.html")))
    userError [ "is not a GcnKd run directory"; "config.json" ] (fun () -> RunDirectory(empty).WriteReport())
    userError [ "missing"; "not found" ] (fun () -> RunDirectory(Path.Combine(tmp.Path, "missing")).WriteReport())
