/// Generators and checks shared by the checkpoint format tests (safetensors, TorchSharp .dat): names that stress text
/// encodings, tensors of every rank with special float values, lists of uniquely named tensors, cut files.
module GcnKd.Tests.CheckpointGen

open System
open FsCheck
open FsCheck.FSharp
open GcnKd

/// Names with dots, non-ASCII, quotes, escapes, control characters and the empty string.
let name = Gen.elements [ "w"; "layer.0.weight"; "é∂ 名前"; "quote\"back\\slash"; "tab\there"; ""; "x/y:z"; "__meta" ]

/// Rank 0 to 4, each dimension 0 to 4.
let smallShape =
    gen {
        let! rank = Gen.choose (0, 4)
        return! Gen.arrayOfLength rank (Gen.choose (0, 4))
    }

/// A tensor of a generated shape: scaled normal values, half the time with NaN, -inf, -0 and the smallest subnormal.
let tensorOf (shape: Gen<int[]>) =
    gen {
        let! shape = shape
        let! seed = Props.seed
        let! special = Gen.elements [ false; true ]
        let data = Rng.normalArray (Shape.numel shape) (Rng.create seed) |> Array.map (fun v -> v * 100.0f)
        if special && data.Length >= 4 then
            data.[0] <- nanf
            data.[1] <- -infinityf
            data.[2] <- -0.0f
            data.[3] <- Single.Epsilon
        return Tensor.ofArray shape data
    }

let tensor = tensorOf smallShape

/// Zero to six tensors with unique names (a generated name plus its index).
let namedTensors (tensor: Gen<Tensor>) =
    gen {
        let! count = Gen.choose (0, 6)
        let! names = Gen.arrayOfLength count name
        let! tensors = Gen.arrayOfLength count tensor
        return Array.zip (names |> Array.mapi (fun i n -> sprintf "%s%d" n i)) tensors
    }

/// The bit patterns of a tensor's values (NaN-safe equality).
let bits (t: Tensor) = t.Data |> Array.map BitConverter.SingleToInt32Bits

/// Every proper prefix of a file's `bytes` makes `decode` raise 'E: never a result, never another exception.
let everyCutRaises<'E, 'a when 'E :> exn> (decode: byte[] -> 'a) (bytes: byte[]) =
    for cut in 0 .. bytes.Length - 1 do
        try
            decode bytes.[.. cut - 1] |> ignore
            failwithf "a file cut to %d of %d bytes decoded" cut bytes.Length
        with :? 'E -> ()
