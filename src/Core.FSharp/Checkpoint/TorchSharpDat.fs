/// TorchSharp's `.dat` state-dict format (what `torch.nn.Module.save(path)` writes and `Module.load(path)` reads), as
/// bytes in and bytes out; the host does the file part. Read from TorchSharp's source (dotnet/TorchSharp):
///
/// - `src/TorchSharp/NN/Module.cs`, `Module.save(BinaryWriter)` / `save_state_dict`: `writer.Encode(sd.Count)`, then
///   for every (key, tensor) of `state_dict()`: `writer.Write(key)` and `tensor.Save(writer)`. `Module.load(reader,
///   strict = true)` reads the count (strict: it must equal the module's `state_dict().Count`), then per entry
///   `reader.ReadString()` (strict: the module must have a parameter or buffer of that name) and `sd[key].Load(reader)`.
/// - `src/TorchSharp/Tensor/TensorExtensionMethods.cs`, `Save(this Tensor, BinaryWriter)`: `Encode((int)dtype)`,
///   `Encode(shape.Length)`, `Encode(d)` for every dimension, then `writer.Write(tensor.bytes)`: the contiguous CPU
///   storage, element size x element count bytes in the machine's byte order (little-endian on every platform
///   TorchSharp ships for). `Load` refuses a dtype or shape that differs from the target tensor's.
/// - `src/TorchSharp/Utils/LEB128Codec.cs`: `Encode`/`Decode` are unsigned LEB128 (7 bits per byte, least
///   significant group first, the high bit set on every byte but the last; negative values refused). The
///   "// 4 bytes" and "n * 8 bytes" comments next to the calls in Save are stale: every count is LEB128.
/// - `src/TorchSharp/Tensor/Tensor.cs`, `enum ScalarType : sbyte`: Byte 0, Int8 1, Int16 2, Int32 3, Int64 4,
///   Float16 5, Float32 6, Float64 7, ComplexFloat32 9, ComplexFloat64 10, Bool 11, BFloat16 15.
/// - `src/Python/exportsd.py` and `importsd.py` write and read the same layout from PyTorch (leb128 counts, code 6
///   for float32), a second reading of it.
///
/// So a file is, with `uleb` an unsigned LEB128 number and `str` a .NET BinaryWriter string (the UTF-8 byte count as a
/// 7-bit encoded int, which for a non-negative value is the same LEB128, then the UTF-8 bytes):
///
///     uleb count
///     count x { str name; uleb dtype (6 = Float32); uleb rank; rank x uleb dim; 4 x prod(dims) bytes little-endian float32 }
///
/// No header, no magic number, no metadata, no alignment; a rank-0 tensor has one element. GcnKd writes Float32 only
/// (its tensors are float32) and reads Float32 only, naming the element type of anything else.
///
/// Names are written exactly as given, nothing renamed or dropped. GcnKd's checkpoints name parameters by their path
/// in the parameter record (`Layers.0.Mlp.Layers.0.W`, `Layers.0.Norm.Gamma`) and batch-norm running statistics by
/// `state.` + their path in the state record (`state.Layers.0.Norm.Mean`). TorchSharp names a module's entries by the
/// same kind of path: `RegisterComponents` registers every Module / Parameter / Tensor field under its field name (or
/// `[ComponentName(Name = "...")]`, `src/TorchSharp/Utils/ComponentNameAttribute.cs`), joined by dots, list elements
/// by index (docfx/articles/saveload.md: the names must be exactly the same). So a TorchSharp module loads the file
/// with `strict: true` when its fields mirror GcnKd's record fields (`Layers` a ModuleList, each with a Parameter
/// `W` and `B`, ...) and a submodule field `state` mirrors the running statistics as buffers; otherwise load with
/// `strict: false` and check `loadedParameters`. Shapes are GcnKd's: a dense layer's `W` is [in, out] (y = x W + b),
/// where `torch.nn.Linear.weight` is [out, in], so `Load` would refuse it for a Linear; use a Parameter and
/// `x.matmul(W)`, or transpose after loading.
namespace GcnKd

open System
open System.Collections.Generic
open System.Text

/// A byte string that is not a TorchSharp state dict GcnKd can read; the message says what was expected and found.
type TorchSharpDatError(message: string) =
    inherit Exception(message)

