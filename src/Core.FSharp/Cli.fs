/// The command-line schema (Argu). Parsing is pure: string[] in, a typed command (or a usage message) out; the
/// C# host dispatches on the result.
module GcnKd.Cli

open Argu

type BenchArgs =
    | Json of path: string
    | Case of name: string
    | Runs of count: int
    | List
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Json _ -> "also write the results (median ms per case) to this JSON file (written atomically)."
            | Case _ -> "run only cases whose name contains this text (repeatable)."
            | Runs _ -> "timed runs per case after the warm-up (at least 5; default 10)."
            | List -> "print the case names and exit."

[<RequireSubcommand>]
type GcnKdArgs =
    | [<AltCommandLine("-t"); Inherit>] Threads of count: int
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Threads _ -> "kernel threads (default: all cores). Results do not depend on it."
            | Bench _ -> "time GcnKd's kernels and a GCN training step (compare with experiments/bench/torch_reference.py)."

type BenchOptions = { Json: string option; Cases: string list; Runs: int; List: bool }

type Command =
    | RunBench of BenchOptions
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
                RunBench { Json = b.TryGetResult Json; Cases = b.GetResults Case; Runs = runs; List = b.Contains List }
            | Threads _ -> Usage(parser.PrintUsage(), true)
        { Threads = threads; Command = command }
    with
    | :? ArguParseException as e -> { Threads = None; Command = Usage(e.Message, e.ErrorCode <> ErrorCode.HelpText) }
    | InvalidValue msg -> { Threads = None; Command = Usage("error: " + msg, true) }
