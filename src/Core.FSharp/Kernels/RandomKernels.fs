/// Bulk counter-based draws: the same SplitMix64 words as `Rng.word`, eight 64-bit lanes at a time. Element i of a
/// draw is still a pure function of (key, start + i), so a vector lane, the scalar tail and any thread split all
/// give bit-identical values; the tests compare every fill with the scalar `Rng` functions element by element.
/// Works on raw keys (`Rng.Key`) because it compiles before Rng.fs, which exposes it as `Rng.fill*`.
/// SplitMix64 (Steele, Lea & Flood 2014): counter z_i = key + gamma (i + 1), word_i = mix(z_i), so consecutive
/// lanes differ by gamma and a vector of counters advances by a constant.
module GcnKd.Kernels.RandomKernels

#nowarn "9"

open System
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open GcnKd

// The constants of Rng.fs's scalar SplitMix64 (kept separate so the bit-for-bit tests check one against the other).
[<Literal>]
let Gamma = 0x9E3779B97F4A7C15UL
[<Literal>]
let M1 = 0xBF58476D1CE4E5B9UL
[<Literal>]
let M2 = 0x94D049BB133111EBUL
/// 2^-24: a 24-bit integer times this is exact in float32.
[<Literal>]
let Inv24 = 5.9604644775390625e-8f

let inline mix (z0: uint64) =
    let mutable z = z0
    z <- (z ^^^ (z >>> 30)) * M1
    z <- (z ^^^ (z >>> 27)) * M2
    z ^^^ (z >>> 31)

/// Word i of key's stream (= Rng.word).
let inline word (key: uint64) (i: int64) = mix (key + Gamma * uint64 (i + 1L))

/// Uniform in [0, 1) (= Rng.uniformAt): the top 24 bits, exact in float32.
let inline uniformAt (key: uint64) (i: int64) = float32 (word key i >>> 40) * Inv24

/// The SplitMix64 finaliser on 8 lanes. Vector512 multiply of uint64 is one vpmullq with AVX-512DQ.
let inline mix512 (z0: Vector512<uint64>) =
    let z1 = Vector512.Multiply(Vector512.Xor(z0, Vector512.ShiftRightLogical(z0, 30)), Vector512.Create M1)
    let z2 = Vector512.Multiply(Vector512.Xor(z1, Vector512.ShiftRightLogical(z1, 27)), Vector512.Create M2)
    Vector512.Xor(z2, Vector512.ShiftRightLogical(z2, 31))

/// The same on 4 lanes. Without AVX-512 the JIT emulates the 64-bit multiply with 32-bit ones (measured on this
/// machine with DOTNET_EnableAVX512=0: dropout ~3x slower than the Vector512 path, still ~10x faster than scalar).
let inline mix256 (z0: Vector256<uint64>) =
    let z1 = Vector256.Multiply(Vector256.Xor(z0, Vector256.ShiftRightLogical(z0, 30)), Vector256.Create M1)
    let z2 = Vector256.Multiply(Vector256.Xor(z1, Vector256.ShiftRightLogical(z1, 27)), Vector256.Create M2)
    Vector256.Xor(z2, Vector256.ShiftRightLogical(z2, 31))

/// 16 uniforms from two vectors of counters (lanes 0-7 from a, 8-15 from b): top 24 bits, narrowed to 32-bit
/// lanes, converted exactly (values < 2^24), scaled by 2^-24 exactly.
let inline uniform512 (a: Vector512<uint64>) (b: Vector512<uint64>) =
    let hi = Vector512.Narrow(Vector512.ShiftRightLogical(mix512 a, 40), Vector512.ShiftRightLogical(mix512 b, 40))
    Vector512.Multiply(Vector512.ConvertToSingle(Vector512.AsInt32 hi), Vector512.Create Inv24)

let inline uniform256 (a: Vector256<uint64>) (b: Vector256<uint64>) =
    let hi = Vector256.Narrow(Vector256.ShiftRightLogical(mix256 a, 40), Vector256.ShiftRightLogical(mix256 b, 40))
    Vector256.Multiply(Vector256.ConvertToSingle(Vector256.AsInt32 hi), Vector256.Create Inv24)

