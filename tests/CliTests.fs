module GcnKd.Tests.CliTests

open Xunit
open GcnKd
open GcnKd.Cli

let private usageError (argv: string[]) =
    match (Cli.parse argv).Command with
    | Usage(text, true) -> text
    | other -> failwithf "expected a usage error for %A, got %A" argv other

[<Fact>]
let ``bench options parse into a typed command`` () =
    let p = Cli.parse [| "--threads"; "1"; "bench"; "--json"; "out.json"; "--case"; "gemm"; "--runs"; "9" |]
    Assert.Equal(Some 1, p.Threads)
    match p.Command with
    | RunBench b ->
        Assert.Equal(Some "out.json", b.Json)
        Assert.Equal<string list>([ "gemm" ], b.Cases)
        Assert.Equal(9, b.Runs)
    | other -> failwithf "unexpected %A" other

[<Fact>]
let ``quickstart parses with its defaults and its options`` () =
    match (Cli.parse [| "quickstart" |]).Command with
    | Command.RunQuickstart q -> Assert.Equal({ QuickstartOptions.Dataset = "MUTAG"; Data = None; Out = "runs/quickstart" }, q)
    | c -> failwithf "unexpected %A" c
    match (Cli.parse [| "quickstart"; "--dataset"; "PTC_MR"; "--data"; "d"; "--out"; "o" |]).Command with
    | Command.RunQuickstart q -> Assert.Equal({ QuickstartOptions.Dataset = "PTC_MR"; Data = Some "d"; Out = "o" }, q)
    | c -> failwithf "unexpected %A" c
    usageError [| "quickstart"; "--epochs"; "3" |] |> ignore

[<Fact>]
let ``bad values and unknown commands give one clear message`` () =
    Assert.Contains("--runs must be at least 5", usageError [| "bench"; "--runs"; "3" |])
    Assert.Contains("--threads must be a positive integer", usageError [| "--threads"; "0"; "bench" |])
    Assert.Contains("unrecognized argument: 'frobnicate'", usageError [| "frobnicate" |])
    Assert.Contains("--runs", usageError [| "bench"; "--runs"; "many" |])

[<Fact>]
let ``help is not an error`` () =
    match (Cli.parse [| "--help" |]).Command with
    | Usage(text, false) -> Assert.Contains("bench", text)
    | other -> failwithf "unexpected %A" other

[<Fact>]
let ``train parses the protocol options and refuses contradictions`` () =
    match (Cli.parse [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--split"; "70/30"; "--out"; "o" |]).Command with
    | RunTrain t ->
        match t.Protocol with
        | HoldOut(f, seed) -> Assert.Equal(0.7, f, 10); Assert.Equal(29, seed)
        | other -> failwithf "unexpected %A" other
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "train"; "--dataset"; "Cora"; "--model"; "gcn"; "--seeds"; "10"; "--out"; "o" |]).Command with
    | RunTrain t -> Assert.Equal(10, t.Seeds); Assert.Equal(KFold 10, t.Protocol)
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--seeds"; "3"; "--val-fraction"; "0.2"; "--out"; "o" |]).Command with
    | RunTrain t -> Assert.Equal(3, t.Seeds); Assert.Equal(Some 0.2, t.ValFraction); Assert.Equal(None, t.Dropout)
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "train"; "--dataset"; "MUTAG"; "--model"; "gin"; "--dropout"; "0"; "--out"; "o" |]).Command with
    | RunTrain t -> Assert.Equal(Some 0.0, t.Dropout)
    | other -> failwithf "unexpected %A" other
    Assert.Contains("--val-fraction must lie strictly between 0 and 0.5, got 0.6", usageError [| "train"; "--dataset"; "M"; "--model"; "gin"; "--val-fraction"; "0.6"; "--out"; "o" |])
    Assert.Contains("--dropout must lie in [0, 1), got 1", usageError [| "train"; "--dataset"; "M"; "--model"; "gin"; "--dropout"; "1"; "--out"; "o" |])
    match (Cli.parse [| "distill"; "--dataset"; "Cora"; "--method"; "LSP"; "--kernel"; "l1exp"; "--lambda"; "10"; "--distill-epochs"; "30"; "--out"; "o" |]).Command with
    | RunDistill d ->
        Assert.Equal("lsp", d.Method); Assert.Equal("l1exp", d.Kernel); Assert.Equal(10.0f, d.Lambda); Assert.Equal(Some 30, d.DistillEpochs)
        Assert.Equal(1, d.Seeds); Assert.Equal(None, d.Teacher)
    | other -> failwithf "unexpected %A" other
    Assert.Contains("--method must be one of none, kd, fitnet, at, lsp; got 'hint'", usageError [| "distill"; "--dataset"; "Cora"; "--method"; "hint"; "--out"; "o" |])
    Assert.Contains("--kernel must be one of rbf, rbf-auto, linear, poly, sqdist, l1exp; got 'cos'", usageError [| "distill"; "--dataset"; "Cora"; "--method"; "lsp"; "--kernel"; "cos"; "--out"; "o" |])
    Assert.Contains("--lambda must be a finite number >= 0, got -1", usageError [| "distill"; "--dataset"; "Cora"; "--method"; "lsp"; "--lambda"; "-1"; "--out"; "o" |])
    Assert.Contains("exclude each other", usageError [| "train"; "--dataset"; "M"; "--model"; "gin"; "--folds"; "5"; "--split"; "70/30"; "--out"; "o" |])
    Assert.Contains("--split must look like 70/30", usageError [| "train"; "--dataset"; "M"; "--model"; "gin"; "--split"; "70-30"; "--out"; "o" |])
    Assert.Contains("--folds must be at least 2", usageError [| "train"; "--dataset"; "M"; "--model"; "gin"; "--folds"; "1"; "--out"; "o" |])
    Assert.Contains("--out", usageError [| "train"; "--dataset"; "M"; "--model"; "gin" |])
    Assert.Contains("unknown table 'students'", usageError [| "reproduce"; "students" |])

