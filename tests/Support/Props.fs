/// Property tests run inside [<Fact>]s (FsCheck.Xunit is not available). The number of cases per property comes
/// from one setting, GCNKD_PROPERTY_CASES (default 30), so a long verification run is one environment variable.
module GcnKd.Tests.Props

open System
open FsCheck
open FsCheck.FSharp

let cases =
    match Environment.GetEnvironmentVariable "GCNKD_PROPERTY_CASES" with
    | null | "" -> 30
    | s ->
        match Int32.TryParse s with
        | true, n when n > 0 -> n
        | _ -> failwithf "GCNKD_PROPERTY_CASES must be a positive integer, got '%s'" s

/// Scale the case count for expensive properties (at least one case).
let casesScaled (factor: float) = max 1 (int (float cases * factor))

let private config n = Config.QuickThrowOnFailure.WithMaxTest(n).WithQuietOnSuccess(true)

/// Check that `body` holds (does not throw, returns true) for `cases` values drawn from `gen`.
let forAll (gen: Gen<'a>) (body: 'a -> bool) =
    Check.One(config cases, Prop.forAll (Arb.fromGen gen) body)

/// As forAll, with an explicit case count.
let forAllN (n: int) (gen: Gen<'a>) (body: 'a -> bool) =
    Check.One(config n, Prop.forAll (Arb.fromGen gen) body)

/// A generator of dimension sizes in [lo, hi].
let dim lo hi = Gen.choose (lo, hi)

/// A generator of seeds for GcnKd's Rng.
let seed = Gen.choose (0, Int32.MaxValue)
