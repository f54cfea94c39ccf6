using System.Diagnostics;
using System.Text;
using GcnKd.Report;

namespace GcnKd.Host.Runtime;

/// <summary>Standard output on a terminal: a writer that keeps one progress line at the bottom, redrawn in place with
/// a carriage return and erased before any other text is written (so result lines are never mixed into a bar).</summary>
public sealed class StatusLineWriter(TextWriter inner, int columns, TextWriter? log = null) : TextWriter
{
    int shown;   // characters of the progress line now on screen

    /// <summary>The terminal's width: a longer line would wrap and the carriage return could not redraw it.</summary>
    public int Columns { get; } = Math.Max(20, columns);

    public override Encoding Encoding => inner.Encoding;

    /// <summary>Show <paramref name="line"/> in place of the previous progress line.</summary>
    public void Status(string line)
    {
        var sb = new StringBuilder("\r").Append(line);
        if (line.Length < shown) sb.Append(' ', shown - line.Length).Append('\r').Append(line);
        inner.Write(sb.ToString());
        inner.Flush();
        shown = line.Length;
    }

    /// <summary>Erase the progress line, if one is shown.</summary>
    public void Clear()
    {
        if (shown == 0) return;
        inner.Write("\r" + new string(' ', shown) + "\r");
        shown = 0;
    }

    // every text but the progress line also goes to the run's log
    public override void Write(char value) { Clear(); inner.Write(value); log?.Write(value); }
    public override void Write(string? value) { Clear(); inner.Write(value); log?.Write(value); }
    public override void Write(char[] buffer, int index, int count) { Clear(); inner.Write(buffer, index, count); log?.Write(buffer, index, count); }
    public override void WriteLine(string? value) { Clear(); inner.WriteLine(value); log?.WriteLine(value); }
    public override void Flush() { inner.Flush(); log?.Flush(); }
}

/// <summary>The progress of one loop (epochs, folds, generations, iterations). On a <see cref="StatusLineWriter"/>
/// (a terminal) it redraws one line, <c>label [#####.....] 120/350 epochs  1.2 s/epoch  ETA 4m40s  status</c>
/// (<see cref="ProgressText.line"/>), at most ten times a second and at the last unit. Anywhere else (a file, a pipe,
/// a test's writer) it draws nothing: <see cref="Live"/> is false and the caller writes its plain periodic lines, whose
/// format logs and tests rely on.</summary>
public sealed class ProgressBar(TextWriter writer, string label, int total, string unit, int start = 0)
{
    readonly StatusLineWriter? live = writer as StatusLineWriter;
    readonly Stopwatch clock = Stopwatch.StartNew();
    long lastDraw = -1000;

    /// <summary>Whether the bar is drawn (else the caller writes plain lines).</summary>
    public bool Live => live is not null;

    /// <summary><paramref name="done"/> units of the total are done (counted from the loop's start, so a resumed loop
    /// passes its absolute position; the rate counts only the units done since this bar was made).</summary>
    public void Update(int done, string status)
    {
        if (live is null) return;
        long now = clock.ElapsedMilliseconds;
        if (done < total && now - lastDraw < 100) return;
        lastDraw = now;
        live.Status(ProgressText.line(live.Columns, label, done, total, unit, clock.Elapsed.TotalSeconds, done - start, status));
    }

    /// <summary>Run a command with standard output as its progress writer: on a terminal a
    /// <see cref="StatusLineWriter"/> (progress as bars, the last one erased at the end), else standard output itself
    /// (plain lines).</summary>
    /// With <paramref name="logFile"/>, every line but the bars is also appended to that file (the run's log.txt).
    public static T OnConsole<T>(Func<TextWriter, T> command, string? logFile = null)
    {
        using var log = logFile is null ? null : RunLog.Open(logFile);
        if (Console.IsOutputRedirected) return command(log is null ? Console.Out : new TeeWriter(Console.Out, log));
        int columns;
        try { columns = Console.WindowWidth > 0 ? Console.WindowWidth - 1 : 79; }   // 0 when the terminal does not say
        catch (Exception e) when (e is IOException or PlatformNotSupportedException) { columns = 79; }
        var w = new StatusLineWriter(Console.Out, columns, log);
        try { return command(w); }
        finally { w.Clear(); }
    }
}
