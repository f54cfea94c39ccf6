using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>An object rebuilt from a pickle whose class is on the allow-list (e.g. a scipy csr_matrix): its class
/// name and its attribute dict (what <c>__setstate__</c> / BUILD gave it).</summary>
public sealed class PickledObject(string className)
{
    public string ClassName { get; } = className;
    public Dictionary<string, object?> State { get; } = new();
}

/// <summary>
/// A RESTRICTED unpickler for the Python 2 pickles of the Planetoid datasets (protocols 0-2): numpy arrays
/// (<c>numpy.core.multiarray._reconstruct</c> + BUILD), scipy CSR matrices, <c>collections.defaultdict</c> of
/// lists. It never runs code: GLOBAL may name only the classes and functions on <see cref="Allowed"/>, and each
/// of those is interpreted here, not called. Anything else, and any opcode outside protocol 0-2's data subset,
/// is a <see cref="GcnKdUserError"/> naming the file, the byte offset and what was found.
/// Results: None -> null, bool, int -> long, float -> double, str -> string (Python 2 str as Latin-1, one char
/// per byte), tuple -> object?[], list -> List&lt;object?&gt;, dict/defaultdict -> Dictionary&lt;object, object?&gt;,
/// ndarray -> <see cref="NumpyArray"/>, other allowed instances -> <see cref="PickledObject"/>.
/// </summary>
public static class Pickle
{
    /// <summary>Module-qualified names GLOBAL may load (Python 2 names and their Python 3 spellings).</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>
    {
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
        "scipy.sparse.csr.csr_matrix", "scipy.sparse._csr.csr_matrix", "collections.defaultdict",
        "copy_reg._reconstructor", "copyreg._reconstructor",
        "__builtin__.object", "__builtin__.list", "__builtin__.dict", "__builtin__.int", "__builtin__.float", "__builtin__.tuple",
        "builtins.object", "builtins.list", "builtins.dict", "builtins.int", "builtins.float", "builtins.tuple",
    };

    private sealed record Global(string Name);
    private sealed class PendingArray { public NumpyArray? Value; }
    private sealed class Dtype(string descr) { public string Descr = descr; public char Order = '='; }

    public static object? Load(string path)
    {
        var bytes = UserFiles.ReadAllBytes(path);
        return Load(bytes, path);
    }

    /// <summary>Unpickle <paramref name="data"/>; <paramref name="source"/> names it in error messages.</summary>
    public static object? Load(byte[] data, string source)
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        var pos = 0;
        var opPos = 0;

