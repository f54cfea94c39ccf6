/// TorchSharp's .dat state-dict format (GcnKd.TorchSharpDat): bytes built by hand from the layout read in TorchSharp's
/// source, round trips, corruption, and `gcnkd export` end to end with its user errors.
module GcnKd.Tests.TorchSharpDatTests

open System
open System.IO
open System.Text
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Cli
open GcnKd.Host
open GcnKd.Host.Checkpoints
open GcnKd.Tests.TestData

// ---- bytes built by hand ----

/// Little-endian float32 bytes of the values listed (hand-written hex, not computed by the code under test).
let private hex (bytes: int list) = bytes |> List.map byte |> Array.ofList

[<Fact>]
let ``encode gives exactly the bytes built by hand from TorchSharp's layout, and decode reads them back`` () =
    // count; then per entry: BinaryWriter string (LEB128 UTF-8 byte count, UTF-8), LEB128 ScalarType (Float32 = 6),
    // LEB128 rank, LEB128 dims, little-endian float32 data
    let longName = String('n', 128)                               // 128 bytes: its length takes two LEB128 bytes
    let expected =
        Array.concat [
            hex [ 0x03 ]                                          // three entries
            // "fc.weight", [2, 3]: 0.5 -2 0.25 / 1.5 -1 3
            hex [ 0x09 ]; Encoding.ASCII.GetBytes "fc.weight"; hex [ 0x06; 0x02; 0x02; 0x03 ]
            hex [ 0x00; 0x00; 0x00; 0x3F;  0x00; 0x00; 0x00; 0xC0;  0x00; 0x00; 0x80; 0x3E
                  0x00; 0x00; 0xC0; 0x3F;  0x00; 0x00; 0x80; 0xBF;  0x00; 0x00; 0x40; 0x40 ]
            // "bé" (3 UTF-8 bytes: 62 C3 A9), shape [] (one value): 1.5
            hex [ 0x03; 0x62; 0xC3; 0xA9; 0x06; 0x00;  0x00; 0x00; 0xC0; 0x3F ]
            // 128 x 'n', shape [129] = 0x81 0x01 in LEB128: 129 zeros
            hex [ 0x80; 0x01 ]; Encoding.ASCII.GetBytes longName; hex [ 0x06; 0x01; 0x81; 0x01 ]
            Array.zeroCreate 516 ]
    let weight = Tensor.ofArray [| 2; 3 |] [| 0.5f; -2.0f; 0.25f; 1.5f; -1.0f; 3.0f |]
    let tensors = [| "fc.weight", weight; "bé", Tensor.scalar 1.5f; longName, Tensor.zeros [| 129 |] |]
    Assert.Equal<byte[]>(expected, TorchSharpDat.encode tensors)
    let back = TorchSharpDat.decode expected
    Assert.Equal<string[]>([| "fc.weight"; "bé"; longName |], Array.map fst back)
    Assert.Equal<int[][]>([| [| 2; 3 |]; [||]; [| 129 |] |], back |> Array.map (fun (_, t) -> t.Shape))
    Assert.Equal<float32[]>(weight.Data, (snd back.[0]).Data)
    Assert.Equal<float32[]>([| 1.5f |], (snd back.[1]).Data)

[<Fact>]
let ``an empty state dict is the single byte 0`` () =
    Assert.Equal<byte[]>([| 0uy |], TorchSharpDat.encode [||])
    Assert.Empty(TorchSharpDat.decode [| 0uy |])

// ---- round trip ----

/// Small shapes of any rank, and long 1-D / 2-D ones whose dimensions take two LEB128 bytes.
let private shapeGen =
    Gen.oneof [ CheckpointGen.smallShape
                gen { let! rank = Gen.choose (1, 2)
                      return! Gen.arrayOfLength rank (Gen.choose (0, 200)) } ]

let private dictGen = CheckpointGen.namedTensors (CheckpointGen.tensorOf shapeGen)

[<Fact>]
let ``encode then decode gives back every name, shape and bit, and re-encodes to the same bytes`` () =
    Props.forAll dictGen (fun tensors ->
        let bytes = TorchSharpDat.encode tensors
        let back = TorchSharpDat.decode bytes
        Assert.Equal<string[]>(Array.map fst tensors, Array.map fst back)
        Array.iter2 (fun (_, (a: Tensor)) (_, (b: Tensor)) ->
            Assert.Equal<int[]>(a.Shape, b.Shape)
            Assert.Equal<int[]>(CheckpointGen.bits a, CheckpointGen.bits b)) tensors back
        Assert.Equal<byte[]>(bytes, TorchSharpDat.encode back)
        true)

// ---- corruption ----

let private expectError (fragment: string) (bytes: byte[]) =
    let ex = Assert.Throws<TorchSharpDatError>(fun () -> TorchSharpDat.decode bytes |> ignore)
    Assert.True(ex.Message.Contains fragment, sprintf "expected '%s' in the message: %s" fragment ex.Message)

