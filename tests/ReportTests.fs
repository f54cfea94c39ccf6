/// Result tables: the Markdown status/gain columns and the JSON fields (numbers as numbers, NaN and absent as null).
module GcnKd.Tests.ReportTests

open System
open System.Text.Json
open Xunit
open GcnKd.Report

let private teacherRow mean target =
    { Dataset = "MUTAG"; Model = "gin"; Protocol = "10-fold"; Metric = "accuracy (%)"; Mean = mean; Std = 9.17; N = 30; Params = 31192
      Published = Some 89.4; Target = target; Command = "gcnkd train --dataset MUTAG" }

[<Fact>]
let ``the teachers table marks each row against its target, and its JSON keeps numbers and nulls`` () =
    let md = ResultTable.markdown "T" "p" [ teacherRow 85.37 (Some 85.0); teacherRow 84.44 (Some 85.0); teacherRow 70.0 None ]
    Assert.Contains("| 85.37 | 9.17 | 30 | 31192 | 89.40 | meets >= 85.00 |", md)
    Assert.Contains("| 84.44 | 9.17 | 30 | 31192 | 89.40 | **below 85.00** |", md)
    use doc = JsonDocument.Parse(ResultTable.json "T" [ teacherRow nan (Some 85.0); teacherRow 70.0 None ])
    let rows = doc.RootElement.GetProperty "rows"
    Assert.Equal(JsonValueKind.Null, rows.[0].GetProperty("mean").ValueKind)
    Assert.Equal(85.0, rows.[0].GetProperty("target").GetDouble())
    Assert.Equal(JsonValueKind.Null, rows.[1].GetProperty("target").ValueKind)
    Assert.Equal(30, rows.[1].GetProperty("n").GetInt32())

let private distillRow meth mean std =
    { Dataset = "Cora"; Teacher = "T"; Student = "S"; Method = meth; Kernel = "-"; Metric = "accuracy (%)"; Mean = mean; Std = std; N = 10
      TeacherParams = 437525; StudentParams = 23525; TeacherMetric = 81.7; Published = None; Command = "c" }

[<Fact>]
let ``the distillation table's gain over the student alone counts only beyond one standard deviation of both`` () =
    let rows = [ distillRow "none" 79.52 1.62; distillRow "kd" 82.49 0.83; distillRow "lsp" 79.73 1.28; distillRow "at" 81.0 1.7 ]
    Assert.Equal(None, DistillTable.gain rows rows.[0])
    let d, beyond = (DistillTable.gain rows rows.[1]).Value
    Assert.Equal(2.97, d, 6)
    Assert.True beyond
    Assert.False(snd (DistillTable.gain rows rows.[2]).Value)
    // +1.48 is below the larger of the two deviations (1.7), so it does not count
    Assert.False(snd (DistillTable.gain rows rows.[3]).Value)
    let md = DistillTable.markdown "L" "p" rows
    Assert.Contains("**+2.97** (> 1 std)", md)
    Assert.Contains("+0.21 (within 1 std)", md)
    // a row not run (NaN) has no gain, and its JSON says null
    let notRun = rows @ [ { distillRow "fitnet" nan nan with N = 0 } ]
    Assert.Equal(None, DistillTable.gain notRun (List.last notRun))
    use doc = JsonDocument.Parse(DistillTable.json "L" notRun)
    let last = (doc.RootElement.GetProperty "rows").[4]
    Assert.Equal(JsonValueKind.Null, last.GetProperty("gain_over_student_alone").ValueKind)
    Assert.Equal(JsonValueKind.Null, last.GetProperty("mean").ValueKind)
    Assert.True((doc.RootElement.GetProperty "rows").[1].GetProperty("gain_beyond_one_std").GetBoolean())

[<Fact>]
let ``a Markdown table has one header, aligned columns and escaped cells, and refuses rows of the wrong width`` () =
    let md = MarkdownTable.render "T" "P" [ MarkdownTable.text "a"; MarkdownTable.numeric "b" ] (fun (x: string, y: float) -> [ x; string y ]) [ "p|q", 1.5 ]
    Assert.Equal("# T\n\nP\n\n| a | b |\n|---|---:|\n| p\\|q | 1.5 |\n", md)
    let e = Assert.Throws<System.ArgumentException>(fun () -> MarkdownTable.render "T" "P" [ MarkdownTable.text "a" ] (fun (x: string) -> [ x; x ]) [ "r" ] |> ignore)
    Assert.Contains("a row has 2 cells for 1 columns", e.Message)

