module GcnKd.Tests.SafetensorsTests

open System
open System.Buffers.Binary
open System.IO
open System.Text
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Host.Checkpoints
open GcnKd.Host.Errors

// ---- building files by hand, from the specification ----

/// 8-byte little-endian header length, the header JSON (padded with `pad` spaces), then the data bytes.
let private fileOf (header: string) (pad: int) (data: byte[]) =
    let h = Encoding.UTF8.GetBytes(header + String(' ', pad))
    let out = Array.zeroCreate<byte> (8 + h.Length + data.Length)
    BinaryPrimitives.WriteUInt64LittleEndian(Span<byte>(out, 0, 8), uint64 h.Length)
    Array.blit h 0 out 8 h.Length
    Array.blit data 0 out (8 + h.Length) data.Length
    out

/// Little-endian bytes of values, `size` bytes each, written by `write bytes offset value`.
let private le (write: byte[] -> int -> 'a -> unit) (size: int) (values: 'a[]) =
    let b = Array.zeroCreate<byte> (size * values.Length)
    values |> Array.iteri (fun i v -> write b (size * i) v)
    b

let private f32 = le (fun b o (v: float32) -> BinaryPrimitives.WriteSingleLittleEndian(Span<byte>(b, o, 4), v)) 4
let private f64 = le (fun b o (v: float) -> BinaryPrimitives.WriteDoubleLittleEndian(Span<byte>(b, o, 8), v)) 8
let private i64 = le (fun b o (v: int64) -> BinaryPrimitives.WriteInt64LittleEndian(Span<byte>(b, o, 8), v)) 8
let private i32 = le (fun b o (v: int) -> BinaryPrimitives.WriteInt32LittleEndian(Span<byte>(b, o, 4), v)) 4
let private f16 = le (fun b o (v: Half) -> BinaryPrimitives.WriteHalfLittleEndian(Span<byte>(b, o, 2), v)) 2
let private half (v: float32) : Half = Half.op_Explicit v
let private u16 = le (fun b o (v: uint16) -> BinaryPrimitives.WriteUInt16LittleEndian(Span<byte>(b, o, 2), v)) 2

[<Fact>]
let ``a file built by hand from the specification decodes to the right tensors and metadata`` () =
    // header order differs from data order on purpose: offsets, not header order, place the bytes
    let data =
        Array.concat [ f64 [| 1.5; -2.25; 1e10 |]              // "d"  F64  [3]      [0, 24)
                       f32 [| 0.5f; 1.0f; -3.0f; 4.0f |]       // "w"  F32  [2, 2]   [24, 40)
                       i64 [| -7L; 1L <<< 40 |]                 // "n"  I64  [2]      [40, 56)
                       i32 [| 123456 |]                         // "i"  I32  []       [56, 60)
                       f16 [| half 0.25f; half -65504.0f |]     // "h"  F16  [1, 2]   [60, 64)
                       u16 [| 0x3FC0us |]                       // "bf" BF16 [1]      [64, 66)  = 1.5
                       [| 255uy; 0x80uy |]                      // "u"  U8 [1], "s" I8 [1]  [66, 67) [67, 68)
                       [| 1uy; 0uy; 1uy |] ]                    // "b"  BOOL [3]      [68, 71)
    let header =
        """{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]},"__metadata__":{"format":"pt","note":"héllo \"q\""},"""
        + """"d":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},"n":{"dtype":"I64","shape":[2],"data_offsets":[40,56]},"""
        + """"i":{"dtype":"I32","shape":[],"data_offsets":[56,60]},"h":{"dtype":"F16","shape":[1,2],"data_offsets":[60,64]},"""
        + """"bf":{"dtype":"BF16","shape":[1],"data_offsets":[64,66]},"u":{"dtype":"U8","shape":[1],"data_offsets":[66,67]},"""
        + """"s":{"dtype":"I8","shape":[1],"data_offsets":[67,68]},"b":{"dtype":"BOOL","shape":[3],"data_offsets":[68,71]},"""
        + """"z":{"dtype":"F32","shape":[0,3],"data_offsets":[71,71]}}"""
    for pad in [ 0; 5 ] do
        let tensors, meta = Safetensors.decode (fileOf header pad data)
        Assert.Equal<string[]>([| "w"; "d"; "n"; "i"; "h"; "bf"; "u"; "s"; "b"; "z" |], tensors |> Array.map fst)
        let t = dict tensors
        let check name (shape: int[]) (values: float32[]) =
            Assert.Equal<int[]>(shape, t.[name].Shape)
            Assert.Equal<float32[]>(values, t.[name].Data)
        check "w" [| 2; 2 |] [| 0.5f; 1.0f; -3.0f; 4.0f |]
        check "d" [| 3 |] [| 1.5f; -2.25f; 1e10f |]
        check "n" [| 2 |] [| -7.0f; float32 (1L <<< 40) |]
        check "i" [||] [| 123456.0f |]
        check "h" [| 1; 2 |] [| 0.25f; -65504.0f |]
        check "bf" [| 1 |] [| 1.5f |]
        check "u" [| 1 |] [| 255.0f |]
        check "s" [| 1 |] [| -128.0f |]
        check "b" [| 3 |] [| 1.0f; 0.0f; 1.0f |]
        check "z" [| 0; 3 |] [||]
        Assert.Equal("pt", meta.["format"])
        Assert.Equal("héllo \"q\"", meta.["note"])

