using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>
/// A numpy array as stored on disk (in a <c>.npy</c> file or a pickle): shape, dtype and the raw element bytes in
/// C order. Supported dtypes: floats f4/f8, signed i1/i2/i4/i8, unsigned u1/u2/u4/u8 and bool b1, either byte
/// order. Conversions read the bytes on demand.
/// </summary>
public sealed class NumpyArray
{
    public int[] Shape { get; }
    /// <summary>'f', 'i', 'u' or 'b'.</summary>
    public char Kind { get; }
    public int ItemSize { get; }
    public bool BigEndian { get; }
    public byte[] Bytes { get; }

    public long Numel => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The numpy type string, e.g. <c>&lt;f4</c>.</summary>
    public string Descr => $"{(ItemSize == 1 ? '|' : BigEndian ? '>' : '<')}{Kind}{ItemSize}";

    /// <summary>
    /// An array from its parts. <paramref name="descr"/> is a numpy type string with or without its byte-order
    /// prefix (<c>&lt;f4</c>, <c>i8</c>); <paramref name="byteOrder"/> ('&lt;', '&gt;', '|', '=') applies when
    /// the descr has none. Throws <see cref="InvalidDataException"/> (callers add the file name) for an
    /// unsupported dtype, Fortran order with more than one non-trivial axis, or a byte count that does not match.
    /// </summary>
    public NumpyArray(int[] shape, string descr, char byteOrder, bool fortranOrder, byte[] bytes)
    {
        (Kind, ItemSize, BigEndian) = ParseDescr(descr, byteOrder);
        if (shape.Any(d => d < 0)) throw new InvalidDataException($"negative dimension in shape ({string.Join(", ", shape)})");
        if (fortranOrder && shape.Count(d => d > 1) > 1)
            throw new InvalidDataException($"Fortran-order array of shape ({string.Join(", ", shape)}); expected C order (save it with np.ascontiguousarray)");
        Shape = shape;
        Bytes = bytes;
        if (bytes.LongLength != Numel * ItemSize)
            throw new InvalidDataException($"{bytes.LongLength} data bytes for shape ({string.Join(", ", shape)}) of {Descr}; expected {Numel * ItemSize}");
    }

    /// <summary>Kind, item size and byte order of a numpy type string (InvalidDataException if unsupported).</summary>
    public static (char Kind, int ItemSize, bool BigEndian) ParseDescr(string descr, char byteOrder)
    {
        var order = byteOrder;
        var body = descr;
        if (body.Length > 0 && "<>|=".Contains(body[0])) (order, body) = (body[0], body[1..]);
        var ok = body.Length >= 2 && "fiub".Contains(body[0])
                 && int.TryParse(body.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                 && (body[0] switch { 'f' => size is 4 or 8, 'b' => size == 1, _ => size is 1 or 2 or 4 or 8 });
        if (!ok) throw new InvalidDataException($"unsupported numpy dtype '{descr}'; expected one of f4, f8, i1..i8, u1..u8, b1");
        return (body[0], int.Parse(body.AsSpan(1), CultureInfo.InvariantCulture), order == '>' || (order == '=' && !BitConverter.IsLittleEndian));
    }

    private double At(long i)
    {
        var s = Bytes.AsSpan((int)(i * ItemSize), ItemSize);
        Span<byte> b = stackalloc byte[8];
        s.CopyTo(b);
        if (BigEndian == BitConverter.IsLittleEndian) b[..ItemSize].Reverse();
        return (Kind, ItemSize) switch
        {
            ('f', 4) => BitConverter.ToSingle(b),
            ('f', _) => BitConverter.ToDouble(b),
            ('i', 1) => (sbyte)b[0],
            ('i', 2) => BitConverter.ToInt16(b),
            ('i', 4) => BitConverter.ToInt32(b),
            ('i', _) => BitConverter.ToInt64(b),
            ('u', 1) or ('b', _) => b[0],
            ('u', 2) => BitConverter.ToUInt16(b),
            ('u', 4) => BitConverter.ToUInt32(b),
            _ => BitConverter.ToUInt64(b),
        };
    }

    public double[] ToDoubles()
    {
        var r = new double[Numel];
        for (long i = 0; i < r.LongLength; i++) r[i] = At(i);
        return r;
    }

    public float[] ToSingles()
    {
        var r = new float[Numel];
        for (long i = 0; i < r.LongLength; i++) r[i] = (float)At(i);
        return r;
    }

    /// <summary>Integer values; floats must hold whole numbers (InvalidDataException otherwise).</summary>
    public long[] ToInt64s()
    {
        var r = new long[Numel];
        for (long i = 0; i < r.LongLength; i++)
        {
            if (Kind == 'i' && ItemSize == 8)
            {
                var s = Bytes.AsSpan((int)(i * 8), 8);
                r[i] = BigEndian ? BinaryPrimitives.ReadInt64BigEndian(s) : BinaryPrimitives.ReadInt64LittleEndian(s);
                continue;
            }
            var v = At(i);
            if (v != Math.Floor(v) || Math.Abs(v) > 9.0e15)
                throw new InvalidDataException($"element {i} is {v}; expected integer values");
            r[i] = (long)v;
        }
        return r;
    }
}

/// <summary>
/// The <c>.npy</c> file format (numpy NEP 1): magic <c>\x93NUMPY</c>, version 1.x (2-byte header length) or 2.x/3.x
/// (4-byte), a Python dict literal header with 'descr', 'fortran_order' and 'shape', then the raw data.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NumpyArray Read(string path)
    {
        var bytes = UserFiles.ReadAllBytes(path);
        return Parse(bytes, path);
    }

