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
    | Resume
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "dataset: Cora, CiteSeer, PubMed, MUTAG, PTC_MR, PROTEINS, IMDB-BINARY, PPI, MNIST-points, ModelNet40."
            | Model _ -> "model: gcn, gat, sage, mlp, gin, GCN5_64, GIN5_64, GCN3_32, GIN3_32, dgcnn (MNIST-points, ModelNet40), gat and gat-student (PPI)."
            | Folds _ -> "graph classification: k-fold cross-validation on the standard folds (default 10)."
            | Split _ -> "graph classification: one train/test split instead of folds, e.g. 70/30 (GFKD protocol)."
            | Split_Seed _ -> "seed of the --split shuffle (default 29, as the GFKD code)."
            | Seed _ -> "seed of the run (initialisation, dropout, batching); default 0."
            | Seeds _ -> "repeat over this many seeds (seed, seed+1, ...): node classification reruns the split, graph classification the whole cross-validation; default 1."
            | Epochs _ -> "override the preset's number of epochs (a smoke run)."
            | Points _ -> "point clouds: points sampled per MNIST digit (default 128) or per ModelNet40 shape (default 1024)."
            | Train_Size _ -> "point clouds: train on a stratified, seeded subset of this many training clouds (default: all)."
            | Dropout _ -> "graph classification: dropout on the logits (default 0.5; Xu et al. tune it in {0, 0.5})."
            | Val_Fraction _ -> "graph classification: the stratified fraction of each training part held out to select the epoch (default 0.1)."
            | TrainArgs.Resume -> "continue an interrupted run: keep every seed / fold whose folder holds its metrics.json and checkpoint, train the rest (the other options must match the run's config.json)."
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
    | Resume
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "dataset: Cora, CiteSeer or PubMed (transductive node classification), PPI (the LSP paper's setting: its GAT teacher and student), or MNIST-points / ModelNet40 (DGCNN teacher, thin DGCNN student; methods none, kd, lsp)."
            | Method _ -> "none (the student alone), kd (Hinton, T 4, alpha 0.5), fitnet, at (attention transfer) or lsp."
            | Kernel _ -> "LSP's score function: rbf (default, sigma 1), rbf-auto (sigma^2 = each side's mean squared edge distance), linear, poly (c 0, d 2), sqdist or l1exp (the released code's, tau 100)."
            | Lambda _ -> "weight of the FitNet / AT / LSP term (default 1, the LSP code's --loss-weight)."
            | Distill_Epochs _ -> "apply the FitNet / AT / LSP term for the first K epochs only; default: every epoch on node datasets, the first 30 on PPI (the LSP code's --tofull 30)."
            | Seed _ -> "first student seed (default 0); the teacher is trained with seed 0."
            | Seeds _ -> "students over this many seeds (seed, seed+1, ...); default 1."
            | Epochs _ -> "override the epochs of the teacher and the students (a smoke run)."
            | Points _ -> "point clouds: points sampled per MNIST digit (default 128) or per ModelNet40 shape (default 1024)."
            | Train_Size _ -> "point clouds: train on a stratified, seeded subset of this many training clouds (default: all)."
            | Teacher _ -> "reuse a teacher checkpoint (model.safetensors of a previous distill run's teacher/) instead of training one."
            | DistillArgs.Resume -> "continue an interrupted run: load the teacher and keep every student seed whose folder holds its metrics.json and checkpoint, train the rest (the other options must match the run's config.json)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory: teacher/ and one directory per student seed."

