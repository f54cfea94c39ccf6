/// `--resume` and Ctrl-C for train and distill, in-process on the real data with tiny epoch counts: a run stopped
/// through the interrupt flag (scoped to the test, as Ctrl-C would set it for the process) and resumed ends with the
/// same files as an uninterrupted one and trains only what was missing; resuming with other settings is refused.
module GcnKd.Tests.ResumeTests

open System
open System.IO
open System.Threading
open Xunit
open GcnKd.Cli
open GcnKd.Host
open GcnKd.Host.Experiments
open GcnKd.Host.Runtime
open GcnKd.Tests.TestData

/// A progress writer that requests a stop (the Ctrl-C flag) when a line containing `fragment` is written.
type private StopOn(fragment: string, stop: CancellationTokenSource) =
    inherit StringWriter()
    override this.WriteLine(line: string) =
        base.WriteLine line
        if not (isNull line) && line.Contains fragment then stop.Cancel()

/// Run `command` with the interrupt flag requested when the progress line `fragment` appears; it must stop with
/// OperationCanceledException. Returns the progress text.
let private interruptedAt fragment (command: TextWriter -> 'a) =
    use stop = new CancellationTokenSource()
    use scope = Interrupt.Scope stop.Token
    let log = new StopOn(fragment, stop)
    Assert.ThrowsAny<OperationCanceledException>(fun () -> command log |> ignore) |> ignore
    log.ToString()

let private trainOptions out =
    { TrainOptions.Dataset = "MUTAG"; Model = "gin"; Protocol = KFold 3; Seed = 0; Seeds = 1; Epochs = Some 2; Points = None; TrainSize = None
      ValFraction = None; Dropout = None; Resume = false; Data = Some dataRoot.Value.Path; Out = out }

let private distillOptions out =
    { DistillCliOptions.Dataset = "Cora"; Method = "kd"; Kernel = "rbf"; Lambda = 1.0f; DistillEpochs = None; Seed = 0; Seeds = 3
      Epochs = Some 2; Teacher = None; Points = None; TrainSize = None; Resume = false; Data = Some dataRoot.Value.Path; Out = out }

let private text (dir: string) (file: string) = File.ReadAllText(Path.Combine(dir, file))
let private written (dir: string) (file: string) = File.GetLastWriteTimeUtc(Path.Combine(dir, file))
let private noTemporaryFiles (dir: string) = Assert.Empty(Directory.GetFiles(dir, "*.tmp*", SearchOption.AllDirectories))

/// The progress line of a run that was trained (not kept).
let private trained (log: string) (label: string) = log.Contains(sprintf "  %s: best epoch" label)

[<Fact>]
let ``train: 3 folds stopped during fold 2 and resumed give the uninterrupted run's files, retraining only folds 2 and 3`` () =
    use root = new TempDir()
    let whole, stopped = Path.Combine(root.Path, "whole"), Path.Combine(root.Path, "stopped")
    TrainCommand.Execute(trainOptions whole, TextWriter.Null) |> ignore

    let first = interruptedAt "fold 2 epoch" (fun w -> TrainCommand.Execute(trainOptions stopped, w))
    Assert.True(trained first "fold 1")
    Assert.True(File.Exists(Path.Combine(stopped, "fold-1", "metrics.json")))
    // fold 2 was stopped after its first epoch: only its mid-run checkpoint is written
    Assert.Equal<string[]>([| TrainSnapshots.FileName |], Directory.GetFiles(Path.Combine(stopped, "fold-2")) |> Array.map Path.GetFileName)
    Assert.False(File.Exists(Path.Combine(stopped, "metrics.json")))
    Assert.Contains("\"options\"", text stopped "config.json")
    noTemporaryFiles stopped
    let line = Interrupt.StoppedLine stopped
    Assert.Contains("fold-1", line)
    Assert.Contains("rerun the same command with --resume", line)
    let fold1 = written (Path.Combine(stopped, "fold-1")) "model.safetensors"

    let log = new StringWriter()
    let s = TrainCommand.Execute({ trainOptions stopped with Resume = true }, log)
    let log = log.ToString()
    Assert.Equal(3, s.N)
    Assert.Contains("fold 1: kept from", log)
    Assert.False(trained log "fold 1", "fold 1 is not trained again")
    Assert.True(trained log "fold 2" && trained log "fold 3", log)
    Assert.Contains("fold 2: resuming after epoch 1 from", log)
    Assert.False(File.Exists(Path.Combine(stopped, "fold-2", TrainSnapshots.FileName)), "the mid-run checkpoint is removed once the fold is written")
    Assert.Equal(fold1, written (Path.Combine(stopped, "fold-1")) "model.safetensors")
    for file in [ "metrics.json"; "config.json"; "fold-1/metrics.json"; "fold-2/metrics.json"; "fold-3/metrics.json"; "fold-3/config.json" ] do
        Assert.Equal(text whole file, text stopped file)
    noTemporaryFiles stopped

    // a finished run resumed keeps everything and rewrites the same results
    let again = new StringWriter()
    TrainCommand.Execute({ trainOptions stopped with Resume = true }, again) |> ignore
    Assert.False([ "fold 1"; "fold 2"; "fold 3" ] |> List.exists (trained (again.ToString())))
    Assert.Equal(text whole "metrics.json", text stopped "metrics.json")

[<Fact>]
let ``distill: the teacher and the finished student seeds are kept on --resume, the missing seeds distilled as in an uninterrupted run`` () =
    use root = new TempDir()
    let whole, stopped = Path.Combine(root.Path, "whole"), Path.Combine(root.Path, "stopped")
    DistillCommand.Execute(distillOptions whole, TextWriter.Null) |> ignore

    let first = interruptedAt "seed 1 epoch" (fun w -> DistillCommand.Execute(distillOptions stopped, w))
    Assert.True(trained first "seed 0")
    Assert.True(File.Exists(Path.Combine(stopped, "teacher", "metrics.json")))
    Assert.True(File.Exists(Path.Combine(stopped, "seed-0", "distill.csv")))
    Assert.False(Directory.Exists(Path.Combine(stopped, "seed-1")))
    noTemporaryFiles stopped
    let teacher, seed0 = written (Path.Combine(stopped, "teacher")) "model.safetensors", written (Path.Combine(stopped, "seed-0")) "model.safetensors"

    let log = new StringWriter()
    let s = DistillCommand.Execute({ distillOptions stopped with Resume = true }, log)
    let log = log.ToString()
    Assert.Equal(3, s.N)
    Assert.Contains("teacher: kept from", log)
    Assert.Contains("seed 0: kept from", log)
    Assert.False(trained log "seed 0")
    Assert.True(trained log "seed 1" && trained log "seed 2", log)
    Assert.Equal(teacher, written (Path.Combine(stopped, "teacher")) "model.safetensors")
    Assert.Equal(seed0, written (Path.Combine(stopped, "seed-0")) "model.safetensors")
    for file in [ "metrics.json"; "config.json"; "seed-1/metrics.json"; "seed-2/distill.csv" ] do
        Assert.Equal(text whole file, text stopped file)
    noTemporaryFiles stopped

[<Fact>]
let ``resuming with other settings is refused with exit code 2, naming config.json and the setting`` () =
    use root = new TempDir()
    let out = Path.Combine(root.Path, "run")
    interruptedAt "fold 1 epoch" (fun w -> TrainCommand.Execute(trainOptions out, w)) |> ignore
    let config = Path.Combine(out, "config.json")
    userError [ config; "--epochs 2 there, 3 now" ] (fun () -> TrainCommand.Execute({ trainOptions out with Epochs = Some 3; Resume = true }, TextWriter.Null))
    userError [ config; "--folds 3 there, not given now"; "--split not given there, 0.7 now"; "--split-seed not given there, 29 now" ] (fun () -> TrainCommand.Execute({ trainOptions out with Protocol = HoldOut(0.7, 29); Resume = true }, TextWriter.Null))
    userError [ config; "--dropout not given there, 0 now" ] (fun () -> TrainCommand.Execute({ trainOptions out with Dropout = Some 0.0; Resume = true }, TextWriter.Null))
    userError [ config; "--model gin there, GIN3_32 now" ] (fun () -> TrainCommand.Execute({ trainOptions out with Model = "GIN3_32"; Resume = true }, TextWriter.Null))
    userError [ config; "written by gcnkd train, not gcnkd distill" ] (fun () ->
        DistillCommand.Execute({ distillOptions out with Resume = true }, TextWriter.Null))
    let args epochs = [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--folds"; "3"; "--epochs"; epochs; "--resume"; "--data"; dataRoot.Value.Path; "--out"; out |]
    Assert.Equal(2, Program.Main(args "3"))
    Assert.False(File.Exists(Path.Combine(out, "metrics.json")), "a refused resume trains nothing")
    // more seeds are not another setting: a resumed run may grow
    let s = TrainCommand.Execute({ trainOptions out with Seeds = 2; Resume = true }, TextWriter.Null)
    Assert.Equal(6, s.N)

[<Fact>]
let ``a stop request ends the command with exit code 130 and leaves no temporary file`` () =
    use root = new TempDir()
    let out = Path.Combine(root.Path, "run")
    use stop = new CancellationTokenSource()
    stop.Cancel()
    use scope = Interrupt.Scope stop.Token
    let code = Program.Main [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--folds"; "3"; "--epochs"; "2"; "--data"; dataRoot.Value.Path; "--out"; out |]
    Assert.Equal(130, code)
    Assert.False(File.Exists(Path.Combine(out, "metrics.json")))
    noTemporaryFiles out
    Assert.Contains("no seed, fold or teacher had finished yet", Interrupt.StoppedLine out)

[<Fact>]
let ``--resume parses for train and distill and is off by default`` () =
    let train extra = GcnKd.Cli.parse (Array.append [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--out"; "o" |] extra)
    match (train [| "--resume" |]).Command, (train [||]).Command with
    | RunTrain a, RunTrain b -> Assert.Equal((true, false), (a.Resume, b.Resume))
    | c -> failwithf "unexpected %A" c
    let distill extra = GcnKd.Cli.parse (Array.append [| "distill"; "--dataset"; "Cora"; "--method"; "kd"; "--out"; "o" |] extra)
    match (distill [| "--resume" |]).Command, (distill [||]).Command with
    | RunDistill a, RunDistill b -> Assert.Equal((true, false), (a.Resume, b.Resume))
    | c -> failwithf "unexpected %A" c
