/// Typed commands: a parse of the command-line schema (CliSchema) as options records. Parsing is pure: string[] in,
/// a typed command (or a usage message) out; the C# host dispatches on the result.
module GcnKd.Cli

open Argu
open GcnKd.CliSchema

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
      /// Keep the seeds / folds an earlier run into Out finished (`--resume`).
      Resume: bool
      Data: string option; Out: string }

type DistillCliOptions =
    { Dataset: string; Method: string; Kernel: string; Lambda: float32; DistillEpochs: int option
      Seed: int; Seeds: int; Epochs: int option; Teacher: string option
      /// Point clouds only (MNIST-points, ModelNet40): points per cloud and the training subset size.
      Points: int option; TrainSize: int option
      /// Keep the teacher and the student seeds an earlier run into Out finished (`--resume`).
      Resume: bool
      Data: string option; Out: string }

/// Where a fake graph's node count comes from (`--nodes`).
type NodeCounts =
    /// Resample the real training graphs' node counts.
    | RealCounts
    | CountRange of lo: int * hi: int

type GfkdCliOptions =
    { Dataset: string; Method: string; TeacherModel: string; Students: string list; Teacher: string option
      Seed: int; Seeds: int; Iterations: int option; Epochs: int option; TeacherEpochs: int option
      Nodes: NodeCounts option
      DensityWeight: float32 option; BnWeight: float32 option; BnPrior: BnPriorForm option
      BnCredit: BnCredit option; InputWeight: float32 option; Features: FeatureRelaxation option; InitShift: float32 option
      Released: bool; Resume: bool; Data: string option; Out: string }

type EvolveCliOptions =
    { Model: string; Dataset: string option; Fold: int option; Seed: int; Seeds: int; Generations: int option; Population: int option; Subset: int option
      Form: GcnKd.Evolution.FitnessForm option; Epochs: int option; FineTuneEpochs: int option; KdTemperature: float32 option; Lsp: bool
      Teacher: string option; TrainSize: int option; Resume: bool; Data: string option; Out: string }

/// Which graphs `eval` scores on a graph-classification dataset.
type EvalParts =
    | AllGraphs
    | StandardFold of k: int
    | HoldOutParts of trainFraction: float * seed: int
    | GfkdParts

type EvalOptions =
    { Checkpoint: string; Dataset: string option; Model: string option; Parts: EvalParts; ValFraction: float option; Data: string option }

type QuickstartOptions = { Dataset: string; Data: string option; Out: string }

type ReproduceOptions = { Table: string; Quick: bool; Resume: bool; Only: string list; Data: string option; Out: string }

/// `gcnkd report DIR`.
type ReportOptions = { Dir: string }

type ExportOptions = { Checkpoint: string; Format: string; Out: string }
/// `data check`: canonical dataset names (empty: every dataset present).
type DataCheckOptions = { Names: string list; Data: string option }

/// `data fetch`: the canonical dataset name, an optional server base replacing the official one, an optional
/// expected SHA-256 (lower-case hex) replacing the recorded one.
type DataFetchOptions = { Name: string; Url: string option; Sha256: string option; Data: string option }