type GfkdArgs =
    | [<Mandatory>] Dataset of name: string
    | [<Mandatory>] Method of name: string
    | Teacher_Model of name: string
    | Student of name: string
    | Teacher of checkpoint: string
    | Seed of seed: int
    | Seeds of count: int
    | Iterations of count: int
    | Epochs of count: int
    | Teacher_Epochs of count: int
    | Nodes of range: string
    | Density_Weight of weight: float
    | Bn_Weight of weight: float
    | Bn_Prior of form: string
    | Init_Shift of shift: float
    | Released
    | Resume
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "graph classification dataset: MUTAG, PTC_MR, PROTEINS or IMDB-BINARY (GIN text version; 70 % split for the teacher, the 30 % for evaluation only)."
            | Method _ -> "randg, deepinvg, gfkd-arm, gfkd-reinforce (K 4, mean baseline), gfkd-multinomial (degree budget 1), kd-real (KD on the real 70 %) or student-real (labels of the real 70 %)."
            | Teacher_Model _ -> "teacher: GCN5_64 (default) or GIN5_64, trained on the 70 % split with seed 0."
            | Student _ -> "student: GCN3_32 (default) or GIN3_32; repeatable, every student learns from the same transfer graphs."
            | Teacher _ -> "reuse a teacher checkpoint (model.safetensors of a previous gfkd run's teacher/) instead of training one."
            | Seed _ -> "first seed (default 0): fake graphs and students; the split and the teacher always use seed 0."
            | Seeds _ -> "repeat over this many seeds (seed, seed+1, ...); default 1."
            | Iterations _ -> "generation iterations (default 1500, as released)."
            | Epochs _ -> "student epochs (default 300, as released)."
            | Teacher_Epochs _ -> "override the teacher's epochs (a smoke run)."
            | Nodes _ -> "fake graphs' node counts: a range such as 10-29 (the released MUTAG script), or 'real' (default) to resample the real 70 %'s node counts."
            | Density_Weight _ -> "weight of the edge-density prior (default 5; target: the real 70 %'s mean density; 0 turns it off, as released)."
            | Bn_Weight _ -> "weight of the batch-norm prior (default 0.01, as released)."
            | Bn_Prior _ -> "form of the batch-norm prior: standardized (default; distances in units of the running statistics) or raw (as released)."
            | Init_Shift _ -> "added to the initial structure logits (default logit of the real 70 %'s density, a start at that density; released 0)."
            | Released -> "the released settings: no density prior, no shift, the raw batch-norm prior, node counts 10-29 (the other options still override)."
            | Resume -> "continue: keep finished seeds (their metrics.json) and resume generation from a seed's last fitting checkpoint."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory: teacher/ and one directory per seed (fake graphs, fitting log and checkpoint, students)."

type EvolveArgs =
    | Model of name: string
    | Dataset of name: string
    | Fold of index: int
    | Seed of seed: int
    | Seeds of count: int
    | Generations of count: int
    | Population of count: int
    | Subset of count: int
    | Fitness of form: string
    | Lambda_Flops of weight: float
    | Lambda_Params of weight: float
    | Lambda_Units of weight: float
    | Epochs of count: int
    | Fine_Tune_Epochs of count: int
    | Kd of temperature: float
    | Lsp
    | Teacher of checkpoint: string
    | Train_Size of count: int
    | Resume
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "the network to compress: lenet (LeNet-5 on MNIST, the default), gin (GIN5_64 on a graph classification dataset: hidden channels) or gat (the paper's GAT on a Planetoid dataset: heads and channels)."
            | Dataset _ -> "gin: the graph classification dataset (default PROTEINS); gat: Cora (default) or CiteSeer."
            | Fold _ -> "gin: which of the standard 10 folds is the test part (1-10, default 1); a 10 % validation part is carved from the rest."
            | Seed _ -> "first seed (default 0): the GA, its fitness subset, the random-mask baseline and fine-tuning; the full network always uses seed 0."
            | Seeds _ -> "repeat the search and fine-tuning over this many seeds; default 1."
            | Generations _ -> "GA generations (default 50, as released)."
            | Population _ -> "GA population (default 32, as released)."
            | Subset _ -> "training images (lenet, default 2000) or graphs (gin, default 300) the fitness is measured on; gat uses the training nodes."
            | Fitness _ -> "accuracy (default: subset accuracy - lambda-flops * FLOPs ratio - lambda-params * parameter ratio) or inverse-loss (1 / subset loss + lambda-units * removed units)."
            | Lambda_Flops _ -> "accuracy fitness: weight of the FLOPs ratio (default 0.2)."
            | Lambda_Params _ -> "accuracy fitness: weight of the parameter ratio (default 0.2; 0 is the method's accuracy-FLOPs form)."
            | Lambda_Units _ -> "inverse-loss fitness: reward per removed unit (default 0.001, as released)."
            | Epochs _ -> "epochs of the full network's training (default: lenet 15, gin 350, gat 1000 with patience 100)."
            | Fine_Tune_Epochs _ -> "epochs of every thin network's fine-tuning (default: lenet 10, gin 100, gat 300 with patience 100)."
            | Kd _ -> "fine-tune with KD from the full network at this temperature (alpha 0.5); default: lenet labels only, gin and gat T = 4."
            | Lsp -> "gat: fine-tune with LSP from the full network (rbf-auto, lambda 1, the hidden layers) instead of KD."
            | Teacher _ -> "reuse a trained full network (model.safetensors of a previous evolve run's full/) instead of training one."
            | Train_Size _ -> "a smoke run on the first N training items: lenet images (validation shrinks to N/10), gin graphs."
            | Resume -> "keep the full network and every seed already finished (their metrics.json) in the run directory."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory: full/ (the trained network), one seed-S/ per seed (GA log and plot, mask, ga/ l1/ random/ thin networks), config.json, metrics.json."