[<Fact>]
let ``the GFKD table judges GFKD rows against RandG, DeepInvG and real-data KD of the same teacher and student`` () =
    let row m mean std =
        { GfkdRow.Dataset = "MUTAG"; Teacher = "GCN5_64"; TeacherParams = 10; TeacherAccuracy = 80.0; Student = "GCN3_32"; StudentParams = 5; Method = m
          Mean = mean; Std = std; N = 5; TransferDensity = 0.15; RealDensity = 0.14; GenerationSeconds = 30.0; Command = "c" }
    let other = { row "randg" 90.0 1.0 with Student = "GIN3_32" }
    let rows = [ row "kd-real" 75.0 2.0; row "randg" 60.0 3.0; row "deepinvg" 70.0 1.0; row "gfkd-arm" 72.0 2.5; other ]
    let g = rows.[3]
    Assert.Equal(Some(12.0, true), GfkdTable.beats rows g "randg")
    Assert.Equal(Some(2.0, false), GfkdTable.beats rows g "deepinvg")
    Assert.Equal(Some(3.0, true), GfkdTable.gapToRealKd rows g)
    // baselines are not judged, and a missing baseline gives no verdict
    Assert.Equal(None, GfkdTable.beats rows rows.[1] "randg")
    Assert.Equal(None, GfkdTable.beats [ g ] g "randg")
    let md = GfkdTable.markdown "GFKD" "p" rows
    Assert.Contains("| gfkd-arm | 72.00 | 2.50 | 5 | 0.150 (0.140) | 30.0 | **+12.00** | +2.00 | **3.00** | `c` |", md)

[<Fact>]
let ``SVG plots place every finite point inside the frame, with round ticks and escaped labels`` () =
    Assert.Equal<float[]>([| 0.0; 2.0; 4.0; 6.0; 8.0; 10.0 |], SvgPlot.ticks 0.0 10.0)
    Assert.Equal<float[]>([| 0.2; 0.3; 0.4; 0.5 |], SvgPlot.ticks 0.17 0.52 |> Array.map (fun v -> Math.Round(v, 6)))
    let svg =
        SvgPlot.render "fitness <GA>" "generation" "fitness"
            [ { Name = "best"; Points = [| 0.0, 0.5; 1.0, 0.7; 2.0, nan |] }; { Name = "mean & co"; Points = [| 0.0, 0.2; 2.0, 0.4 |] } ]
    Assert.StartsWith("<svg", svg)
    Assert.Contains("fitness &lt;GA&gt;", svg)
    Assert.Contains("mean &amp; co", svg)
    Assert.DoesNotContain("NaN", svg)
    let doc = System.Xml.Linq.XDocument.Parse svg
    let ns = System.Xml.Linq.XNamespace.Get "http://www.w3.org/2000/svg"
    let lines = doc.Descendants(ns + "polyline") |> Seq.toList
    Assert.Equal(2, lines.Length)
    let frame = doc.Descendants(ns + "rect") |> Seq.item 1
    let fx, fy = float (frame.Attribute(System.Xml.Linq.XName.Get "x").Value), float (frame.Attribute(System.Xml.Linq.XName.Get "y").Value)
    let fw, fh = float (frame.Attribute(System.Xml.Linq.XName.Get "width").Value), float (frame.Attribute(System.Xml.Linq.XName.Get "height").Value)
    for l in lines do
        let pts = l.Attribute(System.Xml.Linq.XName.Get "points").Value.Split(' ') |> Array.map (fun p -> let xy = p.Split(',') in float xy.[0], float xy.[1])
        for x, y in pts do Assert.True(x >= fx && x <= fx + fw && y >= fy && y <= fy + fh, sprintf "point %g,%g outside the frame" x y)
    Assert.Throws<ArgumentException>(fun () -> SvgPlot.render "t" "x" "y" [ { Name = "a"; Points = [| nan, 1.0 |] } ] |> ignore) |> ignore

let private evoRow methodName mean std =
    { Model = "LeNet-5"; Dataset = "MNIST"; Method = methodName; Kept = "conv1 10/20"; Params = 1000L; Mults = 5000L; Rc = 5.0; Rs = 3.0
      Before = nan; Mean = mean; Std = std; N = 3; MsBatch1 = nan; MsBatch256 = nan; Command = "gcnkd evolve" }

[<Fact>]
let ``the evolution table compares each thin network with the full one and the GA with each baseline`` () =
    let rows = [ evoRow "full" 99.3 0.0; evoRow "ga" 99.1 0.05; evoRow "l1" 98.9 0.1; evoRow "random" 99.05 0.1 ]
    Assert.Equal(None, EvolutionTable.vsFull rows rows.[0])
    Assert.Equal(-0.2, (EvolutionTable.vsFull rows rows.[1]).Value, 9)
    let m = (EvolutionTable.gaMargin rows rows.[2]).Value
    Assert.Equal(0.2, fst m, 9)
    Assert.True(snd m)
    Assert.False(snd (EvolutionTable.gaMargin rows rows.[3]).Value)
    Assert.Equal(None, EvolutionTable.gaMargin rows rows.[1])
    let md = EvolutionTable.markdown "T" "P" rows
    Assert.Contains("**+0.20** (> 1 std)", md)
    Assert.Contains("+0.05 (within 1 std)", md)
    use json = JsonDocument.Parse(EvolutionTable.json "T" rows)
    let r = json.RootElement.GetProperty("rows")
    Assert.Equal(4, r.GetArrayLength())
    Assert.True(r.[2].GetProperty("ga_beats_by_one_std").GetBoolean())
    Assert.Equal(JsonValueKind.Null, r.[0].GetProperty("vs_full").ValueKind)
