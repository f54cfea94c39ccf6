/// Golden values produced by experiments/reference/*.py (PyTorch) and committed under tests/fixtures.
/// A fixture file is JSON: { "name": { "shape": [..], "data": [..] }, ... } plus optional scalar entries.
module GcnKd.Tests.Fixtures

open System
open System.IO
open System.Text.Json
open GcnKd

let dir = Path.Combine(AppContext.BaseDirectory, "fixtures")

type Fixture(path: string) =
    let doc = JsonDocument.Parse(File.ReadAllText path)
    member _.Path = path
    member _.Has(name: string) = let mutable e = Unchecked.defaultof<JsonElement> in doc.RootElement.TryGetProperty(name, &e)
    member _.Element(name: string) =
        let mutable e = Unchecked.defaultof<JsonElement>
        if doc.RootElement.TryGetProperty(name, &e) then e
        else failwithf "fixture %s has no entry '%s'" path name
    /// A tensor entry.
    member f.Tensor(name: string) =
        let e = f.Element name
        let shape = [| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
        let data = [| for v in e.GetProperty("data").EnumerateArray() -> v.GetSingle() |]
        Tensor.ofArray shape data
    /// An integer array entry (indices, labels).
    member f.Ints(name: string) = [| for v in (f.Element name).EnumerateArray() -> v.GetInt32() |]
    member f.Float(name: string) = (f.Element name).GetDouble()
    member f.Int(name: string) = (f.Element name).GetInt32()

let load (name: string) =
    let p = Path.Combine(dir, name)
    if not (File.Exists p) then failwithf "fixture %s not found (generate it with experiments/reference/)" p
    Fixture p

/// Assert two tensors agree within |a - b| <= atol + rtol |b|, naming the first mismatch.
let assertClose (what: string) (rtol: float32) (atol: float32) (expected: Tensor) (actual: Tensor) =
    if expected.Shape <> actual.Shape then
        failwithf "%s: shape %s, expected %s" what (Shape.describe actual.Shape) (Shape.describe expected.Shape)
    for i in 0 .. expected.Numel - 1 do
        let e, a = expected.Data.[i], actual.Data.[i]
        if not (abs (a - e) <= atol + rtol * abs e) then
            failwithf "%s: element %d is %g, expected %g (rtol %g, atol %g)" what i a e rtol atol