/// Calls v512 i u (u = uniforms of elements i..i+15) or v256 i u (i..i+7), then s i u for the scalar tail, over
/// [lo, hi) of the stream starting at `start` (element i draws counter start + i). Every path gives the same u.
let inline uniformRange (key: uint64) (start: int64) (lo: int) (hi: int)
                        ([<InlineIfLambda>] v512: int -> Vector512<float32> -> unit)
                        ([<InlineIfLambda>] v256: int -> Vector256<float32> -> unit)
                        ([<InlineIfLambda>] s: int -> float32 -> unit) =
    let mutable i = lo
    // counter of element lo, mod 2^64 exactly as the scalar uint64 (start + lo + 1) * gamma
    let z = key + Gamma * uint64 (start + int64 lo + 1L)
    if Vector512.IsHardwareAccelerated then
        if i + 16 <= hi then
            let lanes = Vector512.Multiply(Vector512.Create(0UL, 1UL, 2UL, 3UL, 4UL, 5UL, 6UL, 7UL), Vector512.Create Gamma)
            let step = Vector512.Create(Gamma * 16UL)
            let mutable a = Vector512.Add(Vector512.Create z, lanes)
            let mutable b = Vector512.Add(a, Vector512.Create(Gamma * 8UL))
            while i + 16 <= hi do
                v512 i (uniform512 a b)
                a <- Vector512.Add(a, step)
                b <- Vector512.Add(b, step)
                i <- i + 16
    elif Vector256.IsHardwareAccelerated then
        if i + 8 <= hi then
            let lanes = Vector256.Multiply(Vector256.Create(0UL, 1UL, 2UL, 3UL), Vector256.Create Gamma)
            let step = Vector256.Create(Gamma * 8UL)
            let mutable a = Vector256.Add(Vector256.Create z, lanes)
            let mutable b = Vector256.Add(a, Vector256.Create(Gamma * 4UL))
            while i + 8 <= hi do
                v256 i (uniform256 a b)
                a <- Vector256.Add(a, step)
                b <- Vector256.Add(b, step)
                i <- i + 8
    while i < hi do
        s i (uniformAt key (start + int64 i))
        i <- i + 1

/// Parallel over blocks of 16 elements (the same cuts for every thread count): body lo hi. As Simd.forBlocks,
/// which compiles after this file.
let inline forBlocks (n: int) (costPer16: int) ([<InlineIfLambda>] body: int -> int -> unit) =
    Threads.For((n + 15) / 16, costPer16, Action<int, int>(fun lo hi -> body (lo * 16) (min n (hi * 16))))

/// dst[i] = offset + scale * uniform(start + i). With scale 1, offset 0 this is exactly the uniform
/// (0 + 1 u = u); with offset lo, scale hi - lo it is Tensor.rand's lo + (hi - lo) u, no fused multiply-add.
let fillUniformAffine (key: uint64) (start: int64) (offset: float32) (scale: float32) (dst: float32[]) =
    forBlocks dst.Length 48 (fun lo hi ->
        use pd = fixed dst
        let vo512, vs512 = Vector512.Create offset, Vector512.Create scale
        let vo256, vs256 = Vector256.Create offset, Vector256.Create scale
        uniformRange key start lo hi
            (fun i u -> Vector512.Store(Vector512.Add(vo512, Vector512.Multiply(vs512, u)), NativePtr.add pd i))
            (fun i u -> Vector256.Store(Vector256.Add(vo256, Vector256.Multiply(vs256, u)), NativePtr.add pd i))
            (fun i u -> NativePtr.set pd i (offset + scale * u)))

/// dst[i] = (top 24 bits + 1/2) 2^-24 (= Rng.openUniformAt): in (0, 1), never 0. The +1/2 in float32 rounds the
/// same way in a lane as in the scalar, and u 2^24 is the exact integer, so this is uniform + 2^-25, computed as
/// the scalar does: (u 2^24 + 0.5) 2^-24.
let fillOpenUniform (key: uint64) (start: int64) (dst: float32[]) =
    forBlocks dst.Length 48 (fun lo hi ->
        use pd = fixed dst
        let two24 = 16777216.0f
        uniformRange key start lo hi
            (fun i u ->
                let k = Vector512.Multiply(u, Vector512.Create two24)
                Vector512.Store(Vector512.Multiply(Vector512.Add(k, Vector512.Create 0.5f), Vector512.Create Inv24), NativePtr.add pd i))
            (fun i u ->
                let k = Vector256.Multiply(u, Vector256.Create two24)
                Vector256.Store(Vector256.Multiply(Vector256.Add(k, Vector256.Create 0.5f), Vector256.Create Inv24), NativePtr.add pd i))
            (fun i u -> NativePtr.set pd i ((u * two24 + 0.5f) * Inv24)))

/// Standard normal (= Rng.normalAt): Box-Muller on words 2i and 2i+1. Scalar per element, parallel over blocks:
/// Math.Log and Math.Cos are the platform's libm, and no vector log/cos is bit-identical to them, while the two
/// transcendental calls cost ~10x the hash, so vectorising only the hash would change little.
let fillNormal (key: uint64) (start: int64) (dst: float32[]) =
    forBlocks dst.Length 1600 (fun lo hi ->
        for j in lo .. hi - 1 do
            let i = start + int64 j
            let u1 = (float (word key (2L * i) >>> 11) + 0.5) * (1.0 / 9007199254740992.0)
            let u2 = float (word key (2L * i + 1L) >>> 11) * (1.0 / 9007199254740992.0)
            dst.[j] <- float32 (sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2)))

