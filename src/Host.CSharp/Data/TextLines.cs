using System.Globalization;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>
/// A text data file as numbered lines, with parsing that turns every malformed line into a
/// <see cref="GcnKdUserError"/> naming the file, the line number (1-based), what was expected and what was found.
/// Fields are separated by commas when the line has any (TU format), else by white space (GIN format).
/// Trailing blank lines are dropped; a blank line anywhere else is an error like any other malformed line.
/// </summary>
internal sealed class TextLines
{
    private readonly string[] lines;

    public string Path { get; }

    /// <summary>Number of lines (trailing blank lines excluded).</summary>
    public int Count { get; }

    private TextLines(string path, string[] lines)
    {
        Path = path;
        this.lines = lines;
        var n = lines.Length;
        while (n > 0 && string.IsNullOrWhiteSpace(lines[n - 1])) n--;
        Count = n;
    }

    public static TextLines Read(string path) => Read(path, () => File.ReadAllLines(path));

    /// <summary>The first <paramref name="maxLines"/> lines only (the rest of the file is not read).</summary>
    public static TextLines ReadFirst(string path, int maxLines) => Read(path, () => File.ReadLines(path).Take(maxLines).ToArray());

    static TextLines Read(string path, Func<string[]> read)
    {
        try
        {
            return new TextLines(path, read());
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GcnKdUserError($"{path} not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"{path} could not be read: {e.Message}", e);
        }
    }

    /// <summary>Line <paramref name="index"/> (0-based; its line number is index + 1).</summary>
    public string this[int index] => lines[index];

    /// <summary>An error about line <paramref name="index"/> (0-based).</summary>
    public GcnKdUserError Error(int index, string expected)
    {
        var got = index < Count ? lines[index] : null;
        var shown = got is null ? "the end of the file" : $"'{(got.Length > 80 ? got[..80] + "..." : got)}'";
        return new GcnKdUserError($"{Path}, line {index + 1}: expected {expected}, got {shown}");
    }

    /// <summary>An error about the file as a whole (a count that does not match another file, ...).</summary>
    public GcnKdUserError FileError(string message) => new($"{Path}: {message}");

    /// <summary>The fields of line <paramref name="index"/> (trimmed; empty list for a blank line). Past the last
    /// line: an error saying that <paramref name="what"/> was expected.</summary>
    public List<(int Start, int Length)> Fields(int index, string what = "another line")
    {
        if (index >= Count) throw Error(index, what);
        var s = lines[index];
        var fields = new List<(int, int)>();
        if (s.Contains(','))
        {
            var start = 0;
            for (var i = 0; i <= s.Length; i++)
            {
                if (i < s.Length && s[i] != ',') continue;
                var (a, b) = (start, i);
                while (a < b && char.IsWhiteSpace(s[a])) a++;
                while (b > a && char.IsWhiteSpace(s[b - 1])) b--;
                fields.Add((a, b - a));
                start = i + 1;
            }
        }
        else
        {
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                var a = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                if (i > a) fields.Add((a, i - a));
            }
        }
        return fields;
    }

    public ReadOnlySpan<char> Field(int index, (int Start, int Length) f) => lines[index].AsSpan(f.Start, f.Length);

    public bool TryInt(int index, (int Start, int Length) f, out int value) =>
        int.TryParse(Field(index, f), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public bool TryDouble(int index, (int Start, int Length) f, out double value) =>
        double.TryParse(Field(index, f), NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    /// <summary>The integers of line <paramref name="index"/>; exactly <paramref name="count"/> of them unless
    /// count is -1 (then at least one).</summary>
    public int[] Ints(int index, string what, int count = -1)
    {
        var fields = Fields(index, what);
        if (count >= 0 ? fields.Count != count : fields.Count == 0)
            throw Error(index, count >= 0 ? $"{count} integer field{(count == 1 ? "" : "s")} ({what})" : what);
        var r = new int[fields.Count];
        for (var k = 0; k < r.Length; k++)
            if (!TryInt(index, fields[k], out r[k]))
                throw Error(index, $"{what}: field {k + 1} is not an integer");
        return r;
    }

    /// <summary>One integer per line, for every line of the file.</summary>
    public int[] IntColumn(string what)
    {
        var r = new int[Count];
        for (var i = 0; i < Count; i++) r[i] = Ints(i, what, 1)[0];
        return r;
    }

    /// <summary>The numbers of line <paramref name="index"/> (exactly <paramref name="count"/> unless -1).</summary>
    public double[] Doubles(int index, string what, int count = -1)
    {
        var fields = Fields(index, what);
        if (count >= 0 ? fields.Count != count : fields.Count == 0)
            throw Error(index, count >= 0 ? $"{count} numeric field{(count == 1 ? "" : "s")} ({what})" : what);
        var r = new double[fields.Count];
        for (var k = 0; k < r.Length; k++)
            if (!TryDouble(index, fields[k], out r[k]))
                throw Error(index, $"{what}: field {k + 1} is not a number");
        return r;
    }
}
