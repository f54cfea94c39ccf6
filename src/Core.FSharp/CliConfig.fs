/// Config files (one experiment = one JSON file, as torchdistill's YAML configs): `gcnkd --config FILE [COMMAND]
/// [OPTIONS]`. The file is an object of the command's long options without their dashes ({"dataset": "MUTAG",
/// "seeds": 5, "student": ["GCN3_32", "GIN3_32"], "resume": true}) and optionally "command" ("gfkd"); the options
/// given on the command line override the file's (a repeatable option given there replaces the file's list).
/// Pure: the host reads the file and passes its text.
module GcnKd.CliConfig

open System
open System.Text.Json

/// The `--config FILE` of a command line, anywhere in it, and the line without it; None when absent. A `--config`
/// without a file name, or given twice, is an error (Error message).
let split (argv: string[]) : Result<(string * string[]) option, string> =
    match argv |> Array.indexed |> Array.filter (fun (_, a) -> a = "--config") |> Array.map fst with
    | [||] -> Ok None
    | [| i |] when i + 1 < argv.Length && not (argv.[i + 1].StartsWith "--") ->
        Ok (Some (argv.[i + 1], Array.append argv.[.. i - 1] argv.[i + 2 ..]))
    | [| _ |] -> Error "--config needs a file name (a JSON object of the command's options)"
    | _ -> Error "--config is given more than once"

/// The settings of a config file's text: its "command" (if any) and each option as (name, tokens).
let settings (path: string) (text: string) : Result<string option * (string * string list) list, string> =
    let bad (what: string) = Error (sprintf "config %s: %s" path what)
    try
        use doc = JsonDocument.Parse(text)
        if doc.RootElement.ValueKind <> JsonValueKind.Object then bad "expected a JSON object of option names and values"
        else
            let scalar (name: string) (v: JsonElement) =
                match v.ValueKind with
                | JsonValueKind.String -> Ok (v.GetString())
                | JsonValueKind.Number -> Ok (v.GetRawText())
                | k -> Error (sprintf "config %s: option \"%s\" has a %A value; expected a string, a number, true/false or a list of them" path name k)
            let folded =
                doc.RootElement.EnumerateObject()
                |> Seq.fold (fun acc (p: JsonProperty) ->
                    match acc with
                    | Error e -> Error e
                    | Ok (command, opts) ->
                        match p.Name, p.Value.ValueKind with
                        | "command", JsonValueKind.String -> Ok (Some (p.Value.GetString()), opts)
                        | "command", _ -> bad "\"command\" must be a string (e.g. \"gfkd\")"
                        | name, _ when name.StartsWith "-" || name.Contains " " -> bad (sprintf "option names are written without dashes or spaces, got \"%s\"" name)
                        | name, JsonValueKind.True -> Ok (command, opts @ [ name, [] ])
                        | _, JsonValueKind.False -> Ok (command, opts)
                        | name, JsonValueKind.Array ->
                            let values = [ for v in p.Value.EnumerateArray() -> scalar name v ]
                            match values |> List.tryPick (function Error e -> Some e | Ok _ -> None) with
                            | Some e -> Error e
                            | None -> Ok (command, opts @ [ name, values |> List.map (function Ok v -> v | Error _ -> "") ])
                        | name, _ -> scalar name p.Value |> Result.map (fun v -> command, opts @ [ name, [ v ] ])) (Ok (None, []))
            folded
    with :? JsonException as e -> bad (sprintf "not valid JSON (%s)" e.Message)

/// The command line with a config file's settings merged in: the file's command when the line names none, then
/// its options (those the line does not give) right after the command. Global options (`--threads N`) stay first.
let merge (command: string option) (options: (string * string list) list) (argv: string[]) : Result<string[], string> =
    // global options before the command: --threads/-t N
    let rec globals i = if i < argv.Length && (argv.[i] = "--threads" || argv.[i] = "-t") then globals (i + 2) else i
    let g = min argv.Length (globals 0)
    let head, rest = argv.[.. g - 1], argv.[g ..]
    let cmd, tail =
        if rest.Length > 0 && not (rest.[0].StartsWith "-") then Ok rest.[0], rest.[1 ..]
        else (match command with Some c -> Ok c | None -> Error "the config names no \"command\" and the command line none either"), rest
    match cmd with
    | Error e -> Error e
    | Ok c ->
        match command with
        | Some fc when fc <> c -> Error (sprintf "the config is for \"%s\" but the command line runs \"%s\"" fc c)
        | _ ->
            let given = set tail
            let fromFile =
                options |> List.filter (fun (name, _) -> not (given.Contains("--" + name)))
                |> List.collect (fun (name, values) -> if values.IsEmpty then [ "--" + name ] else values |> List.collect (fun v -> [ "--" + name; v ]))
            Ok (Array.concat [ head; [| c |]; Array.ofList fromFile; tail ])

/// Parse a command line whose config file (if it names one) the host has read: `readFile path` gives its text,
/// or Error with the reason it cannot be read.
let parse (readFile: string -> Result<string, string>) (argv: string[]) : Cli.Parsed =
    let usage (msg: string) : Cli.Parsed = { Threads = None; Command = Cli.Command.Usage("error: " + msg, true) }
    match split argv with
    | Error e -> usage e
    | Ok None -> Cli.parse argv
    | Ok (Some (path, rest)) ->
        match readFile path |> Result.bind (settings path) |> Result.bind (fun (c, o) -> merge c o rest) with
        | Error e -> usage e
        | Ok merged -> Cli.parse merged
