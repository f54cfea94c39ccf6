/// Progress text (bar, rate, ETA, durations, the whole line cut to the terminal) and where it goes: a bar redrawn in
/// place on a terminal's status line, the plain periodic lines anywhere else.
module GcnKd.Tests.ProgressTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open FsCheck.FSharp
open GcnKd.Report
open GcnKd.Host.Runtime
open GcnKd.Host.Experiments
open GcnKd.Tests.TestData

[<Fact>]
let ``durations read as seconds, minutes and seconds, hours and minutes`` () =
    let cases = [ 0.0, "0s"; 0.4, "0s"; 42.0, "42s"; 59.4, "59s"; 59.6, "1m00s"; 280.0, "4m40s"; 3599.0, "59m59s"; 3900.0, "1h05m"; 90000.0, "25h00m" ]
    for seconds, text in cases do Assert.Equal(text, ProgressText.duration seconds)
    for bad in [ nan; infinity; -1.0 ] do Assert.Equal("?", ProgressText.duration bad)

[<Fact>]
let ``the ETA is the time per unit so far times the units left, unknown before the first unit`` () =
    Assert.Equal(Some 408.0, ProgressText.eta 12.0 10 340)
    Assert.Equal(Some 0.0, ProgressText.eta 12.0 10 -5)
    Assert.Equal(None, ProgressText.eta 12.0 0 340)
    Assert.Equal(None, ProgressText.secondsPerUnit nan 3)
    // resumed at 1200 of 1500: 100 iterations in 5 s since the restart, 199 left
    Assert.Equal(Some 9.95, ProgressText.eta 5.0 100 199 |> Option.map (fun s -> Math.Round(s, 9)))
    Assert.Equal("1.2 s/epoch", ProgressText.rate 1.2 "epoch")
    Assert.Equal("35 ms/iteration", ProgressText.rate 0.035 "iteration")

[<Fact>]
let ``the bar fills in proportion, clamps done to the total and its width to at least one cell`` () =
    Assert.Equal("[###.......]", ProgressText.bar 10 3 10)
    Assert.Equal("[##########]", ProgressText.bar 10 15 10)
    Assert.Equal("[..........]", ProgressText.bar 10 -3 10)
    Assert.Equal("[....]", ProgressText.bar 4 3 0)
    Assert.Equal("[.]", ProgressText.bar 0 1 2)
    Assert.Equal("[#]", ProgressText.bar -5 2 2)
    let gen = Gen.zip3 (Gen.choose (-3, 60)) (Gen.choose (-10, 400)) (Gen.choose (1, 350))
    Props.forAll gen (fun (width, d, total) ->
        let b = ProgressText.bar width d total
        let filled = b |> Seq.filter ((=) '#') |> Seq.length
        b.Length = max 1 width + 2 && b.StartsWith "[" && b.EndsWith "]"
        && filled <= max 1 width && (d < total || filled = max 1 width) && (d > 0 || filled = 0))

[<Fact>]
let ``a progress line shows the bar, count, rate, ETA and status, and is cut to the terminal's width`` () =
    // 120 of 350 epochs in 146.09 s: 1.217 s/epoch, 230 epochs left = 280 s
    let elapsed = 280.0 / 230.0 * 120.0
    Assert.Equal("  seed 0 [######..............] 120/350 epochs  1.2 s/epoch  ETA 4m40s  loss 0.41 acc 83.2",
                 ProgressText.line 200 "  seed 0" 120 350 "epoch" elapsed 120 "loss 0.41 acc 83.2")
    Assert.Equal("  seed 0 [######", ProgressText.line 16 "  seed 0" 120 350 "epoch" elapsed 120 "loss 0.41")
    // before the first unit: no rate and no ETA; an unknown total: no bar and no ETA
    Assert.Equal("t [....................] 0/10 generations", ProgressText.line 200 "t" 0 10 "generation" 0.5 0 "")
    Assert.Equal("teacher 12 epochs  500 ms/epoch  loss 0.5", ProgressText.line 200 "teacher" 12 0 "epoch" 6.0 12 "loss 0.5")

[<Fact>]
let ``on a status line the bar is redrawn in place and erased before other text; elsewhere nothing is drawn`` () =
    use text = new StringWriter()
    let status = new StatusLineWriter(text, 200)
    let bar = ProgressBar(status, "fit", 3, "iteration")
    Assert.True bar.Live
    bar.Update(1, "loss 1.0")
    bar.Update(2, "loss 0.9")   // drawn or not: at most ten draws a second
    bar.Update(3, "loss 0.8")   // the last unit is always drawn
    status.WriteLine("done")
    let out = text.ToString()
    Assert.StartsWith("\rfit [######..............] 1/3 iterations", out)
    Assert.Contains("\rfit [####################] 3/3 iterations", out)
    Assert.Contains("ETA 0s  loss 0.8", out)
    // the bar is erased (carriage return, blanks, carriage return) before "done", which gets its own line
    let last = out.LastIndexOf "loss 0.8"
    Assert.Matches("^\r +\rdone" + Regex.Escape Environment.NewLine + "$", out.Substring(last + "loss 0.8".Length))
    use plain = new StringWriter()
    let off = ProgressBar(plain, "fit", 3, "iteration")
    Assert.False off.Live
    off.Update(3, "loss 0.8")
    Assert.Equal("", plain.ToString())

let private trainOptions out : GcnKd.Cli.TrainOptions =
    { Dataset = "MUTAG"; Model = "gin"; Protocol = GcnKd.Cli.KFold 2; Seed = 0; Seeds = 1; Epochs = Some 2; Points = None; TrainSize = None
      ValFraction = None; Dropout = None; Resume = false; Data = Some dataRoot.Value.Path; Out = out }

[<Fact>]
let ``gcnkd train writes its plain epoch lines when not on a terminal, and bars with ETA on one`` () =
    use tmp = new TempDir()
    use plain = new StringWriter()
    TrainCommand.Execute(trainOptions (Path.Combine(tmp.Path, "a")), plain) |> ignore
    let log = plain.ToString()
    Assert.Matches(@"(?m)^  fold 1 epoch    0: train loss \d+\.\d{4} metric \d+\.\d{2}, val loss \d+\.\d{4} metric \d+\.\d{2} \(\d+\.\d s/epoch\)\r?$", log)
    Assert.Contains("  fold 2: best epoch", log)
    Assert.DoesNotContain("\r ", log)
    Assert.DoesNotContain("ETA", log)
    use screen = new StringWriter()
    TrainCommand.Execute(trainOptions (Path.Combine(tmp.Path, "b")), new StatusLineWriter(screen, 300)) |> ignore
    let shown = screen.ToString()
    Assert.Contains("\r  fold 1 [####################] 2/2 epochs", shown)
    Assert.Contains("ETA 0s  loss ", shown)
    Assert.DoesNotContain("epoch    0:", shown)
    // result lines are kept, each on its own line after the erased bar
    Assert.Matches(@"\r +\r  fold 1: best epoch", shown)