type Command =
    | RunQuickstart of QuickstartOptions
    | RunEval of EvalOptions
    | RunBench of BenchOptions
    | RunTrain of TrainOptions
    | RunDistill of DistillCliOptions
    | RunGfkd of GfkdCliOptions
    | RunEvolve of EvolveCliOptions
    | RunReproduce of ReproduceOptions
    | RunReport of ReportOptions
    | RunExport of ExportOptions
    | RunDataList of data: string option
    | RunDataCheck of DataCheckOptions
    | RunDataFetch of DataFetchOptions
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
            | Eval v ->
                let chosen = [ v.Contains EvalArgs.Fold; v.Contains EvalArgs.Split; v.Contains Gfkd_Split ] |> List.filter id |> List.length
                if chosen > 1 then raise (InvalidValue "eval: --fold, --split and --gfkd-split exclude each other")
                if v.Contains EvalArgs.Split_Seed && not (v.Contains EvalArgs.Split) then raise (InvalidValue "eval: --split-seed needs --split")
                let parts =
                    match v.TryGetResult EvalArgs.Fold, v.TryGetResult EvalArgs.Split with
                    | Some k, _ when k < 1 || k > 10 -> raise (InvalidValue(sprintf "--fold must lie in 1..10 (the standard folds), got %d" k))
                    | Some k, _ -> StandardFold k
                    | _, Some ratio ->
                        match ratio.Split('/') |> Array.map System.Int32.TryParse with
                        | [| (true, a); (true, b) |] when a > 0 && b > 0 -> HoldOutParts(float a / float (a + b), v.GetResult(EvalArgs.Split_Seed, defaultValue = 29))
                        | _ -> raise (InvalidValue(sprintf "--split must look like 70/30, got '%s'" ratio))
                    | _ -> if v.Contains Gfkd_Split then GfkdParts else AllGraphs
                let valFraction = v.TryGetResult EvalArgs.Val_Fraction
                match valFraction with
                | Some f when not (f > 0.0 && f < 1.0) -> raise (InvalidValue(sprintf "--val-fraction must lie strictly between 0 and 1, got %g" f))
                | _ -> ()
                RunEval { Checkpoint = v.GetResult EvalArgs.Checkpoint; Dataset = v.TryGetResult EvalArgs.Dataset; Model = v.TryGetResult EvalArgs.Model
                          Parts = parts; ValFraction = valFraction; Data = v.TryGetResult EvalArgs.Data }
            | Quickstart q ->
                RunQuickstart { Dataset = q.GetResult(QuickstartArgs.Dataset, defaultValue = "MUTAG"); Data = q.TryGetResult QuickstartArgs.Data
                                Out = q.GetResult(QuickstartArgs.Out, defaultValue = "runs/quickstart") }
            | Bench b ->
                let runs = b.GetResult(Runs, defaultValue = 10) |> positive "--runs"
                if runs < 5 then raise (InvalidValue(sprintf "--runs must be at least 5 (a median needs them), got %d" runs))
                RunBench { Json = b.TryGetResult Json; Cases = b.GetResults Case; Runs = runs; List = b.Contains BenchArgs.List; Data = b.TryGetResult BenchArgs.Data }
            | Train t ->
                if t.Contains Folds && t.Contains TrainArgs.Split then raise (InvalidValue "--folds and --split exclude each other")
                let protocol =
                    match t.TryGetResult TrainArgs.Split with
                    | Some ratio ->
                        match ratio.Split('/') |> Array.map System.Int32.TryParse with
                        | [| (true, a); (true, b) |] when a > 0 && b > 0 -> HoldOut(float a / float (a + b), t.GetResult(TrainArgs.Split_Seed, defaultValue = 29))
                        | _ -> raise (InvalidValue(sprintf "--split must look like 70/30, got '%s'" ratio))
                    | None -> KFold(t.GetResult(Folds, defaultValue = 10) |> positive "--folds")
                match protocol with
                | KFold k when k < 2 -> raise (InvalidValue(sprintf "--folds must be at least 2, got %d" k))
                | _ -> ()
                RunTrain { Dataset = t.GetResult TrainArgs.Dataset; Model = t.GetResult TrainArgs.Model; Protocol = protocol
                           Seed = t.GetResult(TrainArgs.Seed, defaultValue = 0); Seeds = t.GetResult(TrainArgs.Seeds, defaultValue = 1) |> positive "--seeds"
                           Epochs = t.TryGetResult TrainArgs.Epochs |> Option.map (positive "--epochs")
                           Points = t.TryGetResult TrainArgs.Points |> Option.map (positive "--points")
                           TrainSize = t.TryGetResult TrainArgs.Train_Size |> Option.map (positive "--train-size")
                           ValFraction =
                               t.TryGetResult TrainArgs.Val_Fraction
                               |> Option.map (fun f ->
                                   if f > 0.0 && f < 0.5 then f
                                   else raise (InvalidValue(sprintf "--val-fraction must lie strictly between 0 and 0.5, got %g" f)))
                           Dropout =
                               t.TryGetResult Dropout
                               |> Option.map (fun p ->
                                   if p >= 0.0 && p < 1.0 then p
                                   else raise (InvalidValue(sprintf "--dropout must lie in [0, 1), got %g" p)))
                           Resume = t.Contains TrainArgs.Resume
                           Data = t.TryGetResult TrainArgs.Data
                           Out = t.GetResult TrainArgs.Out }
            | Distill d ->
                let m = d.GetResult DistillArgs.Method
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
                             Teacher = d.TryGetResult DistillArgs.Teacher
                             Points = d.TryGetResult DistillArgs.Points |> Option.map (positive "--points")
                             TrainSize = d.TryGetResult DistillArgs.Train_Size |> Option.map (positive "--train-size")
                             Resume = d.Contains DistillArgs.Resume
                             Data = d.TryGetResult DistillArgs.Data; Out = d.GetResult DistillArgs.Out }
            | Gfkd g ->
                let m = g.GetResult GfkdArgs.Method
                let known = GcnKd.Train.GfkdRegistry.methodNames
                if not (List.contains (m.ToLowerInvariant()) known) then
                    raise (InvalidValue(sprintf "--method must be one of %s; got '%s'" (String.concat ", " known) m))
                let model (flag: string) (allowed: string list) (name: string) =
                    match allowed |> List.tryFind (fun a -> System.String.Equals(a, name, System.StringComparison.OrdinalIgnoreCase)) with
                    | Some a -> a
                    | None -> raise (InvalidValue(sprintf "%s must be one of %s; got '%s'" flag (String.concat ", " allowed) name))
                let students = g.GetResults Student |> List.map (model "--student" [ "GCN3_32"; "GIN3_32" ]) |> List.distinct
                let weight (flag: string) (v: float) =
                    if v >= 0.0 && not (System.Double.IsInfinity v) then float32 v
                    else raise (InvalidValue(sprintf "%s must be a finite number >= 0, got %g" flag v))
                /// One of a few named values, case-insensitive.
                let pick (flag: string) (named: (string * 'T) list) (text: string) : 'T =
                    match named |> List.tryFind (fun (n, _) -> n = text.Trim().ToLowerInvariant()) with
                    | Some(_, v) -> v
                    | None -> raise (InvalidValue(sprintf "%s must be %s; got '%s'" flag (named |> List.map fst |> String.concat " or ") text))
                let nodes =
                    g.TryGetResult Nodes
                    |> Option.map (fun (text: string) ->
                        if text.Trim().ToLowerInvariant() = "real" then RealCounts
                        else
                            match text.Split('-') |> Array.map System.Int32.TryParse with
                            | [| (true, lo); (true, hi) |] when lo >= 1 && hi >= lo -> CountRange(lo, hi)
                            | _ -> raise (InvalidValue(sprintf "--nodes must be 'real' or a range LO-HI with 1 <= LO <= HI, e.g. 10-29; got '%s'" text)))
                RunGfkd { Dataset = g.GetResult GfkdArgs.Dataset; Method = m.ToLowerInvariant()
                          TeacherModel = g.GetResult(Teacher_Model, defaultValue = "GCN5_64") |> model "--teacher-model" [ "GCN5_64"; "GIN5_64" ]
                          Students = (if students.IsEmpty then [ "GCN3_32" ] else students)
                          Teacher = g.TryGetResult GfkdArgs.Teacher
                          Seed = g.GetResult(GfkdArgs.Seed, defaultValue = 0)
                          Seeds = g.GetResult(GfkdArgs.Seeds, defaultValue = 1) |> positive "--seeds"
                          Iterations = g.TryGetResult Iterations |> Option.map (positive "--iterations")
                          Epochs = g.TryGetResult GfkdArgs.Epochs |> Option.map (positive "--epochs")
                          TeacherEpochs = g.TryGetResult Teacher_Epochs |> Option.map (positive "--teacher-epochs")
                          Nodes = nodes
                          DensityWeight = g.TryGetResult Density_Weight |> Option.map (weight "--density-weight")
                          BnWeight = g.TryGetResult Bn_Weight |> Option.map (weight "--bn-weight")
                          BnPrior = g.TryGetResult Bn_Prior |> Option.map (pick "--bn-prior" [ "raw", BnPriorForm.Raw; "standardized", BnPriorForm.Standardized ])
                          BnCredit = g.TryGetResult Bn_Credit |> Option.map (pick "--bn-credit" [ "batch", BnCredit.Batch; "per-graph", BnCredit.PerGraph ])
                          InputWeight = g.TryGetResult Input_Weight |> Option.map (weight "--input-weight")
                          Features =
                              g.TryGetResult GfkdArgs.Features
                              |> Option.map (pick "--features" [ "softmax", FeatureRelaxation.Softmax; "straight-through", FeatureRelaxation.StraightThrough ])
                          InitShift =
                              g.TryGetResult Init_Shift
                              |> Option.map (fun v -> if System.Double.IsFinite v then float32 v else raise (InvalidValue(sprintf "--init-shift must be a finite number, got %g" v)))
                          Released = g.Contains Released; Resume = g.Contains GfkdArgs.Resume
                          Data = g.TryGetResult GfkdArgs.Data; Out = g.GetResult GfkdArgs.Out }
            | Evolve e ->
                let model = e.GetResult(EvolveArgs.Model, defaultValue = "lenet").ToLowerInvariant()
                if not (List.contains model [ "lenet"; "gin"; "gat" ]) then raise (InvalidValue(sprintf "--model must be lenet (LeNet-5 on MNIST), gin (GIN5_64) or gat (GAT); got '%s'" model))
                if model <> "gat" && e.Contains Lsp then raise (InvalidValue "--lsp applies to --model gat")
                if e.Contains Lsp && e.Contains EvolveArgs.Kd then raise (InvalidValue "--lsp and --kd exclude each other")
                if model = "gat" && (e.Contains EvolveArgs.Fold || e.Contains Subset || e.Contains EvolveArgs.Train_Size) then
                    raise (InvalidValue "--fold, --subset and --train-size apply to --model lenet or gin (GAT uses the fixed Planetoid split and its training nodes)")
                if model = "lenet" && (e.Contains EvolveArgs.Dataset || e.Contains EvolveArgs.Fold) then raise (InvalidValue "--dataset and --fold apply to --model gin or gat (LeNet runs on MNIST)")
                let fold = e.TryGetResult EvolveArgs.Fold |> Option.map (fun k -> if k >= 1 && k <= 10 then k else raise (InvalidValue(sprintf "--fold must lie in 1..10, got %d" k)))
                let weight (flag: string) (v: float) =
                    if v >= 0.0 && not (System.Double.IsInfinity v) then v
                    else raise (InvalidValue(sprintf "%s must be a finite number >= 0, got %g" flag v))
                let fitness = e.TryGetResult EvolveArgs.Fitness |> Option.map (fun f -> f.Trim().ToLowerInvariant())
                let form =
                    match fitness with
                    | None | Some "accuracy" ->
                        if e.Contains Lambda_Units then raise (InvalidValue "--lambda-units applies to --fitness inverse-loss")
                        if fitness.IsNone && not (e.Contains Lambda_Flops || e.Contains Lambda_Params) then None
                        else
                            let d = GcnKd.Train.LeNetEvolution.defaults.Form
                            let df, dp = match d with GcnKd.Evolution.AccuracyCost(f, p) -> f, p | _ -> 0.2, 0.2
                            Some (GcnKd.Evolution.AccuracyCost(e.GetResult(Lambda_Flops, defaultValue = df) |> weight "--lambda-flops",
                                                               e.GetResult(Lambda_Params, defaultValue = dp) |> weight "--lambda-params"))
                    | Some "inverse-loss" ->
                        if e.Contains Lambda_Flops || e.Contains Lambda_Params then raise (InvalidValue "--lambda-flops and --lambda-params apply to --fitness accuracy")
                        Some (GcnKd.Evolution.InverseLoss(1.0, e.GetResult(Lambda_Units, defaultValue = 0.001) |> weight "--lambda-units"))
                    | Some f -> raise (InvalidValue(sprintf "--fitness must be accuracy or inverse-loss; got '%s'" f))
                let population = e.TryGetResult Population |> Option.map (positive "--population")
                match population with
                | Some p when p < 2 -> raise (InvalidValue(sprintf "--population must be at least 2, got %d" p))
                | _ -> ()
                RunEvolve { Model = model; Dataset = e.TryGetResult EvolveArgs.Dataset; Fold = fold; Seed = e.GetResult(EvolveArgs.Seed, defaultValue = 0)
                            Seeds = e.GetResult(EvolveArgs.Seeds, defaultValue = 1) |> positive "--seeds"
                            Generations = e.TryGetResult Generations |> Option.map (positive "--generations")
                            Population = population
                            Subset = e.TryGetResult Subset |> Option.map (positive "--subset")
                            Form = form
                            Epochs = e.TryGetResult EvolveArgs.Epochs |> Option.map (positive "--epochs")
                            FineTuneEpochs = e.TryGetResult Fine_Tune_Epochs |> Option.map (positive "--fine-tune-epochs")
                            KdTemperature =
                                e.TryGetResult EvolveArgs.Kd
                                |> Option.map (fun t -> if t > 0.0 && System.Double.IsFinite t then float32 t else raise (InvalidValue(sprintf "--kd must be a positive temperature, got %g" t)))
                            Lsp = e.Contains Lsp
                            Teacher = e.TryGetResult EvolveArgs.Teacher
                            TrainSize = e.TryGetResult EvolveArgs.Train_Size |> Option.map (positive "--train-size")
                            Resume = e.Contains EvolveArgs.Resume
                            Data = e.TryGetResult EvolveArgs.Data; Out = e.GetResult EvolveArgs.Out }
            | Reproduce r ->
                let table = r.GetResult Table
                if not (List.contains table [ "teachers"; "lsp"; "gfkd"; "evolution" ]) then raise (InvalidValue(sprintf "reproduce: unknown table '%s' (known: teachers, lsp, gfkd, evolution)" table))
                let only = r.GetResults Only
                if not only.IsEmpty && table <> "gfkd" then raise (InvalidValue(sprintf "--only applies to reproduce gfkd, not %s" table))
                RunReproduce { Table = table; Quick = r.Contains Quick; Resume = r.Contains ReproduceArgs.Resume; Only = only; Data = r.TryGetResult ReproduceArgs.Data
                               Out = r.GetResult(ReproduceArgs.Out, defaultValue = "experiments/results") }
            | Report r ->
                let dir = r.GetResult Dir
                if System.String.IsNullOrWhiteSpace dir then raise (InvalidValue "report: the run directory must not be empty")
                RunReport { Dir = dir }
            | Export x ->
                let format = x.GetResult Format
                if not (List.contains (format.Trim().ToLowerInvariant()) exportFormats) then
                    raise (InvalidValue(sprintf "--format must be one of %s; got '%s'" (String.concat ", " exportFormats) format))
                RunExport { Checkpoint = x.GetResult Checkpoint; Format = format.Trim().ToLowerInvariant(); Out = x.GetResult ExportArgs.Out }
            | Data d ->
                let canonical (name: string) =
                    match DatasetSources.tryFind name with
                    | Some ds -> ds.Name
                    | None -> raise (InvalidValue(DatasetSources.unknownMessage name))
                match d.GetSubCommand() with
                | List l -> RunDataList(l.TryGetResult DataListArgs.Data)
                | Check c ->
                    RunDataCheck { Names = c.GetResult(Names, defaultValue = []) |> List.map canonical |> List.distinct; Data = c.TryGetResult DataCheckArgs.Data }
                | Fetch f ->
                    let url =
                        f.TryGetResult Url
                        |> Option.map (fun u ->
                            match System.Uri.TryCreate(u, System.UriKind.Absolute) with
                            | true, uri when uri.Scheme = "http" || uri.Scheme = "https" -> u
                            | _ -> raise (InvalidValue(sprintf "--url must be an http(s) URL such as http://localhost:8000/data, got '%s'" u)))
                    let sha =
                        f.TryGetResult Sha256
                        |> Option.map (fun h ->
                            if h.Length = 64 && h |> Seq.forall System.Uri.IsHexDigit then h.ToLowerInvariant()
                            else raise (InvalidValue(sprintf "--sha256 must be 64 hexadecimal digits, got '%s'" h)))
                    RunDataFetch { Name = canonical (f.GetResult Name); Url = url; Sha256 = sha; Data = f.TryGetResult DataFetchArgs.Data }
            | Threads _ -> Usage(parser.PrintUsage(), true)
        { Threads = threads; Command = command }
    with
    | :? ArguParseException as e -> { Threads = None; Command = Usage(e.Message, e.ErrorCode <> ErrorCode.HelpText) }
    | InvalidValue msg -> { Threads = None; Command = Usage("error: " + msg, true) }