[<RequireQualifiedAccess>]
module TorchSharpDat =
    let private fail fmt = Printf.kprintf (fun s -> raise (TorchSharpDatError s)) fmt

    /// TorchSharp's ScalarType code of float32, the one element type GcnKd writes and reads.
    [<Literal>]
    let Float32 = 6L

    /// The name of a TorchSharp ScalarType code (torch.ScalarType in src/TorchSharp/Tensor/Tensor.cs).
    let scalarTypeName (code: int64) =
        match code with
        | 0L -> "Byte" | 1L -> "Int8" | 2L -> "Int16" | 3L -> "Int32" | 4L -> "Int64" | 5L -> "Float16"
        | 6L -> "Float32" | 7L -> "Float64" | 9L -> "ComplexFloat32" | 10L -> "ComplexFloat64" | 11L -> "Bool"
        | 15L -> "BFloat16" | _ -> "unknown"

    // ---- encoding ----

    let private lebLength (value: int64) =
        let mutable n = 1
        let mutable v = value >>> 7
        while v <> 0L do
            n <- n + 1
            v <- v >>> 7
        n

    /// Unsigned LEB128 of a non-negative value at `out.[pos..]`; the position after it.
    let private writeLeb (out: byte[]) (pos: int) (value: int64) =
        let mutable v = value
        let mutable p = pos
        while v >= 0x80L do
            out.[p] <- byte (v &&& 0x7FL) ||| 0x80uy
            v <- v >>> 7
            p <- p + 1
        out.[p] <- byte v
        p + 1

    /// BinaryWriter's encoding: UTF-8 that refuses unpaired surrogates instead of replacing them.
    let private utf8 = UTF8Encoding(false, true)

    /// The file bytes of `tensors` as TorchSharp's Module.save writes them: entries in the given order, Float32.
    let encode (tensors: (string * Tensor)[]) : byte[] =
        if isNull tensors then nullArg "tensors"
        let seen = HashSet<string>()
        let names =
            tensors |> Array.map (fun (name, t) ->
                if isNull name then invalidArg "tensors" "TorchSharpDat.encode: a tensor name is null"
                if not (seen.Add name) then invalidArg "tensors" (sprintf "TorchSharpDat.encode: tensor name '%s' appears twice" name)
                if isNull t then invalidArg "tensors" (sprintf "TorchSharpDat.encode: tensor '%s' is null" name)
                try utf8.GetBytes name
                with :? EncoderFallbackException ->
                    invalidArg "tensors" (sprintf "TorchSharpDat.encode: tensor name '%s' is not valid UTF-16 text (an unpaired surrogate)" name))
        let entryLength (nameBytes: byte[]) (t: Tensor) =
            int64 (lebLength (int64 nameBytes.Length) + nameBytes.Length + lebLength Float32 + lebLength (int64 t.Rank))
            + (t.Shape |> Array.sumBy (fun d -> int64 (lebLength (int64 d))))
            + 4L * int64 t.Numel
        let total = int64 (lebLength (int64 tensors.Length)) + Array.fold2 (fun acc n (_, t) -> acc + entryLength n t) 0L names tensors
        if total > int64 Array.MaxLength then invalidArg "tensors" (sprintf "TorchSharpDat.encode: %d bytes exceed the largest array" total)
        let out = Array.zeroCreate<byte> (int total)
        let mutable pos = writeLeb out 0 (int64 tensors.Length)
        Array.iter2 (fun (nameBytes: byte[]) (_, t: Tensor) ->
            pos <- writeLeb out pos (int64 nameBytes.Length)
            Buffer.BlockCopy(nameBytes, 0, out, pos, nameBytes.Length)
            pos <- pos + nameBytes.Length
            pos <- writeLeb out pos Float32
            pos <- writeLeb out pos (int64 t.Rank)
            for d in t.Shape do pos <- writeLeb out pos (int64 d)
            Float32Bytes.write t.Data (Span<byte>(out, pos, 4 * t.Numel))
            pos <- pos + 4 * t.Numel) names tensors
        out

    // ---- decoding ----

    /// Reads `bytes` front to back; every read names what it was reading when the bytes do not fit.
    type private Reader(bytes: byte[]) =
        let mutable pos = 0
        member _.Pos = pos
        member _.Remaining = bytes.Length - pos

        /// An unsigned LEB128 number of at most 9 bytes (what fits in a non-negative int64, all TorchSharp writes).
        member _.Leb(what: string) : int64 =
            let start = pos
            let mutable value = 0L
            let mutable shift = 0
            let mutable fin = false
            while not fin do
                if pos >= bytes.Length then fail "%s: the bytes end inside the LEB128 number that starts at byte %d" what start
                if shift > 56 then fail "%s: the LEB128 number at byte %d runs past 9 bytes (larger than a non-negative int64)" what start
                let b = bytes.[pos]
                pos <- pos + 1
                value <- value ||| (int64 (b &&& 0x7Fuy) <<< shift)
                shift <- shift + 7
                fin <- b &&& 0x80uy = 0uy
            value

        member r.Bytes(count: int, what: string) : ReadOnlySpan<byte> =
            if count > r.Remaining then fail "%s needs %d bytes at byte %d, but only %d remain" what count pos r.Remaining
            let s = ReadOnlySpan<byte>(bytes, pos, count)
            pos <- pos + count
            s

    let private dimsText (dims: int64[]) = "[" + (dims |> Array.map string |> String.concat ", ") + "]"

    let private readName (r: Reader) (index: int64) =
        let what = sprintf "entry %d's name" index
        let length = r.Leb(what + " length")
        // BinaryReader.ReadString reads the length as a 7-bit encoded int32
        if length > int64 Int32.MaxValue then fail "%s: the length %d exceeds a .NET string's 7-bit encoded int32" what length
        let raw = r.Bytes(int length, what)
        if not (Unicode.Utf8.IsValid raw) then fail "%s is not valid UTF-8 text" what
        utf8.GetString raw

    let private readTensor (r: Reader) (index: int64) (name: string) =
        let what = sprintf "entry %d ('%s')" index name
        let dtype = r.Leb(what + " element type")
        if dtype <> Float32 then
            fail "%s: element type %s (ScalarType %d); GcnKd reads Float32 (6) only" what (scalarTypeName dtype) dtype
        let rank = r.Leb(what + " rank")
        if rank > int64 Shape.MaxRank then fail "%s: rank %d exceeds GcnKd's maximum rank %d" what rank Shape.MaxRank
        let dims = Array.init (int rank) (fun i -> r.Leb(sprintf "%s dimension %d" what i))
        // element count, refusing overflow and anything beyond an array's reach
        let mutable numel = 1L
        for d in dims do
            if d > int64 Int32.MaxValue then fail "%s: dimension %d of shape %s is too large" what d (dimsText dims)
            if d > 0L && numel > int64 (Array.MaxLength / 4) / d then fail "%s: shape %s has too many elements" what (dimsText dims)
            numel <- numel * d
        let data = r.Bytes(4 * int numel, sprintf "%s: the Float32 data of shape %s" what (dimsText dims))
        let values = Array.zeroCreate<float32> (int numel)
        Float32Bytes.readInto data values
        Tensor.Wrap(dims |> Array.map int, values)

    /// The entries (in file order, as float32 tensors) of a TorchSharp state dict. Raises TorchSharpDatError on
    /// anything that is not a well-formed file of Float32 tensors: cut short, trailing bytes, duplicate names,
    /// malformed numbers or UTF-8, another element type, rank above GcnKd's maximum.
    let decode (bytes: byte[]) : (string * Tensor)[] =
        if isNull bytes then fail "no bytes given"
        if bytes.Length = 0 then fail "the file is empty; a TorchSharp state dict starts with its entry count (LEB128)"
        let r = Reader bytes
        let count = r.Leb "the entry count"
        let names = HashSet<string>()
        let entries = ResizeArray<string * Tensor>()
        let mutable i = 0L
        while i < count do
            if r.Remaining = 0 then fail "the entry count says %d entries, but the bytes end after %d" count i
            let name = readName r i
            if not (names.Add name) then fail "entry %d: the name '%s' appears twice" i name
            entries.Add((name, readTensor r i name))
            i <- i + 1L
        if r.Remaining > 0 then
            fail "%d bytes follow the last of the %d entries (at byte %d); the file holds more than its count says" r.Remaining count r.Pos
        entries.ToArray()
