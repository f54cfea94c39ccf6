/// `gcnkd quickstart`: GcnKd's three methods once each, small, on one graph-classification dataset (MUTAG), as a
/// first run that shows the whole toolkit in a few minutes: on GFKD's 70 / 30 split (seed 0), a GCN5_64 teacher
/// (its length chosen by 5-fold CV inside the 70 %), a GCN3_32 student alone, by Hinton KD and by LSP on the real
/// 70 %, a student distilled from GFKD fake graphs (no real data), and the KD student's channels pruned by the
/// genetic algorithm and fine-tuned with KD. One seed, shortened schedules: a tour, not a result (the reproduce
/// commands make the tables). The 30 % scores each model once, after its last epoch.
namespace GcnKd.Train

open GcnKd
open GcnKd.Evolution
open GcnKd.Report.QuickstartTable

type QuickstartSettings =
    { /// Epoch cap of the teacher's CV runs.
      TeacherEpochs: int
      /// Epochs of each student on the real 70 % (Adam 0.01 decayed linearly to 0, batch 32).
      StudentEpochs: int
      /// Hinton KD: temperature and weight of the soft term.
      KdTemperature: float32
      KdAlpha: float32
      /// LSP weight (RBF score, sigma 1, the teacher's last hidden layer against the student's).
      LspLambda: float32
      FitIterations: int
      FakeEpochs: int
      Genetic: GeneticConfig
      /// Training graphs the GA's fitness is measured on.
      SubsetSize: int
      FineTuneEpochs: int }

type QuickstartResult =
    { Dataset: string
      TrainGraphs: int
      TestGraphs: int
      Rows: QuickstartRow list
      /// Each model by name ("teacher", "student", "kd", "lsp", "gfkd", "pruned"): its named tensors (state prefixed
      /// "state.") and its training log (the teacher's: its final run on the whole training part).
      Models: (string * (string * Tensor)[] * EpochLog[]) list
      /// The GA's best and mean fitness per generation.
      Generations: GenerationStats[] }