/// One entry named "a": element type, rank, dims, then the data bytes.
let private one (dtype: int) (dims: int list) (data: byte[]) =
    Array.concat [ hex ([ 0x01; 0x01; 0x61; dtype; dims.Length ] @ dims); data ]

[<Fact>]
let ``every kind of corruption raises TorchSharpDatError saying what was expected`` () =
    let f32 = hex [ 0x00; 0x00; 0x80; 0x3F ]                     // 1.0
    Assert.Equal<float32[]>([| 1.0f |], (snd (TorchSharpDat.decode (one 6 [ 1 ] f32)).[0]).Data)
    expectError "the file is empty" [||]
    expectError "element type Float64 (ScalarType 7); GcnKd reads Float32 (6) only" (one 7 [ 1 ] (Array.append f32 f32))
    expectError "element type unknown (ScalarType 42)" (one 42 [ 1 ] f32)
    expectError "rank 5 exceeds GcnKd's maximum rank 4" (one 6 [ 1; 1; 1; 1; 1 ] f32)
    expectError "1 bytes follow the last of the 1 entries" (Array.append (one 6 [ 1 ] f32) [| 0uy |])
    expectError "the entry count says 2 entries, but the bytes end after 1" (Array.append [| 2uy |] (one 6 [ 1 ] f32).[1..])
    expectError "the Float32 data of shape [2] needs 8 bytes at byte 6, but only 4 remain" (one 6 [ 2 ] f32)
    expectError "entry count: the bytes end inside the LEB128 number" [| 0x80uy |]
    expectError "runs past 9 bytes" (Array.create 10 0xFFuy)
    expectError "entry 0's name is not valid UTF-8" (Array.concat [ hex [ 0x01; 0x01; 0xFF; 0x06; 0x00 ]; f32 ])
    expectError "entry 0's name needs 5 bytes at byte 2, but only 1 remain" (hex [ 0x01; 0x05; 0x61 ])
    expectError "exceeds a .NET string's 7-bit encoded int32" (hex [ 0x01; 0x80; 0x80; 0x80; 0x80; 0x10 ])
    expectError "entry 1: the name 'a' appears twice" (Array.append [| 2uy |] (Array.append (one 6 [ 1 ] f32).[1..] (one 6 [ 1 ] f32).[1..]))
    // [2^31 - 1, 2^31 - 1] and [2^31]: more elements than an array holds, a dimension beyond int32
    expectError "has too many elements" (hex [ 0x01; 0x01; 0x61; 0x06; 0x02; 0xFF; 0xFF; 0xFF; 0xFF; 0x07; 0xFF; 0xFF; 0xFF; 0xFF; 0x07 ])
    expectError "dimension 2147483648 of shape [2147483648] is too large" (hex [ 0x01; 0x01; 0x61; 0x06; 0x01; 0x80; 0x80; 0x80; 0x80; 0x08 ])

[<Fact>]
let ``a file cut at any point raises TorchSharpDatError, never another exception or a result`` () =
    Props.forAllN (Props.casesScaled 0.5) dictGen (fun tensors ->
        CheckpointGen.everyCutRaises<TorchSharpDatError, _> TorchSharpDat.decode (TorchSharpDat.encode tensors)
        true)

[<Fact>]
let ``flipped bytes give TorchSharpDatError or a well-formed result, never another exception`` () =
    Props.forAll (Gen.zip dictGen Props.seed) (fun (tensors, seed) ->
        let bytes = TorchSharpDat.encode tensors
        let rng = Rng.create seed
        for k in 0 .. 199 do
            let b = Array.copy bytes
            let pos = Rng.intAt rng (int64 (2 * k)) b.Length
            b.[pos] <- byte (Rng.intAt rng (int64 (2 * k + 1)) 256)
            try
                for _, t in TorchSharpDat.decode b do Assert.Equal(Shape.numel t.Shape, t.Numel)
            with :? TorchSharpDatError -> ()
        true)

[<Fact>]
let ``encode refuses duplicate, null and unencodable names`` () =
    let t = Tensor.zeros [| 1 |]
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> TorchSharpDat.encode [| "a", t; "a", t |] |> ignore)
    Assert.Contains("'a' appears twice", ex.Message)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> TorchSharpDat.encode [| "x" + string (char 0xD800), t |] |> ignore)
    Assert.Contains("unpaired surrogate", ex.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> TorchSharpDat.encode [| null, t |] |> ignore) |> ignore

// ---- gcnkd export ----