[<Fact>]
let ``gfkd options parse into a typed command, with GcnKd's defaults left to the host`` () =
    match (Cli.parse [| "gfkd"; "--dataset"; "MUTAG"; "--method"; "GFKD-ARM"; "--student"; "gin3_32"; "--student"; "GCN3_32"; "--student"; "GIN3_32"
                        "--teacher-model"; "gin5_64"; "--nodes"; "10-29"; "--iterations"; "20"; "--density-weight"; "0"; "--init-shift"; "-1.5"
                        "--seeds"; "5"; "--resume"; "--out"; "o" |]).Command with
    | RunGfkd g ->
        Assert.Equal("gfkd-arm", g.Method)
        Assert.Equal("GIN5_64", g.TeacherModel)
        Assert.Equal<string list>([ "GIN3_32"; "GCN3_32" ], g.Students)
        Assert.Equal(Some(CountRange(10, 29)), g.Nodes)
        Assert.Equal((Some 20, Some 0.0f, Some -1.5f, None, 5, true, false), (g.Iterations, g.DensityWeight, g.InitShift, g.BnWeight, g.Seeds, g.Resume, g.Released))
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "gfkd"; "--dataset"; "PROTEINS"; "--method"; "randg"; "--nodes"; "real"; "--out"; "o" |]).Command with
    | RunGfkd g -> Assert.Equal((Some RealCounts, [ "GCN3_32" ], "GCN5_64", None), (g.Nodes, g.Students, g.TeacherModel, g.BnPrior))
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "gfkd"; "--dataset"; "MUTAG"; "--method"; "gfkd-arm"; "--bn-prior"; "Raw"; "--out"; "o" |]).Command with
    | RunGfkd g -> Assert.Equal(Some BnPriorForm.Raw, g.BnPrior)
    | other -> failwithf "unexpected %A" other
    match (Cli.parse [| "gfkd"; "--dataset"; "MUTAG"; "--method"; "gfkd-arm"; "--bn-credit"; "Per-Graph"; "--features"; "softmax"; "--input-weight"; "2"; "--out"; "o" |]).Command with
    | RunGfkd g -> Assert.Equal((Some BnCredit.PerGraph, Some FeatureRelaxation.Softmax, Some 2.0f), (g.BnCredit, g.Features, g.InputWeight))
    | other -> failwithf "unexpected %A" other

