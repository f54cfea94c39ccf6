using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Encodings.Web;
using System.Text.Json;
using GcnKd;
using GcnKd.Bench;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Bench;

/// <summary>
/// Times GcnKd's benchmark cases (GcnKd.Bench.BenchCases) the way experiments/bench/torch_reference.py times
/// PyTorch: a warm-up (which also lets the JIT reach its optimised tier), then N timed runs; reports the median and
/// the minimum in milliseconds, as a table and optionally as JSON in the same layout as the torch script, so that
/// experiments/bench/compare.py can put the two side by side.
/// </summary>
public static class BenchRunner
{
    public sealed record Result(string Name, double MedianMs, double MinMs, int Runs);

    /// <summary>Runs `gcnkd bench` (options parsed by GcnKd.Cli); returns the exit code (0 ok, 1 a case failed, 2 usage).</summary>
    public static int Run(GcnKd.Cli.BenchOptions options)
    {
        var filters = options.Cases.ToList();
        int runs = options.Runs;
        string? jsonPath = OptionModule.IsSome(options.Json) ? options.Json.Value : null;
        bool list = options.List;
        var all = BenchCases.all.Concat(DataCases(OptionModule.IsSome(options.Data) ? options.Data.Value : null)).ToList();
        if (list)
        {
            foreach (var c in all) Console.WriteLine(c.Name);
            return 0;
        }
        var selected = all.Where(c => filters.Count == 0 || filters.Any(f => c.Name.Contains(f, StringComparison.Ordinal))).ToList();
        if (selected.Count == 0)
        {
            Console.Error.WriteLine($"bench: no case matches {string.Join(", ", filters)}; cases: {string.Join(", ", all.Select(c => c.Name))}");
            return 2;
        }

        Console.WriteLine($"{"case",-24} {"median ms",10} {"min ms",10} {"runs",5}  note");
        var results = new List<Result>();
        foreach (var c in selected)
        {
            Result r;
            try
            {
                r = Measure(c, runs);
            }
            catch (GcnKdUserError e) when (filters.Count == 0)
            {
                // running everything: a case whose dataset is absent is skipped, and says so
                Console.WriteLine($"{c.Name,-24} {"skipped",10} {"",10} {"",5}  needs data ({e.Message})");
                continue;
            }
            catch (GcnKdUserError e)
            {
                Console.Error.WriteLine($"bench: case {c.Name} needs data: {e.Message}");
                return 2;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"bench: case {c.Name} failed: {e.Message}");
                return 1;
            }
            results.Add(r);
            Console.WriteLine($"{r.Name,-24} {r.MedianMs,10:F3} {r.MinMs,10:F3} {r.Runs,5}  {Note(r)}");
        }
        if (jsonPath is not null)
        {
            try
            {
                WriteJson(jsonPath, results);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"bench: cannot write {jsonPath}: {e.Message}");
                return 1;
            }
        }
        Console.WriteLine($"GcnKd {Version()}, {Threads.Count} threads, {Kernel()}");
        if (jsonPath is not null) Console.WriteLine($"wrote {jsonPath}");
        return 0;
    }

    /// <summary>
    /// The epoch_* cases (BenchCases.withData): Cora (Planetoid, row-normalised features, as `gcnkd train`) and
    /// PROTEINS (GIN format) from the data root (--data, else GCNKD_DATA, else ./data), each read from disk only
    /// when a selected case is set up (outside the timed runs), at most once per process. A missing dataset is a
    /// GcnKdUserError naming the folder and files.
    /// </summary>
    static IEnumerable<BenchCase> DataCases(string? dataArgument)
    {
        var root = DataRoot.Resolve(dataArgument);
        var cora = new Lazy<NodeDataset>(() => Planetoid.Load(root, "Cora", normalizeFeatures: true));
        var proteins = new Lazy<GraphDataset>(() => GinFormat.Load(root, "PROTEINS"));
        return BenchCases.withData(
            FuncConvert.FromFunc(() => cora.Value),
            FuncConvert.FromFunc(() => proteins.Value));
    }

    /// <summary>Warm up (at least 3 calls and about half a second), then time `runs` calls.</summary>
    public static Result Measure(BenchCase c, int runs)
    {
        FSharpFunc<Unit, Unit> action = c.Setup.Invoke(null!);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long warmStart = Stopwatch.GetTimestamp();
        for (int calls = 0; calls < 3 || (Stopwatch.GetElapsedTime(warmStart).TotalSeconds < 0.5 && calls < 200); calls++)
            action.Invoke(null!);
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action.Invoke(null!);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        int mid = runs / 2;
        double median = runs % 2 == 1 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
        return new Result(c.Name, median, times[0], runs);
    }

    /// <summary>GFLOPS for GEMM cases (named gemm_MxKxN), at the median time.</summary>
    static string Note(Result r)
    {
        if (!r.Name.StartsWith("gemm_", StringComparison.Ordinal)) return "";
        var dims = r.Name["gemm_".Length..].Split('x');
        if (dims.Length != 3 || !dims.All(d => double.TryParse(d, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))) return "";
        double flops = 2.0 * dims.Select(d => double.Parse(d, CultureInfo.InvariantCulture)).Aggregate((x, y) => x * y);
        return $"{flops / (r.MedianMs * 1e6):F1} GFLOPS";
    }

    static string Version() =>
        typeof(BenchCase).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(BenchCase).Assembly.GetName().Version?.ToString() ?? "unknown";

    static string Kernel() =>
        Vector512.IsHardwareAccelerated ? "GEMM micro-kernel 6x64 (Vector512)"
        : Vector256.IsHardwareAccelerated ? "GEMM micro-kernel 6x16 (Vector256)"
        : "GEMM scalar loops";

    /// <summary>The torch script's layout: tool, version, threads, blas, machine, timestamp, results[].</summary>
    static void WriteJson(string path, List<Result> results)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        using (var stream = File.Create(tmp))
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("tool", "gcnkd");
            w.WriteString("version", Version());
            w.WriteNumber("threads", Threads.Count);
            w.WriteString("blas", Kernel());
            w.WriteString("machine", $"{RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}");
            w.WriteString("timestamp", DateTimeOffset.Now.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture));
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteNumber("median_ms", r.MedianMs);
                w.WriteNumber("min_ms", r.MinMs);
                w.WriteNumber("runs", r.Runs);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        File.Move(tmp, full, overwrite: true);
    }
}
