using System.Diagnostics;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Runtime;
using GcnKd.Train;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Experiments;

/// <summary>Mid-run checkpoints of one seed or fold: `train-state.safetensors` in its folder (the model, optimiser,
/// selection and log after an epoch, <see cref="TrainSnapshot"/>), written atomically at most once a minute and
/// whenever a stop was requested, so Ctrl-C loses no finished epoch; `--resume` continues from it; removed once the
/// run's own files are written.</summary>
public static class TrainSnapshots
{
    public const string FileName = "train-state.safetensors";

    /// <summary>The shortest time between two saves (a stop request saves at once).</summary>
    public static TimeSpan SaveEvery { get; set; } = TimeSpan.FromMinutes(1);

    public static Snapshots For(RunDirectory sub, bool resume, TextWriter progress, string label)
    {
        string file = Path.Combine(sub.Path, FileName);
        var from = FSharpOption<TrainSnapshot>.None;
        if (resume && File.Exists(file))
        {
            var c = CheckpointFile.Load(file);
            var snap = new TrainSnapshot(c.Tensors.Select(t => Tuple.Create(t.Name, t.Tensor)).ToArray(),
                ListModule.OfSeq(c.Metadata.Select(kv => Tuple.Create(kv.Key, kv.Value))));
            from = FSharpOption<TrainSnapshot>.Some(snap);
            progress.WriteLine($"  {label}: resuming after epoch {c.Metadata.GetValueOrDefault("next_epoch", "?")} from {file}");
        }
        var clock = Stopwatch.StartNew();
        void OnState(FSharpFunc<Unit, TrainSnapshot> encode)
        {
            if (!Interrupt.Requested && clock.Elapsed < SaveEvery) return;
            var s = encode.Invoke(null!);
            CheckpointFile.Save(file, s.Tensors.Select(t => (t.Item1, t.Item2)), s.Metadata.ToDictionary(kv => kv.Item1, kv => kv.Item2));
            clock.Restart();
        }
        return new Snapshots(from, FuncConvert.FromAction<FSharpFunc<Unit, TrainSnapshot>>(OnState));
    }

    /// <summary>The run finished and wrote its files: its mid-run checkpoint is no longer needed.</summary>
    public static void Done(RunDirectory sub)
    {
        string file = Path.Combine(sub.Path, FileName);
        if (File.Exists(file)) File.Delete(file);
    }
}
