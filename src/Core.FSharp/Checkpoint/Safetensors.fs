/// The safetensors checkpoint format (huggingface/safetensors), as bytes in and bytes out; the host does the file
/// part. Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
/// {"__metadata__": {string: string}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
/// padded with spaces so the data starts at a multiple of 8, then the data buffer: offsets are relative to its
/// start, and the tensors tile it exactly (no gaps, no overlaps, nothing left over). Tensors are little-endian,
/// row-major. GcnKd writes F32 and reads every common dtype, converting to float32.
namespace GcnKd

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.Text
open System.Text.Encodings.Web
open System.Text.Json

/// A byte string that is not a valid safetensors file; the message says what was expected and what was found.
type SafetensorsError(message: string) =
    inherit Exception(message)

[<RequireQualifiedAccess>]
module Safetensors =
    let private fail fmt = Printf.kprintf (fun s -> raise (SafetensorsError s)) fmt

    /// Bytes per element of each dtype GcnKd reads (0 for an unknown name).
    let dtypeSize (dtype: string) =
        match dtype with
        | "F64" | "I64" | "U64" -> 8
        | "F32" | "I32" | "U32" -> 4
        | "F16" | "BF16" | "I16" | "U16" -> 2
        | "I8" | "U8" | "BOOL" -> 1
        | _ -> 0

    let private knownDtypes = "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL"

    [<Literal>]
    let private MetadataKey = "__metadata__"

    // ---- encoding ----

    /// The file bytes of `tensors` (written as F32, in the given order) and `metadata` (omitted when empty).
    let encode (tensors: (string * Tensor)[]) (metadata: Map<string, string>) : byte[] =
        let seen = HashSet<string>()
        for name, t in tensors do
            if isNull name then invalidArg "tensors" "Safetensors.encode: a tensor name is null"
            if name = MetadataKey then invalidArg "tensors" (sprintf "Safetensors.encode: '%s' is reserved for the metadata and cannot name a tensor" MetadataKey)
            if not (seen.Add name) then invalidArg "tensors" (sprintf "Safetensors.encode: tensor name '%s' appears twice" name)
            if isNull t then invalidArg "tensors" (sprintf "Safetensors.encode: tensor '%s' is null" name)
        let header =
            use ms = new MemoryStream()
            (use w = new Utf8JsonWriter(ms, JsonWriterOptions(Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping))
             w.WriteStartObject()
             if not metadata.IsEmpty then
                 w.WriteStartObject MetadataKey
                 for KeyValue (k, v) in metadata do w.WriteString(k, v)
                 w.WriteEndObject()
             let mutable offset = 0L
             for name, t in tensors do
                 w.WriteStartObject name
                 w.WriteString("dtype", "F32")
                 w.WriteStartArray "shape"
                 for d in t.Shape do w.WriteNumberValue d
                 w.WriteEndArray()
                 w.WriteStartArray "data_offsets"
                 w.WriteNumberValue offset
                 offset <- offset + 4L * int64 t.Numel
                 w.WriteNumberValue offset
                 w.WriteEndArray()
                 w.WriteEndObject()
             w.WriteEndObject())
            ms.ToArray()
        let n = (header.Length + 7) / 8 * 8
        let dataLen = tensors |> Array.sumBy (fun (_, t) -> 4L * int64 t.Numel)
        let total = 8L + int64 n + dataLen
        if total > int64 Array.MaxLength then invalidArg "tensors" (sprintf "Safetensors.encode: %d bytes exceed the largest array" total)
        let out = Array.zeroCreate<byte> (int total)
        BinaryPrimitives.WriteUInt64LittleEndian(Span<byte>(out, 0, 8), uint64 n)
        Buffer.BlockCopy(header, 0, out, 8, header.Length)
        for i in 8 + header.Length .. 8 + n - 1 do out.[i] <- byte ' '
        let mutable pos = 8 + n
        for _, t in tensors do
            Float32Bytes.write t.Data (Span<byte>(out, pos, 4 * t.Numel))
            pos <- pos + 4 * t.Numel
        out

    // ---- decoding ----

    type private Entry = { Name: string; Dtype: string; Shape: int[]; Begin: int64; End: int64 }

    let private nonNegativeInt (name: string) (what: string) (e: JsonElement) =
        let mutable v = 0L
        if e.ValueKind <> JsonValueKind.Number || not (e.TryGetInt64 &v) || v < 0L then
            fail "tensor '%s': %s must hold non-negative integers, found %s" name what (e.GetRawText())
        v

    let private dimsText (dims: int64[]) = "[" + (dims |> Array.map string |> String.concat ", ") + "]"

    let private parseEntry (name: string) (e: JsonElement) : Entry =
        if e.ValueKind <> JsonValueKind.Object then
            fail "tensor '%s': expected an object with dtype, shape and data_offsets, found %s" name (e.ValueKind.ToString())
        let field (key: string) (kind: JsonValueKind) =
            let mutable v = Unchecked.defaultof<JsonElement>
            if not (e.TryGetProperty(key, &v)) then fail "tensor '%s': the entry has no \"%s\"" name key
            if v.ValueKind <> kind then fail "tensor '%s': \"%s\" must be a JSON %s, found %s" name key (kind.ToString()) (v.ValueKind.ToString())
            v
        let dtype = (field "dtype" JsonValueKind.String).GetString()
        if dtypeSize dtype = 0 then fail "tensor '%s': unknown dtype '%s' (expected one of %s)" name dtype knownDtypes
        let dims = [| for d in (field "shape" JsonValueKind.Array).EnumerateArray() -> nonNegativeInt name "shape" d |]
        if dims.Length > Shape.MaxRank then
            fail "tensor '%s': rank %d exceeds GcnKd's maximum rank %d" name dims.Length Shape.MaxRank
        let offs = [| for d in (field "data_offsets" JsonValueKind.Array).EnumerateArray() -> nonNegativeInt name "data_offsets" d |]
        if offs.Length <> 2 then fail "tensor '%s': data_offsets must be [begin, end], found %d numbers" name offs.Length
        if offs.[0] > offs.[1] then fail "tensor '%s': data_offsets [%d, %d] end before they begin" name offs.[0] offs.[1]
        // element count, refusing overflow and anything beyond an array's reach
        let mutable numel = 1L
        for d in dims do
            if d > int64 Int32.MaxValue then fail "tensor '%s': dimension %d of shape %s is too large" name d (dimsText dims)
            if d > 0L && numel > int64 Array.MaxLength / d then fail "tensor '%s': shape %s has too many elements" name (dimsText dims)
            numel <- numel * d
        let expected = numel * int64 (dtypeSize dtype)
        if offs.[1] - offs.[0] <> expected then
            fail "tensor '%s': shape %s of %s needs %d bytes, but data_offsets [%d, %d] span %d" name
                 (dimsText dims) dtype expected offs.[0] offs.[1] (offs.[1] - offs.[0])
        { Name = name; Dtype = dtype; Shape = dims |> Array.map int; Begin = offs.[0]; End = offs.[1] }

    let private parseMetadata (e: JsonElement) =
        if e.ValueKind <> JsonValueKind.Object then fail "%s must be an object of strings, found %s" MetadataKey (e.ValueKind.ToString())
        let mutable m = Map.empty
        for p in e.EnumerateObject() do
            if p.Value.ValueKind <> JsonValueKind.String then
                fail "%s: the value of '%s' must be a string, found %s" MetadataKey p.Name (p.Value.ValueKind.ToString())
            if m.ContainsKey p.Name then fail "%s: key '%s' appears twice" MetadataKey p.Name
            m <- m.Add(p.Name, p.Value.GetString())
        m

    /// Elements of `dtype` in `bytes` converted to float32.
    let private convert (name: string) (dtype: string) (src: ReadOnlySpan<byte>) (numel: int) : float32[] =
        let out = Array.zeroCreate<float32> numel
        match dtype with
        | "F32" -> Float32Bytes.readInto src out
        | "F64" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadDoubleLittleEndian(src.Slice(8 * i)))
        | "F16" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadHalfLittleEndian(src.Slice(2 * i)))
        | "BF16" ->
            for i in 0 .. numel - 1 do
                out.[i] <- BitConverter.Int32BitsToSingle(int (BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(2 * i))) <<< 16)
        | "I64" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadInt64LittleEndian(src.Slice(8 * i)))
        | "I32" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadInt32LittleEndian(src.Slice(4 * i)))
        | "I16" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadInt16LittleEndian(src.Slice(2 * i)))
        | "I8" -> for i in 0 .. numel - 1 do out.[i] <- float32 (sbyte src.[i])
        | "U64" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadUInt64LittleEndian(src.Slice(8 * i)))
        | "U32" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadUInt32LittleEndian(src.Slice(4 * i)))
        | "U16" -> for i in 0 .. numel - 1 do out.[i] <- float32 (BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(2 * i)))
        | "U8" -> for i in 0 .. numel - 1 do out.[i] <- float32 src.[i]
        | "BOOL" ->
            for i in 0 .. numel - 1 do
                match src.[i] with
                | 0uy -> ()
                | 1uy -> out.[i] <- 1.0f
                | b -> fail "tensor '%s': BOOL element %d is the byte %d, expected 0 or 1" name i b
        | _ -> fail "tensor '%s': unknown dtype '%s'" name dtype
        out

    /// The tensors (in header order, as float32) and metadata of a safetensors byte string. Raises SafetensorsError
    /// on anything that is not a well-formed file.
    let decode (bytes: byte[]) : (string * Tensor)[] * Map<string, string> =
        if isNull bytes then fail "no bytes given"
        if bytes.Length < 8 then
            fail "the file is %d bytes long; a safetensors file starts with an 8-byte little-endian header length" bytes.Length
        let n = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan<byte>(bytes, 0, 8))
        if n > uint64 (bytes.Length - 8) then
            fail "the header length is %d bytes, but only %d bytes follow the 8-byte length field" n (bytes.Length - 8)
        let n = int n
        if n < 2 then fail "the header is %d bytes long; expected a JSON object" n
        // JsonDocument checks the structure but not the UTF-8 inside strings (GetString would throw later)
        if not (Unicode.Utf8.IsValid(ReadOnlySpan<byte>(bytes, 8, n))) then fail "the header is not valid UTF-8 text"
        let doc =
            try JsonDocument.Parse(ReadOnlyMemory<byte>(bytes, 8, n))
            with
            | :? JsonException as e -> fail "the header is not valid JSON: %s" e.Message
            | :? ArgumentException as e -> fail "the header is not valid UTF-8 JSON: %s" e.Message
        use doc = doc
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then fail "the header must be a JSON object, found %s" (root.ValueKind.ToString())
        let bufferStart = 8 + n
        let bufferLen = int64 (bytes.Length - bufferStart)
        let names = HashSet<string>()
        let mutable metadata = Map.empty
        let entries = ResizeArray<Entry>()
        for p in root.EnumerateObject() do
            if not (names.Add p.Name) then fail "the header names '%s' twice" p.Name
            if p.Name = MetadataKey then metadata <- parseMetadata p.Value
            else
                let e = parseEntry p.Name p.Value
                if e.End > bufferLen then
                    fail "tensor '%s': data_offsets [%d, %d] run past the end of the %d-byte data buffer" e.Name e.Begin e.End bufferLen
                entries.Add e
        // the tensors must tile the buffer: sorted by (begin, end), each starts where the previous ended
        let sorted = entries.ToArray() |> Array.sortBy (fun e -> e.Begin, e.End)
        let mutable covered = 0L
        let mutable last = ""
        for e in sorted do
            if e.Begin < covered then
                fail "tensors '%s' and '%s' overlap: '%s' starts at byte %d, before byte %d where '%s' ends" last e.Name e.Name e.Begin covered last
            if e.Begin > covered then
                fail "bytes [%d, %d) of the data buffer belong to no tensor (the next tensor, '%s', starts at %d)" covered e.Begin e.Name e.Begin
            covered <- e.End
            last <- e.Name
        if covered <> bufferLen then
            fail "the data buffer holds %d bytes but the tensors cover only the first %d" bufferLen covered
        let tensors =
            entries.ToArray() |> Array.map (fun e ->
                let numel = Shape.numel e.Shape
                let src = ReadOnlySpan<byte>(bytes, bufferStart + int e.Begin, int (e.End - e.Begin))
                e.Name, Tensor.Wrap(e.Shape, convert e.Name e.Dtype src numel))
        tensors, metadata

    // ---- parameter trees ----

    /// The bytes of a parameter tree (or optimiser state): one tensor per leaf, named by its dotted path.
    let encodeTree (tree: 'P) (metadata: Map<string, string>) : byte[] = encode (Tree.leaves tree) metadata

    /// A tree shaped like `template` filled from safetensors bytes, and the metadata. Corrupt bytes raise
    /// SafetensorsError; a valid file that lacks a leaf or holds one with another shape raises ArgumentException
    /// naming the parameter (extra tensors in the file are ignored).
    let decodeTree (template: 'P) (bytes: byte[]) : 'P * Map<string, string> =
        let tensors, metadata = decode bytes
        Tree.ofNamed template (readOnlyDict tensors), metadata