[<RequireQualifiedAccess>]
module Quickstart =
    let teacherModel, studentModel = "GCN5_64", "GCN3_32"

    let defaults =
        { TeacherEpochs = 350; StudentEpochs = 300; KdTemperature = 4.0f; KdAlpha = 0.5f; LspLambda = 1.0f
          FitIterations = 1000; FakeEpochs = 300
          Genetic = { Genetic.released with Population = 16; Generations = 20 }
          SubsetSize = 131; FineTuneEpochs = 100 }

    let private named (p: 'P) (s: 'S) =
        Array.append (Tree.leaves p) (Tree.leaves s |> Array.map (fun (n, t) -> "state." + n, t))

    /// Run every step; `progress` receives one line per step and per stretch of epochs.
    let run (settings: QuickstartSettings) (data: GraphDataset) (progress: string -> unit) : QuickstartResult =
        let train, test = GfkdRegistry.split data 0
        let every n label = fun (e: EpochLog) -> if (e.Epoch + 1) % n = 0 then progress (sprintf "  %s epoch %d: train loss %.4f" label (e.Epoch + 1) e.TrainLoss)
        // 1. the teacher
        progress (sprintf "teacher %s: epochs chosen by %d-fold CV inside the %d training graphs" teacherModel GfkdRegistry.TeacherFolds train.Length)
        let teacherRun, choice =
            GfkdRegistry.trainTeacher teacherModel data 0 (Some settings.TeacherEpochs) train test
                (fun k -> every settings.TeacherEpochs (if k < GfkdRegistry.TeacherFolds then sprintf "fold %d" (k + 1) else "teacher"))
        let teacher = GfkdRegistry.teacherOf teacherModel data teacherRun.Tensors
        let tCfg = GfkdRegistry.modelConfig teacherModel data
        let tNamed, tStateNamed = Registry.paramsAndState teacherRun.Tensors
        let tP = Tree.ofNamed (GfkdFamily.init tCfg (Rng.create 0)) tNamed
        let tS = Tree.ofNamed (GfkdFamily.initState tCfg) tStateNamed
        let teacherHidden (b: PreparedBatch) =
            let out, _ = GfkdFamily.forward tCfg tP tS ForwardContext.Eval (GfkdFamily.prepareBatch tCfg b.Batch) b.Features
            out
        let teacherRow = { Step = "teacher"; Model = teacherModel; Params = teacherRun.ParamCount; Test = teacherRun.TestAccuracy
                           Note = sprintf "%d epochs (CV mean validation accuracy %.1f %%)" (choice.Epoch + 1) (100.0 * choice.MeanValMetric) }
        // 2. students on the real 70 %
        let sCfg = GfkdRegistry.modelConfig studentModel data
        let spec = GfkdRegistry.studentSpec studentModel data
        let tc = GfkdTrainer.trainConfig { FakeDistillConfig.released 0 with Epochs = settings.StudentEpochs }
        let student (label: string) loss =
            progress (sprintf "%s: %s on the real %d graphs" label studentModel train.Length)
            GraphTrainer.trainWith loss tc spec data.Graphs train [||] test (every 50 label)
        let ce = fun _ (b: PreparedBatch) _ (out: ModelOutput) -> Loss.crossEntropy out.Logits b.Labels
        let kd = fun _ (b: PreparedBatch) _ (out: ModelOutput) ->
            Kd.withCrossEntropy settings.KdAlpha settings.KdTemperature (teacherHidden b).Logits out.Logits b.Labels
        let lsp = fun _ (b: PreparedBatch) _ (out: ModelOutput) ->
            let t = teacherHidden b
            Loss.crossEntropy out.Logits b.Labels
            + settings.LspLambda * LocalStructure.loss LspScore.defaultRbf b.Batch.Adj (List.last t.Hidden) (List.last out.Hidden)
        let alone = student "student alone" ce
        let kdRun = student "KD" kd
        let lspRun = student "LSP" lsp
        let sParams = Tree.count alone.Params
        let row step (r: GraphTrainResult<_, _>) note = { Step = step; Model = studentModel; Params = sParams; Test = r.TestAccuracy; Note = note }
        // 3. GFKD: fake graphs fitted to the teacher, then a student that never sees real data
        progress (sprintf "GFKD: %d fake graphs fitted to the teacher (ARM, %d iterations)" train.Length settings.FitIterations)
        let realDensity = GfkdPriors.meanDensity (train |> Array.map (fun i -> data.Graphs.[i]))
        let fit = { GfkdRegistry.defaultFitting realDensity with Iterations = settings.FitIterations }
        let gfkd = GfkdMethod.Gfkd StructureEstimator.Arm
        let onFit (l: FittingLog) =
            if (l.Iteration + 1) % 100 = 0 then
                progress (sprintf "  iteration %d: CE %.4f, density %.3f, teacher agrees on %.1f %%" (l.Iteration + 1) l.CrossEntropy l.Density (100.0 * l.TargetAccuracy))
        let fake, report = GfkdRegistry.transferGraphs gfkd fit data train teacher (GfkdRegistry.nodeSource data train None) (GfkdRegistry.degreeVocabulary data) 0 (FitControl.logOnly onFit)
        let gfkdRun = GfkdRegistry.distil gfkd { FakeDistillConfig.released 0 with Epochs = settings.FakeEpochs } studentModel data teacher fake test (every 50 "GFKD student")
        // 4. the KD student's channels pruned by the GA, then fine-tuned with KD
        progress (sprintf "evolution: GA over the KD student's %d channels (%d individuals, %d generations)" sCfg.Width settings.Genetic.Population settings.Genetic.Generations)
        let size = GinEvolution.meanGraph data train
        let size = { size with Edges = size.Edges + size.Nodes }
        let structure = GfkdPruning.structure sCfg
        let thinSpec (c: GfkdConfig) p s : GraphSpec<GfkdParams, GfkdState> =
            { Init = (fun _ -> p); InitState = (fun () -> s); Forward = fun q r ctx b x -> GfkdFamily.forward c q r ctx (GfkdFamily.prepareBatch c b) x }
        let subset = Fitness.subset train settings.SubsetSize settings.Genetic.Seed |> GraphTrainer.chunks 256 |> Array.map (GraphTrainer.prepare data.Graphs)
        let target =
            { Structure = structure; Full = (kdRun.Params, kdRun.State)
              Score = fun counts (p, s) -> let c = GfkdPruning.resize sCfg counts in GraphTrainer.evaluate (thinSpec c p s) p s subset
              Cost = fun counts -> ModelCost.gfkdGcn size (GfkdPruning.resize sCfg counts) }
        let ga =
            Genetic.evolve settings.Genetic (Prunable.length structure) [||] (Fitness.evaluator (AccuracyCost(0.2, 0.2)) target)
                (fun g -> progress (sprintf "  generation %d: best fitness %.4f, mean %.4f, best keeps %d" (g.Generation + 1) g.Best g.Mean g.BestKept))
        let counts = Prunable.keptCounts structure ga.Best
        let thinCfg = GfkdPruning.resize sCfg counts
        let thinP, thinS = Thinning.thin structure ga.Best (kdRun.Params, kdRun.State)
        let testBatches = GraphTrainer.chunks 256 test |> Array.map (GraphTrainer.prepare data.Graphs)
        let _, before = GraphTrainer.evaluate (thinSpec thinCfg thinP thinS) thinP thinS testBatches
        let fineTune = { tc with Epochs = settings.FineTuneEpochs; Lr = 0.001f; Schedule = Schedule.Linear(settings.FineTuneEpochs, 0.0f) }
        progress (sprintf "fine-tuning the thin student (%d of %d channels) with KD" counts.[0] sCfg.Width)
        let pruned = GraphTrainer.trainWith kd fineTune (thinSpec thinCfg thinP thinS) data.Graphs train [||] test (every 25 "fine-tune")
        let full, thin = ModelCost.gfkdGcn size sCfg, ModelCost.gfkdGcn size thinCfg
        let rc, rs = ModelCost.ratios full thin
        { Dataset = data.Name; TrainGraphs = train.Length; TestGraphs = test.Length
          Rows =
            [ teacherRow
              row "student alone" alone "labels only"
              row "KD" kdRun (sprintf "Hinton KD, T = %g, alpha %g" settings.KdTemperature settings.KdAlpha)
              row "LSP" lspRun (sprintf "labels + %g x LSP (RBF), last hidden layers" settings.LspLambda)
              row "GFKD" gfkdRun (sprintf "no real data: %d fake graphs, density %.3f (real %.3f)" report.Graphs report.MeanDensity report.RealMeanDensity)
              { Step = "pruned KD student"; Model = sprintf "GCN3_%d" counts.[0]; Params = Tree.count pruned.Params; Test = pruned.TestAccuracy
                Note = sprintf "GA keeps %d of %d channels: rc %.2f, rs %.2f; %.1f %% before fine-tuning" counts.[0] sCfg.Width rc rs (100.0 * before) } ]
          Models =
            [ "teacher", teacherRun.Tensors, teacherRun.Log
              "student", named alone.Params alone.State, alone.Log
              "kd", named kdRun.Params kdRun.State, kdRun.Log
              "lsp", named lspRun.Params lspRun.State, lspRun.Log
              "gfkd", named gfkdRun.Params gfkdRun.State, gfkdRun.Log
              "pruned", named pruned.Params pruned.State, pruned.Log ]
          Generations = ga.History }
