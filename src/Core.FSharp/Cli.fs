/// The command-line schema (Argu). Parsing is pure: string[] in, a typed command (or a usage message) out; the
/// C# host dispatches on the result.
module GcnKd.Cli

open Argu

type BenchArgs =
    | Json of path: string
    | Case of name: string
    | Runs of count: int
    | List
    | Data of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Json _ -> "also write the results (median ms per case) to this JSON file (written atomically)."
            | Case _ -> "run only cases whose name contains this text (repeatable)."
            | Runs _ -> "timed runs per case after the warm-up (at least 5; default 10)."
            | List -> "print the case names and exit."
            | Data _ -> "data root for the epoch_* cases (Cora, PROTEINS); default: $GCNKD_DATA, else ./data."

type TrainArgs =
    | [<Mandatory>] Dataset of name: string
    | [<Mandatory>] Model of name: string
    | Folds of count: int
    | Split of ratio: string
    | Split_Seed of seed: int
    | Seed of seed: int
    | Seeds of count: int
    | Epochs of count: int
    | Points of count: int
    | Train_Size of count: int
    | Val_Fraction of fraction: float
    | Dropout of p: float
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "dataset: Cora, CiteSeer, PubMed, MUTAG, PTC_MR, PROTEINS, IMDB-BINARY, PPI, MNIST-points."
            | Model _ -> "model: gcn, gat, sage, mlp, gin, GCN5_64, GIN5_64, GCN3_32, GIN3_32, dgcnn (MNIST-points), gat and gat-student (PPI)."
            | Folds _ -> "graph classification: k-fold cross-validation on the standard folds (default 10)."
            | Split _ -> "graph classification: one train/test split instead of folds, e.g. 70/30 (GFKD protocol)."
            | Split_Seed _ -> "seed of the --split shuffle (default 29, as the GFKD code)."
            | Seed _ -> "seed of the run (initialisation, dropout, batching); default 0."
            | Seeds _ -> "repeat over this many seeds (seed, seed+1, ...): node classification reruns the split, graph classification the whole cross-validation; default 1."
            | Epochs _ -> "override the preset's number of epochs (a smoke run)."
            | Points _ -> "MNIST-points: points sampled per digit (default 128)."
            | Train_Size _ -> "MNIST-points: train on a stratified, seeded subset of this many training clouds (default: all 60000)."
            | Dropout _ -> "graph classification: dropout on the logits (default 0.5; Xu et al. tune it in {0, 0.5})."
            | Val_Fraction _ -> "graph classification: the stratified fraction of each training part held out to select the epoch (default 0.1)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory for the checkpoint(s), resolved config and metrics."

type DistillArgs =
    | [<Mandatory>] Dataset of name: string
    | [<Mandatory>] Method of name: string
    | Kernel of name: string
    | Lambda of weight: float
    | Distill_Epochs of count: int
    | Seed of seed: int
    | Seeds of count: int
    | Epochs of count: int
    | Teacher of checkpoint: string
    | Points of count: int
    | Train_Size of count: int
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "dataset: Cora, CiteSeer or PubMed (transductive node classification), PPI (the LSP paper's setting: its GAT teacher and student), or MNIST-points (DGCNN teacher, thin DGCNN student; methods none, kd, lsp)."
            | Method _ -> "none (the student alone), kd (Hinton, T 4, alpha 0.5), fitnet, at (attention transfer) or lsp."
            | Kernel _ -> "LSP's score function: rbf (default, sigma 1), rbf-auto (sigma^2 = each side's mean squared edge distance), linear, poly (c 0, d 2), sqdist or l1exp (the released code's, tau 100)."
            | Lambda _ -> "weight of the FitNet / AT / LSP term (default 1, the LSP code's --loss-weight)."
            | Distill_Epochs _ -> "apply the FitNet / AT / LSP term for the first K epochs only; default: every epoch on node datasets, the first 30 on PPI (the LSP code's --tofull 30)."
            | Seed _ -> "first student seed (default 0); the teacher is trained with seed 0."
            | Seeds _ -> "students over this many seeds (seed, seed+1, ...); default 1."
            | Epochs _ -> "override the epochs of the teacher and the students (a smoke run)."
            | Points _ -> "MNIST-points: points sampled per digit (default 128)."
            | Train_Size _ -> "MNIST-points: train on a stratified, seeded subset of this many training clouds (default: all)."
            | Teacher _ -> "reuse a teacher checkpoint (model.safetensors of a previous distill run's teacher/) instead of training one."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory: teacher/ and one directory per student seed."