type ReproduceArgs =
    | [<MainCommand; Mandatory>] Table of name: string
    | Quick
    | Resume
    | Only of dataset: string
    | Data of dir: string
    | Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Table _ -> "which table: teachers, lsp, gfkd or evolution."
            | Quick -> "a smoke version: few epochs, one fold or seed (what CI runs)."
            | Resume -> "keep every row whose run directory already holds its final metrics.json with all its seeds, and within an unfinished row every finished seed, fold or teacher (an interrupted reproduction continues where it stopped)."
            | Only _ -> "gfkd: run only this dataset's rows (repeatable); the table still lists the other datasets' finished runs, from their run directories."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "where the table goes (default experiments/results)."

type EvalArgs =
    | [<Mandatory>] Checkpoint of file: string
    | Dataset of name: string
    | Model of name: string
    | Fold of k: int
    | Split of ratio: string
    | Split_Seed of seed: int
    | Gfkd_Split
    | Val_Fraction of fraction: float
    | Data of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Checkpoint _ -> "a model.safetensors written by train, distill, gfkd or the quickstart."
            | Dataset _ -> "dataset to score on (default: the checkpoint's own, from its metadata)."
            | Model _ -> "model name (default: the checkpoint's, from its metadata): a train model, gat-teacher, gat-student or the GFKD family."
            | Fold _ -> "graph classification: the parts of `train --folds 10`'s fold K (its training, validation and test graphs)."
            | Split _ -> "graph classification: the parts of `train --split A/B` (with --split-seed, default 29)."
            | Split_Seed _ -> "seed of --split (default 29)."
            | Gfkd_Split -> "graph classification: GFKD's 70 / 30 split (seed 0), as gfkd and the quickstart use."
            | Val_Fraction _ -> "with --fold or --split: the validation fraction the run used (default 0.1)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."

type QuickstartArgs =
    | Dataset of name: string
    | Data of dir: string
    | Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "graph classification dataset (default MUTAG; PTC_MR, PROTEINS or IMDB-BINARY take longer)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."
            | Out _ -> "run directory (default runs/quickstart): summary.md / .json, one checkpoint per model, the GA's generations."

type ReportArgs =
    | [<MainCommand; Mandatory>] Dir of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "a run directory of train, distill, gfkd or evolve (holding its config.json or metrics.json)."

type ExportArgs =
    | [<Mandatory>] Checkpoint of file: string
    | [<Mandatory>] Format of name: string
    | [<Mandatory>] Out of file: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Checkpoint _ -> "the safetensors checkpoint to export (a model.safetensors of a run directory)."
            | Format _ -> "the target format: torchsharp (the state-dict .dat file TorchSharp's Module.save writes and Module.load reads)."
            | Out _ -> "the file to write (in an existing directory; written atomically)."

/// The formats `gcnkd export` writes.
let exportFormats = [ "torchsharp" ]

