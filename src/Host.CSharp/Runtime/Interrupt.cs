namespace GcnKd.Host.Runtime;

/// <summary>Ctrl-C as a request to stop cleanly. The first Ctrl-C cancels <see cref="Token"/>; long loops call
/// <see cref="ThrowIfRequested"/> between units of work (epochs, seeds, folds, generations, fitting iterations: the
/// host's progress callbacks, so the F# core stays pure), which throws <see cref="OperationCanceledException"/> after
/// the current unit, when every file written so far is complete (each is written atomically). A second Ctrl-C ends
/// the process at once. <see cref="Scope"/> replaces the token for the calling flow only (tests interrupt one run
/// without touching the others running in parallel).</summary>
public static class Interrupt
{
    static readonly CancellationTokenSource console = new();
    static readonly AsyncLocal<CancellationToken?> scoped = new();
    static int installed, presses;

    /// <summary>The token long loops check: this flow's scoped token, else the console's.</summary>
    public static CancellationToken Token => scoped.Value ?? console.Token;

    public static bool Requested => Token.IsCancellationRequested;

    /// <summary>Throw <see cref="OperationCanceledException"/> if a stop was requested.</summary>
    public static void ThrowIfRequested() => Token.ThrowIfCancellationRequested();

    /// <summary>Use <paramref name="token"/> instead of the console's in this flow until disposed.</summary>
    public static IDisposable Scope(CancellationToken token)
    {
        var previous = scoped.Value;
        scoped.Value = token;
        return new Restore(() => scoped.Value = previous);
    }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>Install the Ctrl-C handler (once per process): the first press requests a stop and keeps the process
    /// alive, the second lets the runtime end it.</summary>
    public static void InstallConsoleHandler()
    {
        if (Interlocked.Exchange(ref installed, 1) == 1) return;
        Console.CancelKeyPress += (_, e) =>
        {
            if (Interlocked.Increment(ref presses) > 1) return;   // e.Cancel stays false: the process ends now
            e.Cancel = true;
            console.Cancel();
            Console.Error.WriteLine();
            Console.Error.WriteLine("stopping after the current epoch (Ctrl-C again to stop at once)...");
        };
    }

    /// <summary>The line printed when a command stopped on request: the finished parts that hold their metrics.json
    /// under <paramref name="dir"/> (null: the command saves nothing until it ends) and how to continue.</summary>
    public static string StoppedLine(string? dir)
    {
        if (dir is null) return "interrupted: this command saves its results when it ends, so nothing was saved";
        var full = Path.GetFullPath(dir);
        var finished = Directory.Exists(full)
            ? Directory.EnumerateFiles(full, "metrics.json", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(full, Path.GetDirectoryName(f)!).Replace('\\', '/'))
                .Where(d => d != ".").Order(StringComparer.Ordinal).ToList()
            : [];
        string saved = finished.Count == 0 ? "no seed, fold or teacher had finished yet"
            : $"{finished.Count} finished part(s) saved ({string.Join(", ", finished.Take(5))}{(finished.Count > 5 ? ", ..." : "")}, each with its metrics.json)";
        return $"interrupted: {saved} in {full}; rerun the same command with --resume to continue";
    }
}