/// out[i] = 1 where uniform(i) < p[i], else 0 (= Tensor.bernoulli).
let bernoulli (key: uint64) (p: float32[]) (out: float32[]) =
    if out.Length <> p.Length then invalidArg "out" "RandomKernels.bernoulli: lengths differ"
    forBlocks p.Length 48 (fun lo hi ->
        use pp = fixed p
        use po = fixed out
        uniformRange key 0L lo hi
            (fun i u ->
                let hit = Vector512.LessThan(u, Vector512.Load(NativePtr.add pp i))
                Vector512.Store(Vector512.ConditionalSelect(hit, Vector512.Create 1.0f, Vector512<float32>.Zero), NativePtr.add po i))
            (fun i u ->
                let hit = Vector256.LessThan(u, Vector256.Load(NativePtr.add pp i))
                Vector256.Store(Vector256.ConditionalSelect(hit, Vector256.Create 1.0f, Vector256<float32>.Zero), NativePtr.add po i))
            (fun i u -> NativePtr.set po i (if u < NativePtr.get pp i then 1.0f else 0.0f)))

/// Fused inverted-dropout forward: y[i] = x[i] m[i] with m[i] = scale where uniform(i) >= p, else 0 (the product,
/// not a select, so NaN and -0 propagate exactly as x * mask). keep[b] holds the keep bits of elements 16b..16b+15
/// (bit j for element 16b + j): 1/32 of a float mask, and the backward reads it instead of rehashing.
let dropoutForward (key: uint64) (p: float32) (scale: float32) (x: float32[]) (y: float32[]) (keep: uint16[]) =
    if y.Length <> x.Length || keep.Length <> (x.Length + 15) / 16 then
        invalidArg "y" "RandomKernels.dropoutForward: output or keep-bit lengths do not match the input"
    forBlocks x.Length 64 (fun lo hi ->
        use px = fixed x
        use py = fixed y
        use pk = fixed keep
        uniformRange key 0L lo hi
            (fun i u ->
                let k = Vector512.GreaterThanOrEqual(u, Vector512.Create p)
                let m = Vector512.ConditionalSelect(k, Vector512.Create scale, Vector512<float32>.Zero)
                Vector512.Store(Vector512.Multiply(Vector512.Load(NativePtr.add px i), m), NativePtr.add py i)
                NativePtr.set pk (i >>> 4) (uint16 (Vector512.ExtractMostSignificantBits k)))
            (fun i u ->
                let k = Vector256.GreaterThanOrEqual(u, Vector256.Create p)
                let m = Vector256.ConditionalSelect(k, Vector256.Create scale, Vector256<float32>.Zero)
                Vector256.Store(Vector256.Multiply(Vector256.Load(NativePtr.add px i), m), NativePtr.add py i)
                let bits = uint16 (Vector256.ExtractMostSignificantBits k)
                // i is a multiple of 8: the low byte of a block comes first, the high byte ORs onto it
                if i &&& 15 = 0 then NativePtr.set pk (i >>> 4) bits
                else NativePtr.set pk (i >>> 4) (NativePtr.get pk (i >>> 4) ||| (bits <<< 8)))
            (fun i u ->
                let kept = u >= p
                NativePtr.set py i (NativePtr.get px i * (if kept then scale else 0.0f))
                let b = i >>> 4
                let prior = if i &&& 15 = 0 then 0us else NativePtr.get pk b
                NativePtr.set pk b (if kept then prior ||| (1us <<< (i &&& 15)) else prior)))

/// Dropout backward from the keep bits: dx[i] = g[i] m[i], the same product as the forward's.
let dropoutBackward (keep: uint16[]) (scale: float32) (g: float32[]) (dx: float32[]) =
    if dx.Length <> g.Length || keep.Length <> (g.Length + 15) / 16 then
        invalidArg "dx" "RandomKernels.dropoutBackward: output or keep-bit lengths do not match the cotangent"
    forBlocks g.Length 16 (fun lo hi ->
        use pg = fixed g
        use pd = fixed dx
        let mutable i = lo
        if Vector512.IsHardwareAccelerated then
            let laneBits = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
            let vs = Vector512.Create scale
            while i + 16 <= hi do
                let bits = Vector512.BitwiseAnd(Vector512.Create(int keep.[i >>> 4]), laneBits)
                let m = Vector512.ConditionalSelect(Vector512.AsSingle(Vector512.Equals(bits, laneBits)), vs, Vector512<float32>.Zero)
                Vector512.Store(Vector512.Multiply(Vector512.Load(NativePtr.add pg i), m), NativePtr.add pd i)
                i <- i + 16
        elif Vector256.IsHardwareAccelerated then
            let laneBits = Vector256.Create(1, 2, 4, 8, 16, 32, 64, 128)
            let vs = Vector256.Create scale
            while i + 8 <= hi do
                let bits = Vector256.BitwiseAnd(Vector256.Create(int keep.[i >>> 4] >>> (i &&& 8)), laneBits)
                let m = Vector256.ConditionalSelect(Vector256.AsSingle(Vector256.Equals(bits, laneBits)), vs, Vector256<float32>.Zero)
                Vector256.Store(Vector256.Multiply(Vector256.Load(NativePtr.add pg i), m), NativePtr.add pd i)
                i <- i + 8
        while i < hi do
            let kept = (int keep.[i >>> 4] >>> (i &&& 15)) &&& 1 = 1
            NativePtr.set pd i (NativePtr.get pg i * (if kept then scale else 0.0f))
            i <- i + 1)