type ReproduceArgs =
    | [<MainCommand; Mandatory>] Table of name: string
    | Quick
    | Resume
    | Data of dir: string
    | Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Table _ -> "which table: teachers or lsp."
            | Quick -> "a smoke version: few epochs, one fold or seed (what CI runs)."
            | Resume -> "lsp: keep every row whose run directory already holds its final metrics.json with all its seeds (an interrupted reproduction continues where it stopped)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "where the table goes (default experiments/results)."

[<RequireSubcommand>]
type GcnKdArgs =
    | [<AltCommandLine("-t"); Inherit>] Threads of count: int
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Distill of ParseResults<DistillArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Threads _ -> "kernel threads (default: all cores). Results do not depend on it."
            | Bench _ -> "time GcnKd's kernels and a GCN training step (compare with experiments/bench/torch_reference.py)."
            | Train _ -> "train a model on a dataset under its standard protocol; writes checkpoints and metrics."
            | Distill _ -> "distil a trained teacher into a small student (student alone, KD, FitNet, AT or LSP)."
            | Reproduce _ -> "rerun a results table (experiments/results/NAME.md and .json)."

type BenchOptions = { Json: string option; Cases: string list; Runs: int; List: bool; Data: string option }

/// How a graph-classification dataset is partitioned.
type Protocol =
    /// k-fold cross-validation (the standard folds when the dataset ships them).
    | KFold of folds: int
    /// One shuffled train/test split: the train fraction and the shuffle seed.
    | HoldOut of trainFraction: float * seed: int

type TrainOptions =
    { Dataset: string; Model: string; Protocol: Protocol; Seed: int; Seeds: int; Epochs: int option
      /// Point clouds: points per cloud and an optional training subset size.
      Points: int option
      TrainSize: int option
      /// Graph classification: the fraction of each training part held out for epoch selection (default 0.1).
      ValFraction: float option
      /// Graph classification: dropout on the logits (default Registry.DefaultGraphDropout).
      Dropout: float option
      Data: string option; Out: string }

type DistillCliOptions =
    { Dataset: string; Method: string; Kernel: string; Lambda: float32; DistillEpochs: int option
      Seed: int; Seeds: int; Epochs: int option; Teacher: string option
      /// MNIST-points only: points per cloud and the training subset size.
      Points: int option; TrainSize: int option
      Data: string option; Out: string }

type ReproduceOptions = { Table: string; Quick: bool; Resume: bool; Data: string option; Out: string }

type Command =
    | RunBench of BenchOptions
    | RunTrain of TrainOptions
    | RunDistill of DistillCliOptions
    | RunReproduce of ReproduceOptions
    /// --help or a usage error: the text to print and whether it is an error.
    | Usage of text: string * isError: bool

type Parsed = { Threads: int option; Command: Command }

let parser = ArgumentParser.Create<GcnKdArgs>(programName = "gcnkd")

exception private InvalidValue of string

let private positive (name: string) (v: int) =
    if v < 1 then raise (InvalidValue(sprintf "%s must be a positive integer, got %d" name v)) else v

