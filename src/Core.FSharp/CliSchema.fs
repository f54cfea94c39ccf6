/// The command-line schema (Argu): every command's arguments and their help texts. `Cli` turns a parse of it into
/// a typed command.
module GcnKd.CliSchema

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
    | Features of relaxation: string
    | Bn_Credit of credit: string
    | Input_Weight of weight: float
    | Init_Shift of shift: float
    | Released
    | Resume
    | Data of dir: string
    | [<Mandatory>] Out of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dataset _ -> "graph classification dataset: MUTAG, PTC_MR, PROTEINS or IMDB-BINARY (GIN text version; 70 % split for the teacher, the 30 % for evaluation only)."
            | Method _ -> "randg, deepinvg, gfkd-arm, gfkd-reinforce (K 4, mean baseline), gfkd-multinomial (degree budget 1), gfkd-features (ablation: features fitted on a frozen random structure), kd-real (KD on the real 70 %) or student-real (labels of the real 70 %)."
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
            | Bn_Credit _ -> "the batch a graph's structure sample is scored in by the batch-norm prior: batch (default, as released; the whole sampled batch, shared by every graph) or per-graph (the mode batch with only that graph sampled)."
            | Input_Weight _ -> "weight of the input-share prior: the fake nodes' feature shares against those the teacher's first layer and batch norm imply (default 0, off, as released)."
            | Features _ -> "what the teacher sees of the feature logits while fitting: softmax (default, as released; export takes the one-hot argmax) or straight-through (the exported one-hot forward, softmax's gradient backward)."
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
