using System.Text;

namespace GcnKd.Host.Runtime;

/// <summary>A run's log.txt: what the command printed (progress lines, results), appended with a dated header per
/// invocation so a resumed run keeps its history; flushed line by line, so an interrupted run's log ends where it
/// stopped. (Results files are written atomically; a log is a history and grows in place.)</summary>
public static class RunLog
{
    public static StreamWriter Open(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var w = new StreamWriter(new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)) { AutoFlush = true };
        w.WriteLine($"# gcnkd {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}  ({DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC)");
        return w;
    }
}

/// <summary>A writer that writes everything to two writers (standard output and a log).</summary>
public sealed class TeeWriter(TextWriter first, TextWriter second) : TextWriter
{
    public override Encoding Encoding => first.Encoding;
    public override void Write(char value) { first.Write(value); second.Write(value); }
    public override void Write(string? value) { first.Write(value); second.Write(value); }
    public override void Write(char[] buffer, int index, int count) { first.Write(buffer, index, count); second.Write(buffer, index, count); }
    public override void WriteLine(string? value) { first.WriteLine(value); second.WriteLine(value); }
    public override void Flush() { first.Flush(); second.Flush(); }
}
