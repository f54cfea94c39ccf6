/// What an evolutionary search may remove from a model (Wang et al., KDD 2018): groups of units (convolution
/// filters, hidden channels, attention heads), one bit per unit, all groups concatenated into one chromosome
/// (1 = keep). Each group lists every place its units occupy in the parameter tree: the tensors that produce a
/// unit's output (a filter's weights and bias, its batch-norm entries) and those that consume it (the next layer's
/// input channels). Groups joined by a residual sum are one group whose slices span all the tied layers.
namespace GcnKd.Evolution

open GcnKd

/// Whether a slice computes the unit's output (zeroing it silences the unit; its magnitude ranks the unit for
/// L1-norm pruning), reads it, or is state that travels with the unit (batch-norm running statistics: sliced,
/// never zeroed or ranked).
type SliceRole =
    | Produces
    | Consumes
    | Travels

/// Where a group's units sit along one axis of one tensor leaf (named as `Tree.leaves` names it): unit k of a group
/// of n units covers positions r * (n * Width) + k * Width + j for r < Repeats and j < Width. Width > 1 is a block
/// per unit (a flattened feature map, a head's channels); Repeats > 1 interleaves units inside repeated blocks (one
/// channel of every attention head).
type UnitSlice =
    { Leaf: string
      Axis: int
      Width: int
      Repeats: int
      Role: SliceRole }

/// One block of bits: `Units` units that are kept or removed together wherever they occur.
type UnitGroup = { Name: string; Units: int; Slices: UnitSlice list }

type PrunableStructure = { Groups: UnitGroup list }

[<RequireQualifiedAccess>]
module UnitSlice =
    /// One position per unit.
    let single (leaf: string) (axis: int) (role: SliceRole) = { Leaf = leaf; Axis = axis; Width = 1; Repeats = 1; Role = role }

    /// A contiguous block of `width` positions per unit.
    let block (leaf: string) (axis: int) (width: int) (role: SliceRole) = { Leaf = leaf; Axis = axis; Width = width; Repeats = 1; Role = role }

    /// Positions of unit k (ascending) in a group of n units.
    let positions (n: int) (s: UnitSlice) (k: int) =
        [| for r in 0 .. s.Repeats - 1 do
               for j in 0 .. s.Width - 1 -> r * n * s.Width + k * s.Width + j |]

    /// Length of the axis the slice covers exactly.
    let extent (n: int) (s: UnitSlice) = s.Repeats * n * s.Width

[<RequireQualifiedAccess>]
module Prunable =
    /// Chromosome length: one bit per unit of every group.
    let length (s: PrunableStructure) = s.Groups |> List.sumBy (fun g -> g.Units)

    /// Where each group's bits start in the chromosome.
    let offsets (s: PrunableStructure) = s.Groups |> List.map (fun g -> g.Units) |> List.scan (+) 0 |> List.take s.Groups.Length |> Array.ofList

    /// Refuse a mask whose length is not the structure's chromosome length, naming the operation.
    let checkMask (op: string) (s: PrunableStructure) (mask: bool[]) =
        if mask.Length <> length s then
            invalidArg "mask" (sprintf "%s: the mask has %d bits, the structure %d" op mask.Length (length s))

    /// Kept unit indices of every group, in group order.
    let kept (s: PrunableStructure) (mask: bool[]) : int[][] =
        checkMask "Prunable.kept" s mask
        let offs = offsets s
        s.Groups |> List.mapi (fun gi g -> Array.init g.Units id |> Array.filter (fun k -> mask.[offs.[gi] + k])) |> Array.ofList

    /// Kept units per group.
    let keptCounts (s: PrunableStructure) (mask: bool[]) = kept s mask |> Array.map Array.length

    /// Removed units in total.
    let removed (s: PrunableStructure) (mask: bool[]) = mask |> Array.sumBy (fun b -> if b then 0 else 1)

    /// Whether the mask decodes into a network: every group keeps at least one unit.
    let isViable (s: PrunableStructure) (mask: bool[]) = keptCounts s mask |> Array.forall (fun c -> c > 0)

    /// The mask that keeps exactly the given units per group.
    let maskOf (s: PrunableStructure) (keep: int[][]) : bool[] =
        if keep.Length <> s.Groups.Length then
            invalidArg "keep" (sprintf "Prunable.maskOf: %d groups of kept units for a structure of %d groups" keep.Length s.Groups.Length)
        let mask = Array.zeroCreate (length s)
        let offs = offsets s
        s.Groups |> List.iteri (fun gi g ->
            for k in keep.[gi] do
                if k < 0 || k >= g.Units then invalidArg "keep" (sprintf "Prunable.maskOf: group '%s' has units 0..%d, got %d" g.Name (g.Units - 1) k)
                mask.[offs.[gi] + k] <- true)
        mask

    /// Every unit kept.
    let full (s: PrunableStructure) = Array.create (length s) true

    /// Check the structure against a parameter tree: every slice names an existing leaf and axis and covers that
    /// axis exactly. Returns the tree's leaves by name.
    let validate (s: PrunableStructure) (tree: 'P) : Map<string, Tensor> =
        let leaves = Tree.leaves tree |> Map.ofArray
        for g in s.Groups do
            if g.Units < 1 then invalidArg "structure" (sprintf "Prunable: group '%s' has %d units" g.Name g.Units)
            for sl in g.Slices do
                match leaves.TryFind sl.Leaf with
                | None -> invalidArg "structure" (sprintf "Prunable: group '%s' names leaf '%s', which the parameters do not have" g.Name sl.Leaf)
                | Some t ->
                    if sl.Axis < 0 || sl.Axis >= t.Rank then
                        invalidArg "structure" (sprintf "Prunable: group '%s' slices axis %d of '%s', of shape %s" g.Name sl.Axis sl.Leaf (Shape.describe t.Shape))
                    if sl.Width < 1 || sl.Repeats < 1 || UnitSlice.extent g.Units sl <> t.Shape.[sl.Axis] then
                        invalidArg "structure" (sprintf "Prunable: group '%s' (%d units x width %d x %d repeats) does not cover axis %d of '%s' (%d)"
                                                    g.Name g.Units sl.Width sl.Repeats sl.Axis sl.Leaf t.Shape.[sl.Axis])
        leaves
