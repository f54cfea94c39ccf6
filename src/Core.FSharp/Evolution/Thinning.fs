/// Decoding a mask into a physically smaller network: every tensor a removed unit occupies loses those positions
/// (filters, input channels, batch-norm entries), so the thin network is an ordinary dense model of smaller widths,
/// not a masked one. Also the masked reference: the full network with the removed units' producing weights zeroed,
/// whose outputs the thin network reproduces.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module Thinning =
    /// The positions `keep` (ascending or not, each in range) of `axis`, in that order.
    let selectAxis (axis: int) (keep: int[]) (t: Tensor) : Tensor =
        let shape = t.Shape
        let outer, n, inner = Shape.aroundAxis shape axis
        for k in keep do
            if k < 0 || k >= n then invalidArg "keep" (sprintf "Thinning.selectAxis: position %d outside axis %d of length %d" k axis n)
        let src = t.Data
        let dst = Array.zeroCreate (outer * keep.Length * inner)
        for o in 0 .. outer - 1 do
            for i in 0 .. keep.Length - 1 do
                Array.blit src ((o * n + keep.[i]) * inner) dst ((o * keep.Length + i) * inner) inner
        let newShape = Array.copy shape
        newShape.[axis] <- keep.Length
        Tensor.ofArray newShape dst

    /// Per (leaf, axis): which positions survive. A position survives when every unit covering it is kept (a column
    /// of an attention layer is removed with its head or with its channel).
    let private survivors (s: PrunableStructure) (mask: bool[]) (leaves: Map<string, Tensor>) =
        let offs = Prunable.offsets s
        let flags = System.Collections.Generic.Dictionary<string * int, bool[]>()
        s.Groups |> List.iteri (fun gi g ->
            for sl in g.Slices do
                let key = sl.Leaf, sl.Axis
                if not (flags.ContainsKey key) then flags.[key] <- Array.create leaves.[sl.Leaf].Shape.[sl.Axis] true
                let f = flags.[key]
                for k in 0 .. g.Units - 1 do
                    if not mask.[offs.[gi] + k] then
                        for pos in UnitSlice.positions g.Units sl k do f.[pos] <- false)
        flags

    /// The thin tree: every leaf the structure touches keeps only its surviving positions on each touched axis;
    /// other leaves are shared unchanged. Throws when a group would lose all its units.
    let thin (s: PrunableStructure) (mask: bool[]) (tree: 'P) : 'P =
        let leaves = Prunable.validate s tree
        Prunable.checkMask "Thinning.thin" s mask
        let empty = List.zip s.Groups (List.ofArray (Prunable.keptCounts s mask)) |> List.filter (fun (_, c) -> c = 0) |> List.map (fun (g, _) -> g.Name)
        if not empty.IsEmpty then invalidArg "mask" (sprintf "Thinning.thin: the mask removes every unit of %s" (String.concat ", " empty))
        let flags = survivors s mask leaves
        let byLeaf = flags.Keys |> Seq.groupBy fst |> Seq.map (fun (leaf, keys) -> leaf, keys |> Seq.map snd |> Seq.sort |> Array.ofSeq) |> Map.ofSeq
        Tree.map (fun name t ->
            match byLeaf.TryFind name with
            | None -> t
            | Some axes ->
                axes |> Array.fold (fun (acc: Tensor) axis ->
                    let f = flags.[(name, axis)]
                    selectAxis axis (Array.init f.Length id |> Array.filter (fun i -> f.[i])) acc) t) tree

    /// The full-size tree with the producing positions of every removed unit set to zero (a filter's weights and
    /// bias, its batch-norm scale and shift): the removed units then output exactly zero.
    let zeroRemoved (s: PrunableStructure) (mask: bool[]) (tree: 'P) : 'P =
        Prunable.validate s tree |> ignore
        Prunable.checkMask "Thinning.zeroRemoved" s mask
        let offs = Prunable.offsets s
        let zeroed = System.Collections.Generic.Dictionary<string, ResizeArray<int * int[]>>()
        s.Groups |> List.iteri (fun gi g ->
            for sl in g.Slices |> List.filter (fun sl -> sl.Role = Produces) do
                for k in 0 .. g.Units - 1 do
                    if not mask.[offs.[gi] + k] then
                        if not (zeroed.ContainsKey sl.Leaf) then zeroed.[sl.Leaf] <- ResizeArray()
                        zeroed.[sl.Leaf].Add((sl.Axis, UnitSlice.positions g.Units sl k)))
        Tree.map (fun name (t: Tensor) ->
            match zeroed.TryGetValue name with
            | false, _ -> t
            | true, cuts ->
                let data = t.ToArray()
                let shape = t.Shape
                for axis, positions in cuts do
                    let outer, n, inner = Shape.aroundAxis shape axis
                    for o in 0 .. outer - 1 do
                        for pos in positions do
                            Array.fill data ((o * n + pos) * inner) inner 0.0f
                Tensor.ofArray (Array.copy shape) data) tree