        GcnKdUserError Bad(string what) => new($"{source}: not a supported pickle: {what} (opcode at byte {opPos})");
        ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || pos + n > data.Length) throw Bad($"truncated: {n} more bytes expected, {data.Length - pos} left");
            var s = data.AsSpan(pos, (int)n);
            pos += (int)n;
            return s;
        }
        string Line()
        {
            var end = Array.IndexOf(data, (byte)'\n', pos);
            if (end < 0) throw Bad("truncated: a newline-terminated argument expected");
            var s = Encoding.Latin1.GetString(data, pos, end - pos);
            pos = end + 1;
            return s;
        }
        object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count == marks.Peek())) throw Bad("stack underflow");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        object? Top() => stack.Count > 0 ? stack[^1] : throw Bad("stack underflow");
        List<object?> PopMark()
        {
            if (marks.Count == 0) throw Bad("no MARK on the stack");
            var m = marks.Pop();
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        void SetItems(object? target, List<object?> kv)
        {
            if (target is not Dictionary<object, object?> d) throw Bad($"SETITEM(S) on a {Describe(target)}, expected a dict");
            for (var i = 0; i + 1 < kv.Count; i += 2) d[kv[i] ?? throw Bad("None as a dict key")] = kv[i + 1];
        }
        void Append(object? target, IEnumerable<object?> items)
        {
            if (target is not List<object?> l) throw Bad($"APPEND(S) on a {Describe(target)}, expected a list");
            l.AddRange(items);
        }

        while (true)
        {
            if (pos >= data.Length) throw Bad("truncated: the pickle ends without STOP");
            opPos = pos;
            var op = data[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    var proto = Take(1)[0];
                    if (proto > 2) throw Bad($"protocol {proto}; expected a Python 2 pickle (protocol 0-2)");
                    break;
                case (byte)'.': // STOP
                    if (stack.Count != 1) throw Bad($"STOP with {stack.Count} items on the stack, expected 1");
                    return Resolve(stack[0], Bad);
                case (byte)'(': marks.Push(stack.Count); break;
                case (byte)'0': Pop(); break;
                case (byte)'1': PopMark(); break;
                case (byte)'2': stack.Add(Top()); break;
                case (byte)'N': stack.Add(null); break;
                case 0x88: stack.Add(true); break;
                case 0x89: stack.Add(false); break;
                case (byte)'I':
                {
                    var s = Line().Trim();
                    if (s == "00" || s == "01") stack.Add(s == "01");
                    else stack.Add(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Bad($"INT '{s}'"));
                    break;
                }
                case (byte)'L':
                {
                    var s = Line().Trim().TrimEnd('L');
                    stack.Add(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Bad($"LONG '{s}' (beyond 64 bits?)"));
                    break;
                }
                case (byte)'F':
                {
                    var s = Line().Trim();
                    stack.Add(double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw Bad($"FLOAT '{s}'"));
                    break;
                }
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': stack.Add((long)Take(1)[0]); break;
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 0x8a: // LONG1
                {
                    var n = Take(1)[0];
                    if (n > 8) throw Bad($"LONG1 of {n} bytes (beyond 64 bits)");
                    var b = Take(n);
                    long v = 0;
                    for (var i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                    if (n is > 0 and < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                    stack.Add(v);
                    break;
                }
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'U': stack.Add(Encoding.Latin1.GetString(Take(Take(1)[0]))); break;
                case (byte)'T': stack.Add(Encoding.Latin1.GetString(Take(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break;
                case (byte)'X': stack.Add(Encoding.UTF8.GetString(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break;
                case (byte)')': stack.Add(Array.Empty<object?>()); break;
                case (byte)'t': stack.Add(PopMark().ToArray()); break;
                case 0x85: { var a = Pop(); stack.Add(new[] { a }); break; }
                case 0x86: { var b = Pop(); var a = Pop(); stack.Add(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(new[] { a, b, c }); break; }
                case (byte)']': stack.Add(new List<object?>()); break;
                case (byte)'l': stack.Add(PopMark()); break;
                case (byte)'a': { var v = Pop(); Append(Top(), [v]); break; }
                case (byte)'e': { var items = PopMark(); Append(Top(), items); break; }
                case (byte)'}': stack.Add(new Dictionary<object, object?>()); break;
                case (byte)'d': { var kv = PopMark(); var d = new Dictionary<object, object?>(); SetItems(d, kv); stack.Add(d); break; }
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(Top(), [k, v]); break; }
                case (byte)'u': { var kv = PopMark(); SetItems(Top(), kv); break; }
                case (byte)'c': // GLOBAL
                {
                    var name = Line() + "." + Line();
                    if (!Allowed.Contains(name))
                        throw Bad($"GLOBAL {name} is not allowed; this reader loads only numpy arrays, scipy CSR matrices and dicts/lists (allowed: {string.Join(", ", Allowed.Order())})");
                    stack.Add(new Global(name));
                    break;
                }
                case (byte)'R': { var args = Pop(); var f = Pop(); stack.Add(Call(f, args, Bad)); break; }
                case 0x81: // NEWOBJ
                {
                    var args = Pop();
                    var cls = Pop();
                    if (cls is not Global g || !(g.Name.EndsWith(".csr_matrix") || g.Name.EndsWith(".object")) || args is not object?[])
                        throw Bad($"NEWOBJ of {Describe(cls)}; only csr_matrix and object instances are supported");
                    stack.Add(new PickledObject(g.Name));
                    break;
                }
                case (byte)'b': { var state = Pop(); Build(Top(), state, Bad); break; }
                case (byte)'q': memo[Take(1)[0]] = Top(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break;
                case (byte)'p': memo[ParseIndex(Line(), Bad)] = Top(); break;
                case (byte)'h': stack.Add(Get(memo, Take(1)[0], Bad)); break;
                case (byte)'j': stack.Add(Get(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), Bad)); break;
                case (byte)'g': stack.Add(Get(memo, ParseIndex(Line(), Bad), Bad)); break;
                default:
                    throw Bad($"opcode 0x{op:x2} ('{(op is >= 32 and < 127 ? (char)op : '?')}') is outside the protocol 0-2 subset this reader supports");
            }
        }
    }

    private static long ParseIndex(string s, Func<string, GcnKdUserError> bad) =>
        long.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw bad($"memo index '{s}'");

    private static object? Get(Dictionary<long, object?> memo, long k, Func<string, GcnKdUserError> bad) =>
        memo.TryGetValue(k, out var v) ? v : throw bad($"memo entry {k} read before it was written");

    private static string Describe(object? o) => o switch
    {
        null => "None",
        Global g => g.Name,
        PickledObject p => p.ClassName + " instance",
        _ => o.GetType().Name,
    };

    /// <summary>The allowed callables, interpreted (never executed).</summary>
    private static object? Call(object? f, object? args, Func<string, GcnKdUserError> bad)
    {
        if (f is not Global g || args is not object?[] a) throw bad($"REDUCE of {Describe(f)}; expected an allowed global and an argument tuple");
        switch (g.Name)
        {
            case "numpy.core.multiarray._reconstruct" or "numpy._core.multiarray._reconstruct":
                if (a.Length < 1 || a[0] is not Global { Name: "numpy.ndarray" })
                    throw bad("_reconstruct of something other than numpy.ndarray");
                return new PendingArray();
            case "numpy.dtype":
                if (a.Length < 1 || a[0] is not string descr) throw bad("numpy.dtype without a type string");
                return new Dtype(descr);
            case "collections.defaultdict":
                return new Dictionary<object, object?>();
            case "copy_reg._reconstructor" or "copyreg._reconstructor":
                if (a.Length != 3 || a[0] is not Global cls || !(cls.Name.EndsWith(".csr_matrix") || cls.Name.EndsWith(".object")) || a[2] is not null)
                    throw bad("copy_reg._reconstructor of something other than a csr_matrix or object");
                return new PickledObject(cls.Name);
            default:
                throw bad($"a call of {g.Name}, which this reader does not interpret");
        }
    }

    private static void Build(object? target, object? state, Func<string, GcnKdUserError> bad)
    {
        switch (target)
        {
            case PendingArray p:
            {
                // ndarray.__setstate__((version,) shape, dtype, is_fortran, rawdata)
                if (state is not object?[] s || s.Length is < 4 or > 5) throw bad("ndarray state is not a 4- or 5-tuple");
                if (s.Length == 5) s = s[1..];
                if (s[0] is not object?[] shape || shape.Any(d => d is not long) || s[1] is not Dtype dt || s[2] is not bool fortran)
                    throw bad("ndarray state (shape, dtype, is_fortran, data) has unexpected types");
                var raw = s[3] switch
                {
                    string str => Encoding.Latin1.GetBytes(str),
                    _ => throw bad($"ndarray data of type {Describe(s[3])}; object arrays are not supported"),
                };
                try
                {
                    p.Value = new NumpyArray(shape.Select(d => checked((int)(long)d!)).ToArray(), dt.Descr, dt.Order, fortran, raw);
                }
                catch (Exception e) when (e is InvalidDataException or OverflowException)
                {
                    throw bad("ndarray: " + e.Message);
                }
                break;
            }
            case Dtype d:
                // dtype.__setstate__((version, byteorder, subarray, names, fields, elsize, alignment, flags))
                if (state is not object?[] ds || ds.Length < 2 || ds[1] is not string order || order.Length != 1)
                    throw bad("dtype state without a byte order");
                if (ds.Length > 3 && ds[3] is not null) throw bad("structured dtypes are not supported");
                d.Order = order[0];
                break;
            case PickledObject o:
            {
                var dict = state switch
                {
                    Dictionary<object, object?> x => x,
                    object?[] { Length: 2 } t when t[0] is Dictionary<object, object?> x => x,
                    _ => throw bad($"state of {o.ClassName} is a {Describe(state)}, expected a dict"),
                };
                foreach (var (k, v) in dict) o.State[k as string ?? throw bad($"attribute name {Describe(k)} is not a string")] = v;
                break;
            }
            default:
                throw bad($"BUILD on a {Describe(target)}");
        }
    }

    /// <summary>Replace the placeholders of numpy arrays by the arrays (every array must have had its BUILD).</summary>
    private static object? Resolve(object? o, Func<string, GcnKdUserError> bad)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        object? Go(object? x)
        {
            switch (x)
            {
                case PendingArray p: return p.Value ?? throw bad("an ndarray without its state");
                case Dtype or Global: throw bad($"a bare {Describe(x)} in the result");
                case object?[] t:
                    if (seen.Add(t)) for (var i = 0; i < t.Length; i++) t[i] = Go(t[i]);
                    return t;
                case List<object?> l:
                    if (seen.Add(l)) for (var i = 0; i < l.Count; i++) l[i] = Go(l[i]);
                    return l;
                case Dictionary<object, object?> d:
                    if (seen.Add(d)) foreach (var k in d.Keys.ToList()) d[k] = Go(d[k]);
                    return d;
                case PickledObject po:
                    if (seen.Add(po)) foreach (var k in po.State.Keys.ToList()) po.State[k] = Go(po.State[k]);
                    return po;
                default: return x;
            }
        }
        return Go(o);
    }
}
