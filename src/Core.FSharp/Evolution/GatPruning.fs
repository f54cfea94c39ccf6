/// GAT's prunable structure: per hidden layer, its attention heads and its channels (channel c of every head
/// together, so the thin layer keeps a heads x channels shape). A column of the layer survives when both its head
/// and its channel do. The output layer (the classes) is never pruned. Identity residuals would tie the channels
/// of consecutive layers into one group; configurations that use them are refused.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module GatPruning =
    let structure (cfg: GatConfig) : PrunableStructure =
        let specs = Gat.specs cfg |> Array.ofList
        if specs |> Array.exists (fun s -> s.Skip = IdentitySkip) then
            invalidArg "cfg" "GatPruning: identity residuals tie the channels of consecutive layers; use NoResidual or Projection"
        let slices (l: int) (width: int) (repeats: int) (onAttnAxis: int) =
            let s = specs.[l]
            let own = sprintf "Layers.%d." l
            let next = sprintf "Layers.%d." (l + 1)
            let mk leaf axis role = { Leaf = leaf; Axis = axis; Width = width; Repeats = repeats; Role = role }
            [ yield mk (own + "W") 1 Produces
              yield UnitSlice.single (own + "AttnSrc") onAttnAxis Produces
              yield UnitSlice.single (own + "AttnDst") onAttnAxis Produces
              if cfg.Bias then yield mk (own + "Bias") 0 Produces
              if s.Skip = ProjectedSkip then yield mk (own + "Residual") 1 Produces
              yield mk (next + "W") 0 Consumes
              if specs.[l + 1].Skip = ProjectedSkip then yield mk (next + "Residual") 0 Consumes ]
        { Groups =
            [ for l in 0 .. specs.Length - 2 do
                  let s = specs.[l]
                  yield { Name = sprintf "gat%d.heads" (l + 1); Units = s.Heads; Slices = slices l s.Width 1 0 }
                  yield { Name = sprintf "gat%d.channels" (l + 1); Units = s.Width; Slices = slices l 1 s.Heads 1 } ] }

    /// The configuration of a thin GAT keeping (heads, channels) per hidden layer, from `counts` in the
    /// structure's group order.
    let resize (cfg: GatConfig) (counts: int[]) =
        if counts.Length <> 2 * cfg.Hidden.Length then
            invalidArg "counts" (sprintf "GatPruning.resize: %d groups (heads and channels of %d hidden layers), got %d counts" (2 * cfg.Hidden.Length) cfg.Hidden.Length counts.Length)
        { cfg with Hidden = List.init cfg.Hidden.Length (fun l -> counts.[2 * l], counts.[2 * l + 1]) }