[<Fact>]
let ``gfkd names the expected values of every bad option`` () =
    let run extra = usageError (Array.append [| "gfkd"; "--dataset"; "MUTAG"; "--out"; "o" |] extra)
    Assert.Contains("--method must be one of randg, deepinvg, gfkd-arm, gfkd-reinforce, gfkd-multinomial, gfkd-features, kd-real, student-real; got 'gfkd-x'", run [| "--method"; "gfkd-x" |])
    Assert.Contains("--student must be one of GCN3_32, GIN3_32; got 'GCN5_64'", run [| "--method"; "randg"; "--student"; "GCN5_64" |])
    Assert.Contains("--teacher-model must be one of GCN5_64, GIN5_64; got 'gat'", run [| "--method"; "randg"; "--teacher-model"; "gat" |])
    Assert.Contains("--nodes must be 'real' or a range LO-HI with 1 <= LO <= HI, e.g. 10-29; got '29-10'", run [| "--method"; "randg"; "--nodes"; "29-10" |])
    Assert.Contains("--density-weight must be a finite number >= 0, got -1", run [| "--method"; "randg"; "--density-weight"; "-1" |])
    Assert.Contains("--iterations must be a positive integer, got 0", run [| "--method"; "randg"; "--iterations"; "0" |])
    Assert.Contains("--bn-prior must be raw or standardized; got 'l2'", run [| "--method"; "randg"; "--bn-prior"; "l2" |])
    Assert.Contains("--bn-credit must be batch or per-graph; got 'node'", run [| "--method"; "randg"; "--bn-credit"; "node" |])
    Assert.Contains("--features must be softmax or straight-through; got 'gumbel'", run [| "--method"; "randg"; "--features"; "gumbel" |])
    Assert.Contains("--input-weight must be a finite number >= 0, got -1", run [| "--method"; "randg"; "--input-weight"; "-1" |])
    Assert.Contains("reproduce: unknown table 'gfkdx' (known: teachers, lsp, gfkd, evolution)", usageError [| "reproduce"; "gfkdx" |])

[<Fact>]
let ``evolve options parse into a typed command, the fitness form from its flags`` () =
    match (Cli.parse [| "evolve"; "--generations"; "7"; "--fitness"; "inverse-loss"; "--lambda-units"; "0.01"; "--kd"; "4"; "--out"; "o" |]).Command with
    | RunEvolve e ->
        Assert.Equal(("lenet", Some 7, None, Some 4.0f), (e.Model, e.Generations, e.Population, e.KdTemperature))
        Assert.Equal(Some (GcnKd.Evolution.InverseLoss(1.0, 0.01)), e.Form)
    | other -> failwithf "expected RunEvolve, got %A" other
    match (Cli.parse [| "evolve"; "--lambda-params"; "0"; "--out"; "o" |]).Command with
    | RunEvolve e -> Assert.Equal(Some (GcnKd.Evolution.AccuracyCost(0.2, 0.0)), e.Form)
    | other -> failwithf "expected RunEvolve, got %A" other
    match (Cli.parse [| "evolve"; "--out"; "o" |]).Command with
    | RunEvolve e -> Assert.Equal(None, e.Form)
    | other -> failwithf "expected RunEvolve, got %A" other

[<Fact>]
let ``evolve names the expected values of every bad option`` () =
    let run extra = usageError (Array.append [| "evolve"; "--out"; "o" |] extra)
    Assert.Contains("--model must be lenet (LeNet-5 on MNIST), gin (GIN5_64) or gat (GAT); got 'vgg'", run [| "--model"; "vgg" |])
    Assert.Contains("--dataset and --fold apply to --model gin or gat", run [| "--dataset"; "MUTAG" |])
    Assert.Contains("--lsp applies to --model gat", run [| "--lsp" |])
    Assert.Contains("--lsp and --kd exclude each other", run [| "--model"; "gat"; "--lsp"; "--kd"; "2" |])
    Assert.Contains("--fold, --subset and --train-size apply to --model lenet or gin", run [| "--model"; "gat"; "--fold"; "2" |])
    Assert.Contains("--fold, --subset and --train-size apply to --model lenet or gin", run [| "--model"; "gat"; "--subset"; "20" |])
    Assert.Contains("--fold must lie in 1..10, got 11", run [| "--model"; "gin"; "--fold"; "11" |])
    Assert.Contains("--fitness must be accuracy or inverse-loss; got 'loss'", run [| "--fitness"; "loss" |])
    Assert.Contains("--lambda-units applies to --fitness inverse-loss", run [| "--lambda-units"; "1" |])
    Assert.Contains("--lambda-flops and --lambda-params apply to --fitness accuracy", run [| "--fitness"; "inverse-loss"; "--lambda-flops"; "1" |])
    Assert.Contains("--lambda-flops must be a finite number >= 0, got -1", run [| "--lambda-flops"; "-1" |])
    Assert.Contains("--population must be at least 2, got 1", run [| "--population"; "1" |])
    Assert.Contains("--kd must be a positive temperature, got 0", run [| "--kd"; "0" |])
    Assert.Contains("--generations must be a positive integer, got 0", run [| "--generations"; "0" |])