/// Parse a command line. Never throws for user input: mistakes come back as `Usage(text, true)`.
let parse (argv: string[]) : Parsed =
    try
        let r = parser.ParseCommandLine(argv, raiseOnUsage = true)
        let threads = r.TryGetResult Threads |> Option.map (positive "--threads")
        let command =
            match r.GetSubCommand() with
            | Bench b ->
                let runs = b.GetResult(Runs, defaultValue = 10) |> positive "--runs"
                if runs < 5 then raise (InvalidValue(sprintf "--runs must be at least 5 (a median needs them), got %d" runs))
                RunBench { Json = b.TryGetResult Json; Cases = b.GetResults Case; Runs = runs; List = b.Contains List; Data = b.TryGetResult BenchArgs.Data }
            | Train t ->
                if t.Contains Folds && t.Contains Split then raise (InvalidValue "--folds and --split exclude each other")
                let protocol =
                    match t.TryGetResult Split with
                    | Some ratio ->
                        match ratio.Split('/') |> Array.map System.Int32.TryParse with
                        | [| (true, a); (true, b) |] when a > 0 && b > 0 -> HoldOut(float a / float (a + b), t.GetResult(Split_Seed, defaultValue = 29))
                        | _ -> raise (InvalidValue(sprintf "--split must look like 70/30, got '%s'" ratio))
                    | None -> KFold(t.GetResult(Folds, defaultValue = 10) |> positive "--folds")
                match protocol with
                | KFold k when k < 2 -> raise (InvalidValue(sprintf "--folds must be at least 2, got %d" k))
                | _ -> ()
                RunTrain { Dataset = t.GetResult TrainArgs.Dataset; Model = t.GetResult Model; Protocol = protocol
                           Seed = t.GetResult(TrainArgs.Seed, defaultValue = 0); Seeds = t.GetResult(TrainArgs.Seeds, defaultValue = 1) |> positive "--seeds"
                           Epochs = t.TryGetResult TrainArgs.Epochs |> Option.map (positive "--epochs")
                           Points = t.TryGetResult TrainArgs.Points |> Option.map (positive "--points")
                           TrainSize = t.TryGetResult TrainArgs.Train_Size |> Option.map (positive "--train-size")
                           ValFraction =
                               t.TryGetResult Val_Fraction
                               |> Option.map (fun f ->
                                   if f > 0.0 && f < 0.5 then f
                                   else raise (InvalidValue(sprintf "--val-fraction must lie strictly between 0 and 0.5, got %g" f)))
                           Dropout =
                               t.TryGetResult Dropout
                               |> Option.map (fun p ->
                                   if p >= 0.0 && p < 1.0 then p
                                   else raise (InvalidValue(sprintf "--dropout must lie in [0, 1), got %g" p)))
                           Data = t.TryGetResult TrainArgs.Data
                           Out = t.GetResult TrainArgs.Out }
            | Distill d ->
                let m = d.GetResult Method
                if not (List.contains (m.ToLowerInvariant()) [ "none"; "kd"; "fitnet"; "at"; "lsp" ]) then
                    raise (InvalidValue(sprintf "--method must be one of none, kd, fitnet, at, lsp; got '%s'" m))
                let kernel = d.GetResult(Kernel, defaultValue = "rbf")
                if not (List.contains (kernel.ToLowerInvariant()) LspScore.names) then
                    raise (InvalidValue(sprintf "--kernel must be one of %s; got '%s'" (String.concat ", " LspScore.names) kernel))
                let lambda = d.GetResult(Lambda, defaultValue = 1.0)
                if not (lambda >= 0.0) || System.Double.IsInfinity lambda then
                    raise (InvalidValue(sprintf "--lambda must be a finite number >= 0, got %g" lambda))
                RunDistill { Dataset = d.GetResult DistillArgs.Dataset; Method = m.ToLowerInvariant(); Kernel = kernel.ToLowerInvariant()
                             Lambda = float32 lambda
                             DistillEpochs = d.TryGetResult Distill_Epochs |> Option.map (positive "--distill-epochs")
                             Seed = d.GetResult(DistillArgs.Seed, defaultValue = 0)
                             Seeds = d.GetResult(DistillArgs.Seeds, defaultValue = 1) |> positive "--seeds"
                             Epochs = d.TryGetResult DistillArgs.Epochs |> Option.map (positive "--epochs")
                             Teacher = d.TryGetResult Teacher
                             Points = d.TryGetResult DistillArgs.Points |> Option.map (positive "--points")
                             TrainSize = d.TryGetResult DistillArgs.Train_Size |> Option.map (positive "--train-size")
                             Data = d.TryGetResult DistillArgs.Data; Out = d.GetResult DistillArgs.Out }
            | Reproduce r ->
                let table = r.GetResult Table
                if table <> "teachers" && table <> "lsp" then raise (InvalidValue(sprintf "reproduce: unknown table '%s' (known: teachers, lsp)" table))
                RunReproduce { Table = table; Quick = r.Contains Quick; Resume = r.Contains Resume; Data = r.TryGetResult ReproduceArgs.Data
                               Out = r.GetResult(ReproduceArgs.Out, defaultValue = "experiments/results") }
            | Threads _ -> Usage(parser.PrintUsage(), true)
        { Threads = threads; Command = command }
    with
    | :? ArguParseException as e -> { Threads = None; Command = Usage(e.Message, e.ErrorCode <> ErrorCode.HelpText) }
    | InvalidValue msg -> { Threads = None; Command = Usage("error: " + msg, true) }
