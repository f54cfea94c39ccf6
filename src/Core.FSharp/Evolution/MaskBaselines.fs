/// The masks the genetic search is compared with at equal size (the same kept-unit count per group): L1-norm
/// ranking (Li et al., ICLR 2017: keep the units whose producing weights have the largest L1 norm) and uniformly
/// random subsets.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module MaskBaselines =
    let private checkCounts (op: string) (s: PrunableStructure) (counts: int[]) =
        if counts.Length <> s.Groups.Length then invalidArg "counts" (sprintf "%s: %d counts for %d groups" op counts.Length s.Groups.Length)
        List.iteri (fun gi (g: UnitGroup) ->
            if counts.[gi] < 1 || counts.[gi] > g.Units then
                invalidArg "counts" (sprintf "%s: group '%s' has %d units, asked to keep %d" op g.Name g.Units counts.[gi])) s.Groups

    /// L1 norm of every unit's producing weights (all its Produces slices together), per group.
    let l1Norms (s: PrunableStructure) (tree: 'P) : float[][] =
        let leaves = Prunable.validate s tree
        s.Groups |> List.map (fun g ->
            let norms = Array.zeroCreate g.Units
            for sl in g.Slices |> List.filter (fun sl -> sl.Role = Produces) do
                let t = leaves.[sl.Leaf]
                let outer, n, inner = Shape.aroundAxis t.Shape sl.Axis
                for k in 0 .. g.Units - 1 do
                    for pos in UnitSlice.positions g.Units sl k do
                        for o in 0 .. outer - 1 do
                            let start = (o * n + pos) * inner
                            for i in start .. start + inner - 1 do norms.[k] <- norms.[k] + abs (float t.Data.[i])
            norms) |> Array.ofList

    /// Keep the `counts.[g]` units of largest L1 norm in each group (ties: the lower index).
    let l1 (s: PrunableStructure) (tree: 'P) (counts: int[]) : bool[] =
        checkCounts "MaskBaselines.l1" s counts
        let norms = l1Norms s tree
        Prunable.maskOf s (norms |> Array.mapi (fun gi ns ->
            Array.init ns.Length id |> Array.sortWith (fun a b -> match compare ns.[b] ns.[a] with 0 -> compare a b | c -> c) |> Array.truncate counts.[gi]))

    /// Keep a uniformly random subset of `counts.[g]` units in each group.
    let random (s: PrunableStructure) (counts: int[]) (rng: Rng) : bool[] =
        checkCounts "MaskBaselines.random" s counts
        let keys = Rng.splitN s.Groups.Length rng
        Prunable.maskOf s (s.Groups |> List.mapi (fun gi g -> Rng.permutation g.Units keys.[gi] |> Array.truncate counts.[gi]) |> Array.ofList)
