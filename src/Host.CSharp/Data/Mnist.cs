using System.Buffers.Binary;
using System.IO.Compression;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>One MNIST split: <see cref="Count"/> images of Rows x Cols pixels scaled to [0, 1] (row-major, image
/// after image) and their labels 0..9.</summary>
public sealed record MnistSplit(float[] Pixels, int[] Labels, int Rows, int Cols)
{
    public int Count => Labels.Length;

    /// <summary>The images as a [N, 1, Rows, Cols] tensor (the layout of <c>Conv.conv2d</c>).</summary>
    public Tensor Images() => TensorModule.ofArray([Count, 1, Rows, Cols], Pixels);
}

/// <summary>
/// MNIST in its original IDX files (LeCun et al. 1998), gzip-compressed as published:
/// <c>{train,t10k}-images-idx3-ubyte.gz</c> (big-endian magic 2051, count, rows, cols, then uint8 pixels) and
/// <c>{train,t10k}-labels-idx1-ubyte.gz</c> (magic 2049, count, then uint8 labels). An uncompressed file of the same
/// name without <c>.gz</c> is read when the .gz is absent. Also the MNIST point clouds (our ModelNet40 stand-in),
/// built by the pure <c>PointClouds</c> module of Core.
/// </summary>
public static class Mnist
{
    public const int NumClasses = 10;
    public const int ImageMagic = 2051;
    public const int LabelMagic = 2049;

    public static string ImagesFile(string split) => $"{split}-images-idx3-ubyte.gz";
    public static string LabelsFile(string split) => $"{split}-labels-idx1-ubyte.gz";

    /// <summary>Load split "train" or "t10k" from <c>root/MNIST</c>.</summary>
    public static MnistSplit Load(DataRoot root, string split, string folder = "MNIST")
    {
        if (split is not ("train" or "t10k"))
            throw new ArgumentException($"Mnist.Load: split '{split}', expected 'train' or 't10k'", nameof(split));
        var dir = Path.Combine(root.Path, folder);
        string Pick(string gz) => File.Exists(Path.Combine(dir, gz)) || !File.Exists(Path.Combine(dir, gz[..^3])) ? gz : gz[..^3];
        var files = new[] { Pick(ImagesFile(split)), Pick(LabelsFile(split)) };
        root.Require("MNIST", folder, files);
        return LoadFiles(Path.Combine(dir, files[0]), Path.Combine(dir, files[1]));
    }

    public static MnistSplit LoadFiles(string imagesPath, string labelsPath)
    {
        var images = ReadIdx(imagesPath, ImageMagic, 3);
        var labels = ReadIdx(labelsPath, LabelMagic, 1);
        if (images.Dims[0] != labels.Dims[0])
            throw new GcnKdUserError($"{labelsPath}: {labels.Dims[0]} labels, but {Path.GetFileName(imagesPath)} has {images.Dims[0]} images; expected one label per image");
        var pixels = new float[images.Data.Length];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = images.Data[i] / 255f;
        var lab = new int[labels.Data.Length];
        for (var i = 0; i < lab.Length; i++)
        {
            lab[i] = labels.Data[i];
            if (lab[i] >= NumClasses) throw new GcnKdUserError($"{labelsPath}: label {lab[i]} of item {i}; expected a digit 0..9");
        }
        return new MnistSplit(pixels, lab, images.Dims[1], images.Dims[2]);
    }

    /// <summary>An IDX file of unsigned bytes with the given magic and rank: its dimensions and data.</summary>
    private static (int[] Dims, byte[] Data) ReadIdx(string path, int magic, int rank)
    {
        byte[] bytes;
        try
        {
            if (path.EndsWith(".gz", StringComparison.Ordinal))
            {
                using var file = File.OpenRead(path);
                using var gz = new GZipStream(file, CompressionMode.Decompress);
                using var mem = new MemoryStream();
                gz.CopyTo(mem);
                bytes = mem.ToArray();
            }
            else bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GcnKdUserError($"{path} not found", e);
        }
        catch (InvalidDataException e)
        {
            throw new GcnKdUserError($"{path}: not a valid gzip file ({e.Message}); expected a gzip-compressed IDX file", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"{path} could not be read: {e.Message}", e);
        }
        var header = 4 + 4 * rank;
        if (bytes.Length < header)
            throw new GcnKdUserError($"{path}: {bytes.Length} bytes, too short for the {header}-byte IDX header (truncated)");
        var m = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (m != magic)
            throw new GcnKdUserError($"{path}: magic number {m} (0x{m:x8}); expected {magic} (0x{magic:x8}, an IDX file of unsigned bytes with {rank} dimension{(rank > 1 ? "s" : "")})");
        var dims = new int[rank];
        long size = 1;
        for (var d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (dims[d] < 0) throw new GcnKdUserError($"{path}: negative dimension {dims[d]} in the IDX header");
            size *= dims[d];
        }
        if (bytes.Length - header != size)
            throw new GcnKdUserError(
                $"{path}: the header declares {string.Join(" x ", dims)} = {size} bytes of data but the file holds {bytes.Length - header}" +
                (bytes.Length - header < size ? " (truncated)" : " (trailing bytes)"));
        return (dims, bytes[header..]);
    }

    /// <summary>
    /// MNIST point clouds: every digit of both splits as <paramref name="numPoints"/> points sampled from its pixels
    /// above <paramref name="threshold"/>, centred and scaled into the unit ball (<c>PointClouds.dataset</c>),
    /// deterministic by <paramref name="seed"/>.
    /// </summary>
    public static PointCloudDataset PointClouds(MnistSplit train, MnistSplit test, int numPoints, int seed, float threshold = 0.5f)
    {
        if (train.Rows != test.Rows || train.Cols != test.Cols)
            throw new ArgumentException($"Mnist.PointClouds: train images are {train.Rows}x{train.Cols}, test images {test.Rows}x{test.Cols}");
        return GcnKd.PointClouds.dataset($"MNIST-points-{numPoints}", RngModule.create(seed), numPoints, threshold, train.Rows, train.Cols,
            train.Pixels, train.Labels, test.Pixels, test.Labels, NumClasses);
    }

    public static PointCloudDataset PointClouds(DataRoot root, int numPoints, int seed, float threshold = 0.5f) =>
        PointClouds(Load(root, "train"), Load(root, "t10k"), numPoints, seed, threshold);
}