    /// <summary>Parse the bytes of a .npy file; <paramref name="source"/> names it in error messages.</summary>
    public static NumpyArray Parse(byte[] bytes, string source)
    {
        GcnKdUserError Bad(string what) => new($"{source}: not a valid .npy file: {what}");
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw Bad("expected the magic string \\x93NUMPY at the start");
        var major = bytes[6];
        int headerLen, start;
        if (major == 1) (headerLen, start) = (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)), 10);
        else if (major is 2 or 3 && bytes.Length >= 12) (headerLen, start) = ((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), 12);
        else throw Bad($"format version {major}.{bytes[7]}; expected version 1, 2 or 3");
        if (headerLen < 0 || start + headerLen > bytes.Length)
            throw Bad($"the header announces {headerLen} bytes but the file ends after {bytes.Length - start} (truncated)");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes, start, headerLen);
        var descr = Regex.Match(header, @"'descr'\s*:\s*'([^']*)'");
        var fortran = Regex.Match(header, @"'fortran_order'\s*:\s*(True|False)");
        var shape = Regex.Match(header, @"'shape'\s*:\s*\(([^)]*)\)");
        if (!descr.Success || !fortran.Success || !shape.Success)
            throw Bad($"header {header.Trim()} lacks 'descr', 'fortran_order' or 'shape'");
        var dims = new List<int>();
        foreach (var part in shape.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var d))
                throw Bad($"shape ({shape.Groups[1].Value}) is not a tuple of non-negative integers");
            dims.Add(d);
        }
        var dataStart = start + headerLen;
        int itemSize;
        try
        {
            itemSize = NumpyArray.ParseDescr(descr.Groups[1].Value, '=').ItemSize;
        }
        catch (InvalidDataException e)
        {
            throw Bad(e.Message);
        }
        var expected = dims.Aggregate(1L, (a, b) => a * b) * itemSize;
        var available = bytes.LongLength - dataStart;
        if (available != expected)
            throw Bad($"shape ({string.Join(", ", dims)}) of {descr.Groups[1].Value} needs {expected} data bytes but the file holds {available} " +
                      (available < expected ? "(truncated)" : "(trailing bytes)"));
        try
        {
            return new NumpyArray(dims.ToArray(), descr.Groups[1].Value, '=', fortran.Groups[1].Value == "True", bytes[dataStart..]);
        }
        catch (InvalidDataException e)
        {
            throw Bad(e.Message);
        }
    }
}