[<Fact>]
let ``encode writes the published layout: u64 length, space-padded JSON header, contiguous F32 data`` () =
    let bytes = Safetensors.encode [| "a.b", Tensor.ofArray [| 2 |] [| 1.0f; -2.0f |]; "c", Tensor.scalar 3.0f |] (Map [ "k", "v" ])
    let n = int (BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan<byte>(bytes, 0, 8)))
    Assert.Equal(0, n % 8)
    let header = Encoding.UTF8.GetString(bytes, 8, n)
    Assert.Equal("""{"__metadata__":{"k":"v"},"a.b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}""", header.TrimEnd(' '))
    Assert.Equal<byte[]>(f32 [| 1.0f; -2.0f; 3.0f |], bytes.[8 + n ..])

[<Fact>]
let ``encode gives exactly the bytes built by hand from the specification, and decode reads them back`` () =
    // huggingface/safetensors README "Format": 8 bytes N (u64, little-endian), N bytes of UTF-8 JSON
    // {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [BEGIN, END)}}, then the byte buffer;
    // the reference writer (safetensors/src/tensor.rs, prepare) pads the JSON with spaces to a multiple of 8.
    let json =
        """{"__metadata__":{"format":"pt"},"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"""
        + """"fc.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}}"""
    Assert.Equal(157, json.Length)                                    // 157 bytes of JSON + 3 spaces = 160 = 0xA0
    let expected =
        Array.concat [ [| 0xA0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]
                       Encoding.ASCII.GetBytes(json + "   ")
                       // fc.weight, row-major: 0.5 -2 0.25 / 1.5 -1 3; fc.bias: 1.5 0.5 -2 (little-endian float32)
                       [| 0x00uy; 0x00uy; 0x00uy; 0x3Fuy;  0x00uy; 0x00uy; 0x00uy; 0xC0uy;  0x00uy; 0x00uy; 0x80uy; 0x3Euy
                          0x00uy; 0x00uy; 0xC0uy; 0x3Fuy;  0x00uy; 0x00uy; 0x80uy; 0xBFuy;  0x00uy; 0x00uy; 0x40uy; 0x40uy
                          0x00uy; 0x00uy; 0xC0uy; 0x3Fuy;  0x00uy; 0x00uy; 0x00uy; 0x3Fuy;  0x00uy; 0x00uy; 0x00uy; 0xC0uy |] ]
    let weight = Tensor.ofArray [| 2; 3 |] [| 0.5f; -2.0f; 0.25f; 1.5f; -1.0f; 3.0f |]
    let bias = Tensor.ofArray [| 3 |] [| 1.5f; 0.5f; -2.0f |]
    Assert.Equal<byte[]>(expected, Safetensors.encode [| "fc.weight", weight; "fc.bias", bias |] (Map [ "format", "pt" ]))
    let tensors, meta = Safetensors.decode expected
    Assert.Equal<string[]>([| "fc.weight"; "fc.bias" |], Array.map fst tensors)
    Assert.Equal<int[]>([| 2; 3 |], (snd tensors.[0]).Shape)
    Assert.Equal<float32[]>(weight.Data, (snd tensors.[0]).Data)
    Assert.Equal<float32[]>(bias.Data, (snd tensors.[1]).Data)
    Assert.Equal<Map<string, string>>(Map [ "format", "pt" ], meta)

// ---- round trip ----

