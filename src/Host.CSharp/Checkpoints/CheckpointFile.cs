using GcnKd.Host.Errors;
using Microsoft.FSharp.Collections;

namespace GcnKd.Host.Checkpoints;

/// <summary>The tensors (in file order, as float32) and string metadata of a checkpoint.</summary>
public sealed record Checkpoint(IReadOnlyList<(string Name, Tensor Tensor)> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The tensors by name.</summary>
    public IReadOnlyDictionary<string, Tensor> ByName() => Tensors.ToDictionary(t => t.Name, t => t.Tensor);
}

/// <summary>
/// Safetensors checkpoints on disk. The format itself is GcnKd.Safetensors (pure, in Core); this class only does the
/// file part: writes are atomic (a temporary file next to the target, flushed, then renamed over it), so the target
/// path holds either the previous complete file or the new complete file, never a partial one; reads turn every
/// failure into a <see cref="GcnKdUserError"/> naming the file.
/// </summary>
public static class CheckpointFile
{
    /// <summary>Write tensors (as F32) and optional metadata to <paramref name="path"/>, atomically. The tensors are
    /// enumerated before the disk is touched, so a failing enumerator leaves everything as it was.</summary>
    public static void Save(string path, IEnumerable<(string, Tensor)> tensors, IDictionary<string, string>? metadata = null)
    {
        var list = tensors.Select(t => Tuple.Create(t.Item1, t.Item2)).ToArray();
        var meta = new FSharpMap<string, string>((metadata ?? new Dictionary<string, string>()).Select(kv => Tuple.Create(kv.Key, kv.Value)));
        var bytes = Safetensors.encode(list, meta);
        WriteAtomic(path, "checkpoint", s => s.Write(bytes));
    }

    /// <summary>Write a parameter tree (or optimiser state): one tensor per leaf, named by its dotted path.</summary>
    public static void SaveTree<P>(string path, P tree, IDictionary<string, string>? metadata = null) =>
        Save(path, Tree.leaves(tree).Select(t => (t.Item1, t.Item2)), metadata);

    /// <summary>Read a checkpoint. Missing, unreadable or corrupt files raise <see cref="GcnKdUserError"/>.</summary>
    public static Checkpoint Load(string path)
    {
        if (Directory.Exists(path))
            throw new GcnKdUserError($"checkpoint {path} is a directory; expected a safetensors file");
        var bytes = UserFiles.ReadAllBytes(path, "checkpoint");
        try
        {
            var decoded = Safetensors.decode(bytes);
            var tensors = decoded.Item1.Select(t => (t.Item1, t.Item2)).ToList();
            var metadata = decoded.Item2.ToDictionary(kv => kv.Key, kv => kv.Value);
            return new Checkpoint(tensors, metadata);
        }
        catch (SafetensorsError e)
        {
            throw new GcnKdUserError($"checkpoint {path} is not a valid safetensors file: {e.Message}", e);
        }
    }

    /// <summary>Read a checkpoint into a tree shaped like <paramref name="template"/>; a missing parameter or a shape
    /// mismatch raises <see cref="GcnKdUserError"/> naming the file and the parameter.</summary>
    public static (P Tree, IReadOnlyDictionary<string, string> Metadata) LoadTree<P>(string path, P template)
    {
        var checkpoint = Load(path);
        try
        {
            return (Tree.ofNamed(template, checkpoint.ByName()), checkpoint.Metadata);
        }
        catch (ArgumentException e)
        {
            throw new GcnKdUserError($"checkpoint {path} does not fit the model: {e.Message}", e);
        }
    }

    /// <summary>
    /// Write a file atomically: <paramref name="write"/> fills <c>path + ".tmp-&lt;random&gt;"</c> in the same directory
    /// (created if missing), which is flushed to disk and renamed over <paramref name="path"/>. If anything fails the
    /// temporary file is removed and the previous file at <paramref name="path"/> is untouched. I/O failures become a
    /// <see cref="GcnKdUserError"/> ("cannot write {what} {path}: ..."); exceptions from <paramref name="write"/>
    /// propagate unchanged. Usable for any output (checkpoints, metrics JSON/CSV).
    /// </summary>
    public static void WriteAtomic(string path, string what, Action<Stream> write)
    {
        string full, tmp;
        try
        {
            full = Path.GetFullPath(path);
            if (Directory.Exists(full))
                throw new GcnKdUserError($"cannot write {what} {path}: it is a directory");
            var dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..12];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new GcnKdUserError($"cannot write {what} {path}: {e.Message}", e);
        }
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is IOException or UnauthorizedAccessException)
                throw new GcnKdUserError($"cannot write {what} {path}: {e.Message}", e);
            throw;
        }
    }
}
