/// The bulk random kernels (vectorised SplitMix64, Kernels/RandomKernels.fs) against the scalar `Rng` functions,
/// bit for bit, element by element, on 1 and 2 threads. The vector path taken depends on the machine (Vector512,
/// Vector256 or scalar); running these tests with DOTNET_EnableAVX512F=0 or DOTNET_EnableHWIntrinsic=0 checks the
/// other paths against the same scalar definitions.
namespace GcnKd.Tests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests

/// Changes Threads.Count, so it runs in the "threads" collection (never in parallel with other such tests).
[<Collection("threads")>]
module RngBulkTests =
    let private withThreads (n: int) (f: unit -> 'a) =
        let saved = Threads.Count
        Threads.Count <- n
        try f () finally Threads.Count <- saved

    /// Bitwise equality (NaN = NaN of the same payload, -0 <> +0).
    let private sameBits (a: float32[]) (b: float32[]) =
        a.Length = b.Length
        && Array.forall2 (fun (x: float32) (y: float32) -> BitConverter.SingleToInt32Bits x = BitConverter.SingleToInt32Bits y) a b

    /// Any 64-bit key, not only those `Rng.create` makes.
    let private key = gen {
        let! hi = Gen.choose (Int32.MinValue, Int32.MaxValue)
        let! lo = Gen.choose (Int32.MinValue, Int32.MaxValue)
        return { Key = (uint64 (uint32 hi) <<< 32) ||| uint64 (uint32 lo) } }

    /// Stream offsets: small, negative, and next to the int64 limits (the counter wraps mod 2^64, as the scalar's).
    let private start = gen {
        let! k = Gen.choose (0, 3)
        let! d = Gen.choose (0, 1000)
        return
            match k with
            | 0 -> int64 d
            | 1 -> -(int64 d)
            | 2 -> Int64.MaxValue - int64 d
            | _ -> int64 d * 1_000_003L }

    /// Lengths 0..40 (every vector/tail split) and large ones (several parallel chunks, ragged ends).
    let private length = Gen.oneof [ Gen.choose (0, 40); Gen.choose (41, 300); Gen.choose (40_000, 140_000) ]

    let private onThreads1And2 (fill: unit -> float32[]) =
        let one = withThreads 1 fill
        let two = withThreads 2 fill
        one, two

    let private checkFill (fill: Rng -> int64 -> float32[] -> unit) (scalar: Rng -> int64 -> float32) =
        Props.forAll (Gen.zip3 key start length) (fun (r, s, n) ->
            let expected = Array.init n (fun j -> scalar r (s + int64 j))
            let one, two = onThreads1And2 (fun () -> let a = Array.create n nanf in fill r s a; a)
            sameBits expected one && sameBits expected two)

    [<Fact>]
    let ``fillUniform equals uniformAt element by element`` () = checkFill Rng.fillUniform Rng.uniformAt

    [<Fact>]
    let ``fillOpenUniform equals openUniformAt element by element`` () = checkFill Rng.fillOpenUniform Rng.openUniformAt

    [<Fact>]
    let ``fillNormal equals normalAt element by element`` () = checkFill Rng.fillNormal Rng.normalAt

    [<Fact>]
    let ``uniformArray and normalArray are the scalar streams from 0`` () =
        Props.forAll (Gen.zip key length) (fun (r, n) ->
            sameBits (Rng.uniformArray n r) (Array.init n (fun i -> Rng.uniformAt r (int64 i)))
            && sameBits (Rng.normalArray n r) (Array.init n (fun i -> Rng.normalAt r (int64 i))))

    [<Fact>]
    let ``a fill writes exactly its destination and the same values at any offset`` () =
        // filling dst from start s equals the tail of a fill from s - k: values depend only on the counter
        Props.forAll (Gen.zip3 key length (Gen.choose (0, 37))) (fun (r, n, k) ->
            let whole = Array.zeroCreate (n + k)
            Rng.fillUniform r 0L whole
            let part = Array.zeroCreate n
            Rng.fillUniform r (int64 k) part
            sameBits part whole.[k..])

    [<Fact>]
    let ``Tensor.rand and Tensor.bernoulli equal their scalar definitions`` () =
        let shape = gen {
            let! n = length
            return if n > 1000 then [| n / 100; 100 |] else [| n |] }
        let probs = gen {
            let! v = Gen.choose (-2, 12)
            return float32 v / 10.0f } // outside [0, 1] too: always 0 below 0, always 1 above 1
        Props.forAll (Gen.zip3 key shape (Gen.zip3 probs probs Props.seed)) (fun (r, sh, (lo, hi, seed)) ->
            let n = Shape.numel sh
            let randRef = Array.init n (fun i -> lo + (hi - lo) * Rng.uniformAt r (int64 i))
            let p = Tensor.rand (Rng.create seed) -0.2f 1.2f sh
            let bernRef = Array.init n (fun i -> if Rng.uniformAt r (int64 i) < p.Data.[i] then 1.0f else 0.0f)
            let ok threads =
                withThreads threads (fun () ->
                    let t = Tensor.rand r lo hi sh
                    let b = Tensor.bernoulli r p
                    t.Shape = sh && b.Shape = sh && sameBits randRef t.Data && sameBits bernRef b.Data)
            ok 1 && ok 2)

    /// x with NaN, infinities and signed zeros mixed in: y = x * mask must carry them exactly as the product does.
    let private input (seed: int) (n: int) =
        let x = Rng.normalArray n (Rng.create seed)
        let specials = [| nanf; infinityf; -infinityf; 0.0f; -0.0f |]
        for i in 0 .. 7 .. n - 1 do x.[i] <- specials.[(i / 7) % specials.Length]
        x

    [<Fact>]
    let ``dropout's output and gradient equal the scalar mask product`` () =
        let p = Gen.elements [ 0.1f; 0.3f; 0.5f; 0.6f; 0.999f; 1e-7f ]
        Props.forAll (Gen.zip3 key (Gen.zip length p) Props.seed) (fun (r, (n, p), seed) ->
            let x = Tensor.ofArray [| n |] (input seed n)
            let g = Tensor.ofArray [| n |] (input (seed + 1) n)
            let m = Array.init n (fun i -> if Rng.uniformAt r (int64 i) >= p then 1.0f / (1.0f - p) else 0.0f)
            let yRef = Array.init n (fun i -> x.Data.[i] * m.[i])
            let dxRef = Array.init n (fun i -> g.Data.[i] * m.[i])
            let ok threads =
                withThreads threads (fun () ->
                    let y, dx = Autodiff.vjp (fun (t: Tensor) -> Dropout.apply r p true t) x g
                    sameBits yRef y.Data && sameBits dxRef dx.Data && sameBits m (Dropout.mask r p n))
            ok 1 && ok 2)

    [<Fact>]
    let ``dropout on a matrix keeps about 1 - p of the entries, scaled`` () =
        let x = Tensor.ones [| 271; 143 |]
        let y = Dropout.apply (Rng.create 8) 0.5f true x
        let kept = y.Data |> Array.filter (fun v -> v <> 0.0f)
        Assert.All(kept, fun v -> Assert.Equal(2.0f, v))
        // 38753 Bernoulli(0.5) trials: sd ~98; 5 standard deviations
        Assert.InRange(kept.Length, 19376 - 490, 19376 + 490)