let private checkpointGen =
    gen {
        let! tensors = CheckpointGen.namedTensors CheckpointGen.tensor
        let! metaCount = Gen.choose (0, 3)
        let! metaKeys = Gen.arrayOfLength metaCount CheckpointGen.name
        let meta = metaKeys |> Array.mapi (fun i k -> sprintf "%s%d" k i, sprintf "value %s %d" k i) |> Map.ofArray
        return tensors, meta
    }

let private bits = CheckpointGen.bits

[<Fact>]
let ``encode then decode gives back every name, shape, bit and metadata entry`` () =
    Props.forAll checkpointGen (fun (tensors, meta) ->
        let bytes = Safetensors.encode tensors meta
        let back, meta2 = Safetensors.decode bytes
        Assert.Equal<string[]>(Array.map fst tensors, Array.map fst back)
        Array.iter2 (fun (_, (a: Tensor)) (_, (b: Tensor)) ->
            Assert.Equal<int[]>(a.Shape, b.Shape)
            Assert.Equal<int[]>(bits a, bits b)) tensors back
        Assert.Equal<Map<string, string>>(meta, meta2)
        true)

// ---- corruption ----

let private expectError (fragment: string) (bytes: byte[]) =
    let ex = Assert.Throws<SafetensorsError>(fun () -> Safetensors.decode bytes |> ignore)
    Assert.Contains(fragment, ex.Message)

let private entry name dtype (shape: string) b e = sprintf "\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%d,%d]}" name dtype shape b e

[<Fact>]
let ``every kind of corruption raises SafetensorsError saying what was expected`` () =
    let data8 = f32 [| 1.0f; 2.0f |]
    let one body = fileOf ("{" + body + "}") 0 data8
    expectError "8-byte" [| 1uy; 2uy; 3uy |]
    expectError "8-byte" [||]
    let huge = Array.zeroCreate<byte> 16
    BinaryPrimitives.WriteUInt64LittleEndian(Span<byte>(huge, 0, 8), UInt64.MaxValue)
    expectError "header length" huge
    BinaryPrimitives.WriteUInt64LittleEndian(Span<byte>(huge, 0, 8), 9UL)
    expectError "only 8 bytes follow" huge
    expectError "not valid JSON" (fileOf "{\"a\": [1, 2" 0 data8)
    // {"a":"xx"} with the x's (file bytes 14 and 15) replaced by bytes that are not UTF-8
    expectError "not valid UTF-8" (fileOf "{\"a\":\"xx\"}" 0 [||] |> Array.mapi (fun i b -> if i = 14 || i = 15 then 0xFFuy else b))
    expectError "must be a JSON object" (fileOf "[1, 2]" 0 data8)
    expectError "unknown dtype 'F128'" (one (entry "a" "F128" "[2]" 0 8))
    expectError "shape [3] of F32 needs 12 bytes, but data_offsets [0, 8] span 8" (one (entry "a" "F32" "[3]" 0 8))
    expectError "shape [1] of F64 needs 8 bytes, but data_offsets [0, 4] span 4" (one (entry "a" "F64" "[1]" 0 4 + "," + entry "b" "F32" "[1]" 4 8))
    expectError "run past the end" (one (entry "a" "F32" "[4]" 0 16))
    expectError "overlap" (one (entry "a" "F32" "[2]" 0 8 + "," + entry "b" "F32" "[1]" 4 8))
    expectError "belong to no tensor" (one (entry "a" "F32" "[1]" 4 8))
    expectError "cover only the first 4" (one (entry "a" "F32" "[1]" 0 4))
    expectError "cover only the first 0" (one "")
    expectError "end before they begin" (one (entry "a" "F32" "[0]" 8 0))
    expectError "non-negative integers" (one (entry "a" "F32" "[-2]" 0 8))
    expectError "non-negative integers" (one (entry "a" "F32" "[2.5]" 0 8))
    expectError "non-negative integers" (one (entry "a" "F32" "[\"2\"]" 0 8))
    expectError "rank 5" (one (entry "a" "F32" "[1,1,1,1,2]" 0 8))
    expectError "too many elements" (one (entry "a" "F32" "[2147483647,2147483647]" 0 8))
    expectError "has no \"dtype\"" (one "\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}")
    expectError "[begin, end]" (one "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}")
    expectError "expected an object" (one "\"a\":[1]")
    expectError "names 'a' twice" (one (entry "a" "F32" "[1]" 0 4 + "," + entry "a" "F32" "[1]" 4 8))
    expectError "must be a string" (one ("\"__metadata__\":{\"k\":3}," + entry "a" "F32" "[2]" 0 8))
    expectError "BOOL element 1" (fileOf ("{" + entry "a" "BOOL" "[2]" 0 2 + "}") 0 [| 1uy; 2uy |])

