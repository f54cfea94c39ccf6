using System.Globalization;
using System.Text;
using System.Text.Json;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Errors;
using GcnKd.Report;
using GcnKd.Train;
using Microsoft.FSharp.Collections;

namespace GcnKd.Host.Experiments;

/// <summary>What a run leaves on disk, every file written atomically (temp file + rename): the resolved config,
/// per-epoch metrics (CSV), final metrics (JSON), the selected model's checkpoint (safetensors) and the HTML report
/// built from them.</summary>
public sealed class RunDirectory(string path)
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public RunDirectory Sub(string name) => new(System.IO.Path.Combine(Path, name));

    public void WriteText(string file, string text) =>
        CheckpointFile.WriteAtomic(System.IO.Path.Combine(Path, file), file, s => s.Write(Encoding.UTF8.GetBytes(text)));

    public void WriteJson(string file, Action<Utf8JsonWriter> body) =>
        CheckpointFile.WriteAtomic(System.IO.Path.Combine(Path, file), file, s =>
        {
            using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
            body(w);
        });

    public static string Csv(IEnumerable<EpochLog> log)
    {
        var sb = new StringBuilder("epoch,lr,train_loss,train_metric,val_loss,val_metric\n");
        foreach (var e in log)
            sb.Append(string.Join(",", new[] { e.Epoch.ToString(CultureInfo.InvariantCulture), F(e.Lr), F(e.TrainLoss), F(e.TrainMetric), F(e.ValLoss), F(e.ValMetric) })).Append('\n');
        return sb.ToString();
    }

    static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>config.json: the header fields, then the resolved settings of the runs as a "settings" object and,
    /// when given, the command and options that decide the runs' numbers as an "options" object (what --resume checks,
    /// <see cref="RunResume"/>).</summary>
    public void WriteConfig(IEnumerable<(string Key, string Value)> header, IEnumerable<Tuple<string, string>> settings,
                            IEnumerable<(string Key, string Value)>? options = null) =>
        WriteJson("config.json", w =>
        {
            w.WriteStartObject();
            foreach (var (k, v) in header) w.WriteString(k, v);
            w.WriteStartObject("settings");
            foreach (var (k, v) in settings) w.WriteString(k, v);
            w.WriteEndObject();
            if (options is not null)
            {
                w.WriteStartObject("options");
                foreach (var (k, v) in options) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        });

    /// <summary>One run (a seed or a fold): checkpoint, epochs.csv, config.json (the run's settings), and metrics.json
    /// last, so that a folder with metrics.json holds a finished run.</summary>
    public void WriteRun(RunOutcome r, IDictionary<string, string> metadata)
    {
        var meta = new Dictionary<string, string>(metadata)
        {
            ["model"] = r.Model,
            ["seed"] = r.Seed.ToString(CultureInfo.InvariantCulture),
        };
        WriteConfig(meta.Select(kv => (kv.Key, kv.Value)), r.Config);
        meta["best_epoch"] = r.BestEpoch.ToString(CultureInfo.InvariantCulture);
        CheckpointFile.Save(System.IO.Path.Combine(Path, "model.safetensors"), r.Tensors.Select(t => (t.Item1, t.Item2)), meta);
        WriteText("epochs.csv", Csv(r.Log));
        WriteJson("metrics.json", w =>
        {
            w.WriteStartObject();
            w.WriteString("model", r.Model);
            w.WriteNumber("seed", r.Seed);
            w.WriteNumber("best_epoch", r.BestEpoch);
            w.WriteString("metric", r.Metric);
            if (double.IsNaN(r.ValAccuracy)) w.WriteNull($"val_{r.Metric}"); else w.WriteNumber($"val_{r.Metric}", r.ValAccuracy);
            w.WriteNumber($"test_{r.Metric}", r.TestAccuracy);
            w.WriteNumber("params", r.ParamCount);
            w.WriteEndObject();
        });
    }

    /// <summary>report.html (<see cref="HtmlReport"/>): the config, the final metrics and the curves, built only from
    /// the files the directory holds (<see cref="RunContents.fileNames"/>, at any depth), so that it can be rebuilt for
    /// old runs. A missing directory, or one without config.json or metrics.json at its top, is a user mistake.
    /// Returns the report's path.</summary>
    public string WriteReport()
    {
        if (File.Exists(Path)) throw new GcnKdUserError($"{Path} is a file; expected a run directory");
        if (!Directory.Exists(Path)) throw new GcnKdUserError($"run directory {Path} not found");
        if (!File.Exists(System.IO.Path.Combine(Path, "config.json")) && !File.Exists(System.IO.Path.Combine(Path, "metrics.json")))
            throw new GcnKdUserError($"{Path} is not a GcnKd run directory: it holds no config.json or metrics.json (train, distill, gfkd and evolve write them when they finish)");
        var names = RunContents.fileNames.ToHashSet();
        var files = Directory.EnumerateFiles(Path, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Where(f => names.Contains(System.IO.Path.GetFileName(f)))
            .Select(f => Tuple.Create(System.IO.Path.GetRelativePath(Path, f).Replace('\\', '/'), Encoding.UTF8.GetString(UserFiles.ReadAllBytes(f))))
            .ToList();
        RunContents.Contents contents;
        try { contents = RunContents.ofFiles(System.IO.Path.GetFileName(Path.TrimEnd(System.IO.Path.DirectorySeparatorChar)), ListModule.OfSeq(files)); }
        catch (ArgumentException e) { throw new GcnKdUserError($"cannot build the report of {Path}: {e.Message}", e); }
        WriteText("report.html", HtmlReport.render(contents));
        return System.IO.Path.Combine(Path, "report.html");
    }
}
