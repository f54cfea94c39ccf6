using System.Text.Json;
using GcnKd.Host.Checkpoints;
using GcnKd.Train;
using GcnKd.Host.Errors;
using Microsoft.FSharp.Collections;

namespace GcnKd.Host.Experiments;

/// <summary>`--resume` for train and distill. A run directory records, in config.json's "options", the command and
/// the long options that decide every run's numbers (written before the first run, so an interrupted run has it too);
/// a resumed command must have the same ones (the number of seeds may grow). A run (a seed, a fold, the teacher) is
/// finished when its folder holds metrics.json (written last) and its checkpoint: it is read back instead of being
/// trained again.</summary>
public static class RunResume
{
    /// <summary>Begin a run in <paramref name="dir"/>: resuming into a directory with a config.json checks its recorded
    /// options against <paramref name="options"/> (a difference is a user error naming the file and the option); else
    /// config.json is written with the header and the options (the settings follow when the run ends).</summary>
    public static void Begin(RunDirectory dir, bool resume, IEnumerable<(string Key, string Value)> header, IReadOnlyList<(string Key, string Value)> options)
    {
        string path = Path.Combine(dir.Path, "config.json");
        if (!resume || !File.Exists(path))
        {
            dir.WriteConfig(header, [], options);
            return;
        }
        string afresh = "start afresh without --resume, or choose another --out";
        var recorded = RecordedOptions(path)
            ?? throw new GcnKdUserError($"cannot resume into {dir.Path}: {path} records no options (written by another command or an older GcnKd); {afresh}");
        var now = options.ToDictionary(kv => kv.Key, kv => kv.Value);
        string command = now["command"];
        if (!recorded.TryGetValue("command", out var was) || was != command)
            throw new GcnKdUserError($"cannot resume into {dir.Path}: {path} was written by gcnkd {was ?? "(unknown)"}, not gcnkd {command}; {afresh}");
        var differences = recorded.Keys.Concat(now.Keys).Distinct()
            .Select(key => (key, before: recorded.GetValueOrDefault(key), after: now.GetValueOrDefault(key)))
            .Where(d => d.before != d.after)
            .Select(d => $"--{d.key} {d.before ?? "not given"} there, {d.after ?? "not given"} now").ToList();
        if (differences.Count > 0)
            throw new GcnKdUserError($"cannot resume into {dir.Path}: {path} records other settings than this command's ({string.Join("; ", differences)}); " +
                                     $"rerun with the run's settings, or {afresh}");
    }

    /// <summary>config.json's "options", or null when it has none or cannot be read.</summary>
    static Dictionary<string, string>? RecordedOptions(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(UserFiles.ReadAllBytes(path, "config"));
            if (!doc.RootElement.TryGetProperty("options", out var o) || o.ValueKind != JsonValueKind.Object) return null;
            return o.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
        }
        catch (JsonException) { return null; }
    }

    /// <summary>The run that finished in <paramref name="sub"/>, read back from its metrics.json, config.json (the run's
    /// settings) and checkpoint (the tensors; its epoch log is left on disk), or null when the folder holds no
    /// metrics.json or checkpoint: the run must be made. A run of another seed or model (null: any) is a user error.</summary>
    public static RunOutcome? Finished(RunDirectory sub, string? model, int seed)
    {
        string metrics = Path.Combine(sub.Path, "metrics.json"), checkpoint = Path.Combine(sub.Path, "model.safetensors");
        if (!File.Exists(metrics) || !File.Exists(checkpoint)) return null;
        string name, metric;
        int runSeed, bestEpoch, parameters;
        double val, test;
        try
        {
            using var doc = JsonDocument.Parse(UserFiles.ReadAllBytes(metrics, "metrics"));
            var r = doc.RootElement;
            (name, runSeed, bestEpoch, metric) = (r.GetProperty("model").GetString()!, r.GetProperty("seed").GetInt32(), r.GetProperty("best_epoch").GetInt32(), r.GetProperty("metric").GetString()!);
            var v = r.GetProperty($"val_{metric}");
            (val, test, parameters) = (v.ValueKind == JsonValueKind.Null ? double.NaN : v.GetDouble(), r.GetProperty($"test_{metric}").GetDouble(), r.GetProperty("params").GetInt32());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new GcnKdUserError($"{metrics} is not a finished run's metrics ({e.Message}); delete {sub.Path} to train it again", e);
        }
        if (runSeed != seed || (model is not null && name != model))
            throw new GcnKdUserError($"{metrics} holds a {name} run with seed {runSeed}, not {model ?? name} with seed {seed}; " +
                                     "start afresh without --resume, or choose another --out");
        var tensors = CheckpointFile.Load(checkpoint).Tensors.Select(t => Tuple.Create(t.Name, t.Tensor)).ToArray();
        return new RunOutcome(name, runSeed, bestEpoch, metric, val, test, parameters, tensors, [], Settings(Path.Combine(sub.Path, "config.json")));
    }

    /// <summary>A run's resolved settings from its config.json (empty if it has none).</summary>
    static FSharpList<Tuple<string, string>> Settings(string path)
    {
        if (!File.Exists(path)) return FSharpList<Tuple<string, string>>.Empty;
        using var doc = JsonDocument.Parse(UserFiles.ReadAllBytes(path, "config"));
        return doc.RootElement.TryGetProperty("settings", out var s)
            ? ListModule.OfSeq(s.EnumerateObject().Select(p => Tuple.Create(p.Name, p.Value.GetString()!)))
            : FSharpList<Tuple<string, string>>.Empty;
    }
}
