using GcnKd.Host.Errors;

namespace GcnKd.Host.Checkpoints;

/// <summary>
/// `gcnkd export --checkpoint FILE.safetensors --format torchsharp --out FILE.dat`: a safetensors checkpoint as a
/// TorchSharp state dict (the format is GcnKd.TorchSharpDat, in Core; its doc comment says how names map). Every
/// tensor is exported under its checkpoint name, in checkpoint order; the safetensors metadata has no place in a .dat
/// file, so the command names the keys it leaves behind. The output is written atomically and only into an existing
/// directory: a mistyped directory is a user error, not a new folder.
/// </summary>
public static class ExportCommand
{
    /// <summary>What an export wrote: the tensors (name and shape), their element count, and the metadata keys
    /// the target format could not hold.</summary>
    public sealed record Summary(string Out, IReadOnlyList<(string Name, int[] Shape)> Tensors, long Values, IReadOnlyList<string> DroppedMetadata);

    public static int Run(GcnKd.Cli.ExportOptions o)
    {
        var s = Execute(o);
        if (s.DroppedMetadata.Count > 0)
            Console.WriteLine($"note: a TorchSharp .dat file holds no metadata; not exported: {string.Join(", ", s.DroppedMetadata)}");
        Console.WriteLine($"exported {s.Tensors.Count} tensor{(s.Tensors.Count == 1 ? "" : "s")} ({s.Values} float32 values) from {o.Checkpoint} to {s.Out} (TorchSharp state dict)");
        return 0;
    }

    public static Summary Execute(GcnKd.Cli.ExportOptions o)
    {
        if (!GcnKd.CliSchema.exportFormats.Contains(o.Format))
            throw new GcnKdUserError($"unknown export format '{o.Format}'; expected one of {string.Join(", ", GcnKd.CliSchema.exportFormats)}");
        string outFull = OutputPath(o.Out, "TorchSharp state dict");
        if (File.Exists(o.Checkpoint) && string.Equals(Path.GetFullPath(o.Checkpoint), outFull, StringComparison.Ordinal))
            throw new GcnKdUserError($"--out {o.Out} is the checkpoint itself; expected a new file name such as model.dat");
        var checkpoint = CheckpointFile.Load(o.Checkpoint);
        var tensors = checkpoint.Tensors.Select(t => Tuple.Create(t.Name, t.Tensor)).ToArray();
        var bytes = TorchSharpDat.encode(tensors);
        CheckpointFile.WriteAtomic(o.Out, "TorchSharp state dict", s => s.Write(bytes));
        return new Summary(outFull,
            checkpoint.Tensors.Select(t => (t.Name, t.Tensor.Shape)).ToList(),
            checkpoint.Tensors.Sum(t => (long)t.Tensor.Numel),
            checkpoint.Metadata.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList());
    }

    /// <summary>The full path of an output file whose directory must already exist.</summary>
    static string OutputPath(string path, string what)
    {
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new GcnKdUserError($"cannot write {what} {path}: {e.Message}", e);
        }
        if (Directory.Exists(full))
            throw new GcnKdUserError($"cannot write {what} {path}: it is a directory; expected a file name such as model.dat");
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            throw new GcnKdUserError($"cannot write {what} {path}: the directory {dir} does not exist");
        return full;
    }
}
