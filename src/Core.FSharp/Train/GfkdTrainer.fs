/// GFKD's second stage and its random-graph baseline: a student learns from a frozen teacher on graphs that are
/// not real data (fake graphs fitted to the teacher, or random graphs), by T^2 KL(softmax(t / T) || softmax(s / T))
/// alone (no labels: the fake graphs' target labels are not used), and is scored on the real held-out graphs. No
/// model is selected on them: the student of the last epoch is the result, or the epoch with the best agreement
/// with the teacher on a validation set of fake graphs when one is given.
namespace GcnKd.Train

open GcnKd

type FakeDistillConfig =
    { Epochs: int
      BatchSize: int
      Lr: float32
      /// KD temperature (the released code: 2).
      Temperature: float32
      Seed: int }

[<RequireQualifiedAccess>]
module FakeDistillConfig =
    /// The released student stage: Adam 0.01 with linear decay to 0, batch 32, T = 2, 300 epochs.
    let released seed = { Epochs = 300; BatchSize = 32; Lr = 0.01f; Temperature = 2.0f; Seed = seed }

[<RequireQualifiedAccess>]
module GfkdTrainer =
    /// The graph trainer's settings for the student stage: Adam with linear decay to 0, no weight decay, no early
    /// stopping; with no validation part the last epoch is the result.
    let trainConfig (cfg: FakeDistillConfig) : GraphTrainConfig =
        { Epochs = cfg.Epochs; BatchSize = cfg.BatchSize; EvalBatchSize = 256; Lr = cfg.Lr; WeightDecay = 0.0f
          Schedule = Schedule.Linear(cfg.Epochs, 0.0f); Patience = 0; SelectBy = ValidationMetric; Seed = cfg.Seed }

    /// Train `student` on `transfer` graphs (their labels ignored) against the teacher and score it on `test`
    /// (real graphs, evaluation only).
    let distil (cfg: FakeDistillConfig) (teacher: FrozenTeacher) (student: GraphSpec<'P, 'S>) (transfer: GraphSample[]) (test: GraphSample[])
               (onEpoch: EpochLog -> unit) : GraphTrainResult<'P, 'S> =
        if transfer.Length = 0 then invalidArg "transfer" "GfkdTrainer.distil: no transfer graphs"
        let graphs = Array.append transfer test
        let trainIdx = Array.init transfer.Length id
        let testIdx = Array.init test.Length (fun i -> transfer.Length + i)
        let tc = trainConfig cfg
        let kd _ (b: PreparedBatch) _ (out: ModelOutput) =
            let t, _ = teacher.Forward b.Batch b.Features
            Kd.soft cfg.Temperature t out.Logits
        GraphTrainer.trainWith kd tc student graphs trainIdx [||] testIdx onEpoch

    /// RandG: `count` random undirected graphs with node counts from `nodeCounts`, each unordered pair an edge with
    /// probability `density`, features one-hot of a uniformly random class of `width` (or the degree one-hot over a
    /// vocabulary), labels balanced (unused by distil).
    let randomGraphs (spec: FakeGraphSpec) (density: float) (rng: Rng) : GraphSample[] =
        if not (density >= 0.0 && density <= 1.0) then invalidArg "density" (sprintf "GfkdTrainer.randomGraphs: density must be in [0, 1], got %g" density)
        FakeGraphs.validate spec
        let rs, rf = Rng.split rng
        let s = { spec with Mode = StructureMode.Symmetric }
        let l = FakeGraphs.layout s
        let u = Array.zeroCreate<float32> l.Count
        Rng.fillOpenUniform rs 0L u
        let sample = u |> Array.map (fun x -> float x < density)
        let features =
            match spec.Features with
            | FakeFeatures.Learned w ->
                // logits with a single large entry per node at a uniform class: export takes its argmax
                let n = Array.sum spec.NodeCounts
                let data = Array.zeroCreate<float32> (n * w)
                for i in 0 .. n - 1 do data.[i * w + Rng.intAt rf (int64 i) w] <- 1.0f
                Tensor.Wrap([| n; w |], data)
            | FakeFeatures.Degree _ -> Tensor.zeros [| 0; 0 |]
        // the mode of logits +-1 is the sample itself
        FakeGraphs.export s { Structure = sample |> Array.map (fun b -> if b then 1.0f else -1.0f); Features = features }