type DataListArgs =
    | Data of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."

type DataCheckArgs =
    | [<MainCommand>] Names of name: string list
    | Data of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Names _ -> "datasets to check (default: every dataset present in the data root)."
            | Data _ -> "data root (default: $GCNKD_DATA, else ./data)."

type DataFetchArgs =
    | [<MainCommand; Mandatory>] Name of name: string
    | Url of base_url: string
    | Sha256 of hex: string
    | Data of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Name _ -> "the dataset to download (gcnkd data list names them)."
            | Url _ -> "download from this server base instead of the official one (file names stay the official ones)."
            | Sha256 _ -> "expected SHA-256 of the download (a dataset published as one file), instead of the recorded one."
            | Data _ -> "data root to unpack into (default: $GCNKD_DATA, else ./data)."

[<RequireSubcommand>]
type DataArgs =
    | [<CliPrefix(CliPrefix.None)>] List of ParseResults<DataListArgs>
    | [<CliPrefix(CliPrefix.None)>] Check of ParseResults<DataCheckArgs>
    | [<CliPrefix(CliPrefix.None)>] Fetch of ParseResults<DataFetchArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | List _ -> "every dataset GcnKd knows: kind, folder under the data root, and whether it is present, partial or missing."
            | Check _ -> "load each present dataset and compare graphs, nodes, edges, classes, features with the published statistics (exit 1 on a mismatch)."
            | Fetch _ -> "download a dataset from its official source, verify its SHA-256 and unpack it into the data root."

[<RequireSubcommand>]
type GcnKdArgs =
    | [<AltCommandLine("-t"); Inherit>] Threads of count: int
    | [<CliPrefix(CliPrefix.None)>] Quickstart of ParseResults<QuickstartArgs>
    | [<CliPrefix(CliPrefix.None)>] Eval of ParseResults<EvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Distill of ParseResults<DistillArgs>
    | [<CliPrefix(CliPrefix.None)>] Gfkd of ParseResults<GfkdArgs>
    | [<CliPrefix(CliPrefix.None)>] Evolve of ParseResults<EvolveArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>
    | [<CliPrefix(CliPrefix.None)>] Report of ParseResults<ReportArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Threads _ -> "kernel threads (default: all cores). Results do not depend on it."
            | Eval _ -> "score a saved model on a dataset's parts (node datasets: train / validation / test; graph datasets: every graph, a fold or a split)."
            | Quickstart _ -> "a few minutes on MUTAG: a teacher, a student alone, by KD and by LSP, a GFKD student from fake graphs, and the KD student pruned by the genetic algorithm; one summary table."
            | Bench _ -> "time GcnKd's kernels and a GCN training step (compare with experiments/bench/torch_reference.py)."
            | Train _ -> "train a model on a dataset under its standard protocol; writes checkpoints and metrics."
            | Distill _ -> "distil a trained teacher into a small student (student alone, KD, FitNet, AT or LSP)."
            | Gfkd _ -> "graph-free distillation: fit fake graphs to a frozen graph classifier, then distil a student on them."
            | Evolve _ -> "evolutionary compression: a genetic search removes filters and hidden units, the thin network is fine-tuned."
            | Reproduce _ -> "rerun a results table (experiments/results/NAME.md and .json)."
            | Report _ -> "(re)build DIR/report.html (config, final metrics, learning curves as inline SVG) from what a run directory holds."
            | Export _ -> "convert a safetensors checkpoint for another library (TorchSharp's .dat state dict)."
            | Data _ -> "the datasets: list them, check them against their published statistics, fetch them."

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
      DensityWeight: float32 option; BnWeight: float32 option; BnPrior: BnPriorForm option; InitShift: float32 option
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
                          BnPrior =
                              g.TryGetResult Bn_Prior
                              |> Option.map (fun f ->
                                  match f.Trim().ToLowerInvariant() with
                                  | "raw" -> BnPriorForm.Raw
                                  | "standardized" -> BnPriorForm.Standardized
                                  | _ -> raise (InvalidValue(sprintf "--bn-prior must be raw or standardized; got '%s'" f)))
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
