/// The prunable structure of a GCN-conv model of the GFKD family (GCN3_32, GCN5_64), over the tree (GfkdParams,
/// GfkdState) so that batch-norm running statistics are thinned with their channels. The residual sums (h = out +
/// h on every layer after the first) add the layers' outputs channel by channel, so a channel is kept or removed
/// in every layer at once: one tied group of Width units, produced by each layer's GraphConv and batch norm and
/// consumed by the next layer and by the head. The input features and the classes are never pruned.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module GfkdPruning =
    let private check (op: string) (cfg: GfkdConfig) =
        if cfg.Conv <> GcnConv then
            invalidArg "cfg" (sprintf "GfkdPruning.%s: %s has GIN blocks; only the GCN-conv models (GCN3_32, GCN5_64) are prunable here" op cfg.Name)

    let structure (cfg: GfkdConfig) : PrunableStructure =
        check "structure" cfg
        let layers = cfg.NumLayers - 1
        { Groups =
            [ { Name = "channels"; Units = cfg.Width
                Slices =
                    [ for l in 0 .. layers - 1 do
                          let p, st = sprintf "0.Layers.%d.GcnBlock." l, sprintf "1.Layers.%d.GcnBlockState." l
                          yield UnitSlice.single (p + "Conv.W") 1 Produces
                          yield UnitSlice.single (p + "Conv.B") 0 Produces
                          yield UnitSlice.single (p + "Norm.Gamma") 0 Produces
                          yield UnitSlice.single (p + "Norm.Beta") 0 Produces
                          yield UnitSlice.single (st + "Mean") 0 Travels
                          yield UnitSlice.single (st + "Var") 0 Travels
                          if l > 0 then yield UnitSlice.single (p + "Conv.W") 0 Consumes
                      yield UnitSlice.single "0.Head.W" 0 Consumes ] } ] }

    /// The configuration of the thin model keeping `counts.[0]` channels.
    let resize (cfg: GfkdConfig) (counts: int[]) =
        check "resize" cfg
        if counts.Length <> 1 || counts.[0] < 1 || counts.[0] > cfg.Width then
            invalidArg "counts" (sprintf "GfkdPruning.resize: one count in [1, %d] (the tied channels of %s), got %A" cfg.Width cfg.Name counts)
        { cfg with Width = counts.[0] }
