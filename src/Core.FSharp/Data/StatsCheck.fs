/// Comparing what a loader measured with the published statistics of that dataset version.
module GcnKd.StatsCheck

open GcnKd.PublishedStats

/// What the host measured on a loaded dataset (loader conventions: see PublishedStats).
type Measured =
    { Items: int
      Nodes: int64
      Edges: int64
      Classes: int
      Features: int
      ClassCounts: int[]
      /// Sizes of the fixed split in order (train, validation, test); empty when the dataset has none.
      Split: int[] }

/// One field that differs from its published value.
type Mismatch = { Stat: Stat; Expected: string; Found: string }

let private average (total: int64) (items: int) = if items = 0 then 0.0 else float total / float items

let private describe (expected: Expected) =
    match expected with
    | Exactly n -> string n
    | Rounded(v, d) -> v.ToString("F" + string d, System.Globalization.CultureInfo.InvariantCulture)
    | Counts cs -> "[" + String.concat ", " (List.map string cs) + "]"

/// A published value in comparable form: class counts as a multiset (sorted, largest first), since loaders
/// renumber classes; averages rounded to their published decimals.
let private normalize (stat: Stat) (expected: Expected) =
    match stat, expected with
    | ClassCounts, Counts cs -> Counts(List.sortDescending cs)
    | _, Rounded(v, d) -> Rounded(System.Math.Round(v, d), d)
    | _ -> expected

/// The measured value of a stat, in the form of its published value.
let private found (m: Measured) (stat: Stat) (expected: Expected) =
    match stat, expected with
    | AvgNodes, Rounded(_, d) -> Rounded(System.Math.Round(average m.Nodes m.Items, d), d)
    | AvgEdges, Rounded(_, d) -> Rounded(System.Math.Round(average m.Edges m.Items, d), d)
    | ClassCounts, Counts _ -> Counts(m.ClassCounts |> Array.sortDescending |> List.ofArray)
    | Split, Counts _ -> Counts(List.ofArray m.Split)
    | Items, Exactly _ -> Exactly(int64 m.Items)
    | Nodes, Exactly _ -> Exactly m.Nodes
    | Edges, Exactly _ -> Exactly m.Edges
    | Classes, Exactly _ -> Exactly(int64 m.Classes)
    | Features, Exactly _ -> Exactly(int64 m.Features)
    | _ -> invalidArg "expected" (sprintf "%s cannot be published as %A" stat.Name expected)

/// Every published field of `p` that `m` does not reproduce (empty: the dataset matches).
let check (p: Published) (m: Measured) : Mismatch list =
    p.Expect
    |> List.choose (fun (stat, published) ->
        let expected, f = normalize stat published, found m stat published
        if expected = f then None else Some { Stat = stat; Expected = describe expected; Found = describe f })

/// "graphs: expected 188, found 187; avg nodes: expected 17.93, found 18.01"
let describeMismatches (p: Published) (ms: Mismatch list) =
    ms
    |> List.map (fun m -> sprintf "%s: expected %s, found %s" (if m.Stat = Items then p.ItemName else m.Stat.Name) m.Expected m.Found)
    |> String.concat "; "

/// A one-line summary of what was measured: "188 graphs, 3371 nodes, 3721 edges, 2 classes, 7 features".
let summary (p: Published) (m: Measured) =
    [ yield (if m.Items = 1 then "1 graph" else sprintf "%d %s" m.Items p.ItemName)
      if m.Nodes > 0L then yield sprintf "%d nodes" m.Nodes
      if m.Edges > 0L then yield sprintf "%d edges" m.Edges
      yield sprintf "%d classes" m.Classes
      yield sprintf "%d features" m.Features ]
    |> String.concat ", "
