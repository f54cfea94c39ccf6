/// GIN's prunable structure (hidden channels), over the tree (GinParams, GinState) so that batch-norm running
/// statistics are thinned with their channels. Per GIN layer: each hidden width of its MLP (a unit feeds the next
/// MLP layer) and its output channels (a channel feeds the next GIN layer's MLP and the next readout head). The
/// input features and the class outputs are never pruned.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module GinPruning =
    let structure (cfg: GinConfig) : PrunableStructure =
        let widths = Gin.layerWidths cfg
        let last = widths.Length - 1
        let unitOf (p: string) (st: string) (mlpLayer: int) (norm: string) (running: string) =
            [ UnitSlice.single (sprintf "%sMlp.Layers.%d.W" p mlpLayer) 1 Produces
              UnitSlice.single (sprintf "%sMlp.Layers.%d.B" p mlpLayer) 0 Produces
              UnitSlice.single (p + norm + ".Gamma") 0 Produces
              UnitSlice.single (p + norm + ".Beta") 0 Produces
              UnitSlice.single (st + running + ".Mean") 0 Travels
              UnitSlice.single (st + running + ".Var") 0 Travels ]
        { Groups =
            [ for l, ws in List.indexed widths do
                  let p, st = sprintf "0.Layers.%d." l, sprintf "1.Layers.%d." l
                  let m = ws.Length - 1
                  for k in 0 .. m - 1 do
                      yield { Name = sprintf "gin%d.mlp%d" (l + 1) (k + 1); Units = ws.[k]
                              Slices = unitOf p st k (sprintf "Mlp.Norms.%d" k) (sprintf "Mlp.Running.%d" k)
                                       @ [ UnitSlice.single (sprintf "%sMlp.Layers.%d.W" p (k + 1)) 0 Consumes ] }
                  yield { Name = sprintf "gin%d" (l + 1); Units = ws.[m]
                          Slices = unitOf p st m "Norm" "Norm"
                                   @ [ UnitSlice.single (sprintf "0.Heads.%d.W" (l + 1)) 0 Consumes ]
                                   @ (if l < last then [ UnitSlice.single (sprintf "0.Layers.%d.Mlp.Layers.0.W" (l + 1)) 0 Consumes ] else []) } ] }

    /// The configuration of a thin GIN keeping `counts` units per group (in the structure's group order).
    let resize (cfg: GinConfig) (counts: int[]) =
        let layers = cfg.NumLayers - 1
        if counts.Length <> layers * cfg.MlpLayers then
            invalidArg "counts" (sprintf "GinPruning.resize: %d groups (%d layers x %d MLP widths), got %d counts" (layers * cfg.MlpLayers) layers cfg.MlpLayers counts.Length)
        { cfg with LayerWidths = Some (counts |> Array.chunkBySize cfg.MlpLayers |> Array.map List.ofArray |> List.ofArray) }
