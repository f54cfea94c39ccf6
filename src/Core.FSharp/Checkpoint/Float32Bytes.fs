/// float32 values as little-endian bytes, the storage of every checkpoint format GcnKd reads and writes.
[<RequireQualifiedAccess>]
module GcnKd.Float32Bytes

open System
open System.Buffers.Binary
open System.Runtime.InteropServices

/// Write `values` into `dst` (4 bytes each), little-endian whatever the machine's byte order.
let write (values: float32[]) (dst: Span<byte>) =
    if BitConverter.IsLittleEndian then MemoryMarshal.AsBytes(ReadOnlySpan<float32>(values)).CopyTo dst
    else for i in 0 .. values.Length - 1 do BinaryPrimitives.WriteSingleLittleEndian(dst.Slice(4 * i), values.[i])

/// Fill `dst` from the first 4 x dst.Length bytes of `src`, little-endian.
let readInto (src: ReadOnlySpan<byte>) (dst: float32[]) =
    if BitConverter.IsLittleEndian then src.Slice(0, 4 * dst.Length).CopyTo(MemoryMarshal.AsBytes(Span<float32>(dst)))
    else for i in 0 .. dst.Length - 1 do dst.[i] <- BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * i))