[<Fact>]
let ``a file cut at any point raises SafetensorsError, never another exception or a result`` () =
    Props.forAllN (Props.casesScaled 0.5) checkpointGen (fun (tensors, meta) ->
        let tensors = Array.append tensors [| "last", Tensor.ofArray [| 3 |] [| 1.0f; 2.0f; 3.0f |] |]
        CheckpointGen.everyCutRaises<SafetensorsError, _> Safetensors.decode (Safetensors.encode tensors meta)
        true)

[<Fact>]
let ``flipped bytes give SafetensorsError or a well-formed result, never another exception`` () =
    Props.forAll (Gen.zip checkpointGen Props.seed) (fun ((tensors, meta), seed) ->
        let bytes = Safetensors.encode tensors meta
        let rng = Rng.create seed
        for k in 0 .. 399 do
            let b = Array.copy bytes
            // half of the flips land in the length field or the header, where they change the structure
            let headerEnd = 8 + int (BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan<byte>(bytes, 0, 8)))
            let pos = Rng.intAt rng (int64 (2 * k)) (if k % 2 = 0 then headerEnd else b.Length)
            b.[pos] <- byte (Rng.intAt rng (int64 (2 * k + 1)) 256)
            try
                let back, _ = Safetensors.decode b
                for _, t in back do Assert.Equal(Shape.numel t.Shape, t.Numel)
            with :? SafetensorsError -> ()
        true)

[<Fact>]
let ``encode refuses duplicate and reserved names`` () =
    let t = Tensor.zeros [| 1 |]
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Safetensors.encode [| "a", t; "a", t |] Map.empty |> ignore)
    Assert.Contains("'a' appears twice", ex.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> Safetensors.encode [| "__metadata__", t |] Map.empty |> ignore) |> ignore

// ---- trees and optimiser state ----

type Layer = { Weight: Tensor; Bias: Tensor }
type Model = { Layers: Layer list; Head: Tensor }

let private model (seed: int) =
    let r = Rng.splitN 5 (Rng.create seed)
    { Layers = [ { Weight = Tensor.randn r.[0] [| 4; 3 |]; Bias = Tensor.randn r.[1] [| 3 |] }
                 { Weight = Tensor.randn r.[2] [| 3; 2 |]; Bias = Tensor.randn r.[3] [| 2 |] } ]
      Head = Tensor.randn r.[4] [| 2 |] }

[<Fact>]
let ``a parameter tree and an optimiser state survive a checkpoint and training resumes identically`` () =
    let p0, g = model 1, model 2
    let cfg = Optim.defaultAdamW
    let p1, s1 = Optim.step cfg 0.01f (Optim.init cfg p0) p0 g
    let pBack, meta = Safetensors.decodeTree p0 (Safetensors.encodeTree p1 (Map [ "epoch", "1" ]))
    let sBack, _ = Safetensors.decodeTree s1 (Safetensors.encodeTree s1 Map.empty)
    Assert.Equal("1", meta.["epoch"])
    let direct, _ = Optim.step cfg 0.01f s1 p1 g
    let resumed, _ = Optim.step cfg 0.01f sBack pBack g
    Assert.Equal<float32[][]>(Tree.leaves direct |> Array.map (fun (_, t) -> t.Data), Tree.leaves resumed |> Array.map (fun (_, t) -> t.Data))
    // a file missing a parameter names it
    let partial = Safetensors.encode (Tree.leaves p1 |> Array.filter (fun (n, _) -> n <> "Layers.1.Bias")) Map.empty
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Safetensors.decodeTree p0 partial |> ignore)
    Assert.Contains("Layers.1.Bias", ex.Message)

// ---- host: files ----

/// A fresh directory, deleted afterwards.
let private withDir (body: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), "gcnkd-tests-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory dir |> ignore
    try body dir finally Directory.Delete(dir, true)

let private onlyFiles (dir: string) = Directory.GetFiles dir |> Array.map Path.GetFileName |> Array.sort