// ---------------------------------------------------------------- config files

let private withFile (files: (string * string) list) =
    fun (path: string) -> match List.tryFind (fst >> (=) path) files with Some (_, t) -> Ok t | None -> Error (sprintf "config %s: cannot be read" path)

[<Fact>]
let ``a config file gives a command's options; the command line overrides them and replaces repeated lists`` () =
    let cfg = """{ "command": "gfkd", "dataset": "MUTAG", "method": "gfkd-arm", "student": ["GCN3_32", "GIN3_32"], "seeds": 5, "resume": true, "released": false, "out": "runs/x" }"""
    let read = withFile [ "exp.json", cfg ]
    match (CliConfig.parse read [| "--config"; "exp.json" |]).Command with
    | Command.RunGfkd g ->
        Assert.Equal(("MUTAG", "gfkd-arm", 5, true, false, "runs/x"), (g.Dataset, g.Method, g.Seeds, g.Resume, g.Released, g.Out))
        Assert.Equal<string list>([ "GCN3_32"; "GIN3_32" ], g.Students)
    | c -> failwithf "unexpected %A" c
    match (CliConfig.parse read [| "-t"; "1"; "gfkd"; "--config"; "exp.json"; "--seeds"; "2"; "--student"; "GIN3_32" |]) with
    | { Threads = Some 1; Command = Command.RunGfkd g } ->
        Assert.Equal((2, "MUTAG"), (g.Seeds, g.Dataset))
        Assert.Equal<string list>([ "GIN3_32" ], g.Students)
    | p -> failwithf "unexpected %A" p
    // without a config, parsing is unchanged
    Assert.Equal(Cli.parse [| "quickstart" |], CliConfig.parse read [| "quickstart" |])

[<Fact>]
let ``config mistakes name the file and what was expected`` () =
    let err files argv =
        match (CliConfig.parse (withFile files) argv).Command with
        | Usage(text, true) -> text
        | c -> failwithf "expected a usage error, got %A" c
    let contains (frag: string) (text: string) = Assert.True(text.Contains frag, sprintf "expected '%s' in: %s" frag text)
    err [] [| "--config"; "missing.json" |] |> contains "config missing.json: cannot be read"
    err [ "a.json", "{ not json" ] [| "--config"; "a.json" |] |> contains "config a.json: not valid JSON"
    err [ "a.json", "[1, 2]" ] [| "--config"; "a.json" |] |> contains "expected a JSON object"
    err [ "a.json", """{ "dataset": { "x": 1 } }""" ] [| "train"; "--config"; "a.json" |] |> contains "option \"dataset\""
    err [ "a.json", """{ "--dataset": "MUTAG" }""" ] [| "train"; "--config"; "a.json" |] |> contains "without dashes"
    err [ "a.json", """{ "command": "gfkd" }""" ] [| "train"; "--config"; "a.json" |] |> contains "the config is for \"gfkd\""
    err [ "a.json", """{ "dataset": "MUTAG" }""" ] [| "--config"; "a.json" |] |> contains "names no \"command\""
    err [] [| "train"; "--config" |] |> contains "--config needs a file name"
    err [ "a.json", "{}" ] [| "--config"; "a.json"; "--config"; "a.json" |] |> contains "more than once"
    // an option the command does not have is refused by the schema
    err [ "a.json", """{ "command": "quickstart", "epochs": 3 }""" ] [| "--config"; "a.json" |] |> contains "--epochs"