[<Fact>]
let ``export parses into a typed command and names the known formats`` () =
    match (Cli.parse [| "export"; "--checkpoint"; "m.safetensors"; "--format"; "TorchSharp"; "--out"; "m.dat" |]).Command with
    | RunExport e -> Assert.Equal({ Checkpoint = "m.safetensors"; Format = "torchsharp"; Out = "m.dat" }, e)
    | other -> failwithf "expected RunExport, got %A" other
    let usage argv =
        match (Cli.parse argv).Command with
        | Usage(text, true) -> text
        | other -> failwithf "expected a usage error, got %A" other
    Assert.Contains("--format must be one of torchsharp; got 'onnx'", usage [| "export"; "--checkpoint"; "m"; "--format"; "onnx"; "--out"; "o" |])
    Assert.Contains("--out", usage [| "export"; "--checkpoint"; "m"; "--format"; "torchsharp" |])

/// A checkpoint as the trainers write it: parameters, then batch-norm running statistics under "state.", metadata.
let private writeCheckpoint (path: string) =
    let tensors =
        [| "Layers.0.W", Tensor.ofArray [| 2; 3 |] [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |]
           "Layers.0.B", Tensor.ofArray [| 3 |] [| -1.0f; 0.0f; 1.0f |]
           "state.Norm.Mean", Tensor.ofArray [| 3 |] [| 0.5f; 0.25f; 0.125f |] |]
    CheckpointFile.Save(path, tensors |> Seq.map (fun (n, t) -> struct (n, t)), dict [ "model", "gcn"; "epoch", "7" ])
    tensors

let private export (ck: string) (out: string) = Program.Main [| "export"; "--checkpoint"; ck; "--format"; "torchsharp"; "--out"; out |]

[<Fact>]
let ``gcnkd export writes every tensor of a checkpoint under its name, and TorchSharpDat reads it back`` () =
    use dir = new TempDir()
    let ck = Path.Combine(dir.Path, "model.safetensors")
    let tensors = writeCheckpoint ck
    let out = Path.Combine(dir.Path, "model.dat")
    Assert.Equal(0, export ck out)
    let bytes = File.ReadAllBytes out
    Assert.Equal<byte[]>(TorchSharpDat.encode tensors, bytes)
    let back = TorchSharpDat.decode bytes
    Assert.Equal<string[]>([| "Layers.0.W"; "Layers.0.B"; "state.Norm.Mean" |], Array.map fst back)
    Assert.Equal<float32[][]>(tensors |> Array.map (fun (_, t) -> t.Data), back |> Array.map (fun (_, t) -> t.Data))
    // the summary names the metadata a .dat file cannot hold; exporting over the file leaves no temporary file
    let s = ExportCommand.Execute { Checkpoint = ck; Format = "torchsharp"; Out = out }
    Assert.Equal<string list>([ "epoch"; "model" ], List.ofSeq s.DroppedMetadata)
    Assert.Equal(12L, s.Values)
    Assert.Equal<string[]>([| "model.dat"; "model.safetensors" |], Directory.GetFiles dir.Path |> Array.map Path.GetFileName |> Array.sort)

[<Fact>]
let ``gcnkd export user mistakes exit with code 2, one message naming the file, and no output`` () =
    use dir = new TempDir()
    let ck = Path.Combine(dir.Path, "model.safetensors")
    writeCheckpoint ck |> ignore
    let out = Path.Combine(dir.Path, "model.dat")
    let run checkpoint o (fragments: string list) =
        Assert.Equal(2, export checkpoint o)
        userError fragments (fun () -> ExportCommand.Execute { Checkpoint = checkpoint; Format = "torchsharp"; Out = o })
    let missing = Path.Combine(dir.Path, "nope.safetensors")
    run missing out [ sprintf "checkpoint %s not found" missing ]
    let corrupt = Path.Combine(dir.Path, "corrupt.safetensors")
    File.WriteAllBytes(corrupt, (File.ReadAllBytes ck).[.. 40])
    run corrupt out [ sprintf "checkpoint %s is not a valid safetensors file" corrupt ]
    let noDir = Path.Combine(dir.Path, "missing", "model.dat")
    run ck noDir [ sprintf "cannot write TorchSharp state dict %s" noDir; "the directory"; "does not exist" ]
    Assert.False(Directory.Exists(Path.Combine(dir.Path, "missing")))
    run ck dir.Path [ "it is a directory" ]
    run ck ck [ "is the checkpoint itself" ]
    Assert.Equal(2, Program.Main [| "export"; "--checkpoint"; ck; "--format"; "onnx"; "--out"; out |])
    userError [ "unknown export format 'onnx'"; "torchsharp" ] (fun () -> ExportCommand.Execute { Checkpoint = ck; Format = "onnx"; Out = out })
    // nothing was written, and the checkpoint is intact
    Assert.Equal<string[]>([| "corrupt.safetensors"; "model.safetensors" |], Directory.GetFiles dir.Path |> Array.map Path.GetFileName |> Array.sort)
    Assert.Equal(3, (CheckpointFile.Load ck).Tensors.Count)
    // a failing export leaves an earlier export untouched
    Assert.Equal(0, export ck out)
    let before = File.ReadAllBytes out
    Assert.Equal(2, export corrupt out)
    Assert.Equal<byte[]>(before, File.ReadAllBytes out)