[<Fact>]
let ``CheckpointFile saves and loads tensors, metadata and trees`` () =
    withDir (fun dir ->
        let path = Path.Combine(dir, "sub", "model.safetensors")   // the directory is created
        let p = model 3
        CheckpointFile.SaveTree(path, p, dict [ "arch", "gcn" ])
        let back, meta = CheckpointFile.LoadTree(path, model 4).ToTuple()
        Assert.Equal("gcn", meta.["arch"])
        Assert.Equal<float32[][]>(Tree.leaves p |> Array.map (fun (_, t) -> t.Data), Tree.leaves back |> Array.map (fun (_, t) -> t.Data))
        let ck = CheckpointFile.Load path
        Assert.Equal("Layers.0.Weight", fst (ck.Tensors.[0].ToTuple()))
        Assert.Equal<string[]>([| "model.safetensors" |], onlyFiles (Path.Combine(dir, "sub"))))

[<Fact>]
let ``CheckpointFile reports missing, corrupt and mismatched files as user errors naming the file`` () =
    withDir (fun dir ->
        let missing = Path.Combine(dir, "nope.safetensors")
        let ex = Assert.Throws<GcnKdUserError>(fun () -> CheckpointFile.Load missing |> ignore)
        Assert.Equal(sprintf "checkpoint %s not found" missing, ex.Message)
        let corrupt = Path.Combine(dir, "bad.safetensors")
        let bytes = Safetensors.encode [| "a", Tensor.ones [| 4 |] |] Map.empty
        File.WriteAllBytes(corrupt, bytes.[.. bytes.Length - 3])
        let ex = Assert.Throws<GcnKdUserError>(fun () -> CheckpointFile.Load corrupt |> ignore)
        Assert.StartsWith(sprintf "checkpoint %s is not a valid safetensors file: " corrupt, ex.Message)
        Assert.Contains("run past the end", ex.Message)
        let ex = Assert.Throws<GcnKdUserError>(fun () -> CheckpointFile.Load dir |> ignore)
        Assert.Contains("is a directory", ex.Message)
        let other = Path.Combine(dir, "other.safetensors")
        CheckpointFile.Save(other, [ struct ("Head", Tensor.ones [| 5 |]) ], null)
        let ex = Assert.Throws<GcnKdUserError>(fun () -> CheckpointFile.LoadTree(other, model 1) |> ignore)
        Assert.Contains(sprintf "checkpoint %s does not fit the model" other, ex.Message))

[<Fact>]
let ``a failing save leaves the previous file intact and no temporary files`` () =
    withDir (fun dir ->
        let path = Path.Combine(dir, "ck.safetensors")
        CheckpointFile.Save(path, seq { struct ("a", Tensor.ones [| 3 |]) }, null)
        let before = File.ReadAllBytes path
        // an enumerator that fails halfway through the tensors
        let failing = seq {
            yield struct ("a", Tensor.zeros [| 3 |])
            failwith "enumeration failed"
        }
        Assert.Throws<Exception>(fun () -> CheckpointFile.Save(path, failing, null)) |> ignore
        Assert.Equal<byte[]>(before, File.ReadAllBytes path)
        Assert.Equal<string[]>([| "ck.safetensors" |], onlyFiles dir)
        // a writer that dies after writing half of the new file
        let bytes = Safetensors.encode [| "a", Tensor.zeros [| 1000 |] |] Map.empty
        let ex =
            Assert.Throws<InvalidOperationException>(fun () ->
                CheckpointFile.WriteAtomic(path, "checkpoint", fun s ->
                    s.Write(bytes, 0, bytes.Length / 2)
                    s.Flush()
                    invalidOp "disk pulled out"))
        Assert.Equal("disk pulled out", ex.Message)
        Assert.Equal<byte[]>(before, File.ReadAllBytes path)
        Assert.Equal<string[]>([| "ck.safetensors" |], onlyFiles dir)
        // and a successful save replaces the file whole
        CheckpointFile.Save(path, seq { struct ("b", Tensor.full [| 2 |] 7.0f) }, dict [ "v", "2" ])
        let ck = CheckpointFile.Load path
        Assert.Equal("2", ck.Metadata.["v"])
        Assert.Equal<string[]>([| "ck.safetensors" |], onlyFiles dir))

[<Fact>]
let ``saving over a directory is a user error`` () =
    withDir (fun dir ->
        let ex = Assert.Throws<GcnKdUserError>(fun () -> CheckpointFile.Save(dir, Seq.empty, null))
        Assert.Contains("cannot write checkpoint", ex.Message)
        Assert.Empty(Directory.GetFiles dir))
