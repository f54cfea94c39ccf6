/// Test data support: the real data root, temp folders for fixtures, and checks shared by the loader tests.
module GcnKd.Tests.TestData

open System
open System.IO
open Xunit
open GcnKd
open GcnKd.Host.Data
open GcnKd.Host.Errors

/// The real data: GCNKD_DATA, else the `shared/data` folder found walking up from the test binary.
let dataRoot =
    lazy (
        match Environment.GetEnvironmentVariable "GCNKD_DATA" with
        | null | "" ->
            let rec up (d: DirectoryInfo) =
                if isNull d then failwith "real data not found: set GCNKD_DATA or place it in a shared/data folder above the tests"
                elif Directory.Exists(Path.Combine(d.FullName, "shared", "data")) then Path.Combine(d.FullName, "shared", "data")
                else up d.Parent
            DataRoot.At(up (DirectoryInfo AppContext.BaseDirectory))
        | p -> DataRoot.At p)

/// A fresh temp folder, deleted on dispose.
type TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "gcnkd-loader-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.Write(name: string, text: string) =
        let p = Path.Combine(path, name)
        Directory.CreateDirectory(Path.GetDirectoryName p) |> ignore
        File.WriteAllText(p, text)
    member _.WriteBytes(name: string, bytes: byte[]) =
        let p = Path.Combine(path, name)
        Directory.CreateDirectory(Path.GetDirectoryName p) |> ignore
        File.WriteAllBytes(p, bytes)
    interface IDisposable with
        member _.Dispose() = try Directory.Delete(path, true) with _ -> ()

/// The action fails with a GcnKdUserError whose message contains every fragment; the message.
let userErrorMessage (fragments: string list) (action: unit -> 'a) =
    let e = Assert.Throws<GcnKdUserError>(fun () -> action () |> ignore)
    for f in fragments do Assert.True(e.Message.Contains f, sprintf "expected '%s' in the message: %s" f e.Message)
    e.Message

/// The action fails with a GcnKdUserError whose message contains every fragment.
let userError (fragments: string list) (action: unit -> 'a) = userErrorMessage fragments action |> ignore

/// Every adjacency is symmetric, sorted, without duplicates or self-loops, with unit values.
let checkAdjacency (a: Csr) =
    Csr.validate a
    let set = Collections.Generic.HashSet<struct (int * int)>()
    for i in 0 .. a.Rows - 1 do
        for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
            let j = a.ColIdx.[e]
            Assert.NotEqual(i, j)
            Assert.Equal(1.0f, a.Values.[e])
            if e > a.RowPtr.[i] then Assert.True(a.ColIdx.[e - 1] < j, "entries sorted and distinct")
            set.Add(struct (i, j)) |> ignore
    for struct (i, j) in set do Assert.True(set.Contains(struct (j, i)), sprintf "edge %d-%d has no reverse" i j)

let rowSums (t: Tensor) = Array.init t.Shape.[0] (fun i -> Array.sum t.Data.[i * t.Shape.[1] .. (i + 1) * t.Shape.[1] - 1])
