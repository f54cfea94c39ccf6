/// Seeded, counter-based random numbers. A key is an immutable value passed explicitly; element i of a draw is a
/// pure function of (key, i), so draws are identical on any thread count, and `split` derives independent keys.
namespace GcnKd

open System
open GcnKd.Kernels

[<Struct>]
type Rng = { Key: uint64 }

module Rng =
    let inline private mix (z0: uint64) =
        // SplitMix64 finaliser
        let mutable z = z0
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    let create (seed: int) = { Key = mix (uint64 (int64 seed) + 0x9E3779B97F4A7C15UL) }

    /// Two independent keys from one.
    let split (r: Rng) = { Key = mix (r.Key ^^^ 0xA5A5A5A5A5A5A5A5UL) }, { Key = mix (r.Key + 0x632BE59BD9B4E019UL) }

    /// n independent keys from one.
    let splitN (n: int) (r: Rng) = Array.init n (fun i -> { Key = mix (r.Key + 0x9E3779B97F4A7C15UL * uint64 (i + 1)) })

    /// The i-th raw 64-bit word of a key's stream.
    let inline word (r: Rng) (i: int64) = mix (r.Key + 0x9E3779B97F4A7C15UL * uint64 (i + 1L))

    /// Uniform in [0, 1) with 24 random bits (exact in float32).
    let inline uniformAt (r: Rng) (i: int64) = float32 (word r i >>> 40) * (1.0f / 16777216.0f)

    /// Uniform in (0, 1): never 0, safe under log.
    let inline openUniformAt (r: Rng) (i: int64) = (float32 (word r i >>> 40) + 0.5f) * (1.0f / 16777216.0f)

    /// Standard normal (Box-Muller on two words of the stream).
    let inline normalAt (r: Rng) (i: int64) =
        let u1 = (float (word r (2L * i) >>> 11) + 0.5) * (1.0 / 9007199254740992.0)
        let u2 = float (word r (2L * i + 1L) >>> 11) * (1.0 / 9007199254740992.0)
        float32 (sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2))

    /// dst[j] = uniformAt r (start + j), bit for bit; vectorised and parallel (Kernels/RandomKernels.fs).
    let fillUniform (r: Rng) (start: int64) (dst: float32[]) = RandomKernels.fillUniformAffine r.Key start 0.0f 1.0f dst

    /// dst[j] = openUniformAt r (start + j), bit for bit.
    let fillOpenUniform (r: Rng) (start: int64) (dst: float32[]) = RandomKernels.fillOpenUniform r.Key start dst

    /// dst[j] = normalAt r (start + j), bit for bit; parallel, scalar per element (libm log and cos).
    let fillNormal (r: Rng) (start: int64) (dst: float32[]) = RandomKernels.fillNormal r.Key start dst

    let uniformArray (n: int) (r: Rng) =
        let a = GC.AllocateUninitializedArray<float32> n
        fillUniform r 0L a
        a

    let normalArray (n: int) (r: Rng) =
        let a = GC.AllocateUninitializedArray<float32> n
        fillNormal r 0L a
        a

    /// A uniformly random integer in [0, bound).
    let intAt (r: Rng) (i: int64) (bound: int) = int ((word r i >>> 33) % uint64 bound)

    /// A random permutation of 0..n-1 (Fisher-Yates driven by the key's stream).
    let permutation (n: int) (r: Rng) =
        let p = Array.init n id
        for i in n - 1 .. -1 .. 1 do
            let j = intAt r (int64 i) (i + 1)
            let t = p.[i]
            p.[i] <- p.[j]
            p.[j] <- t
        p
