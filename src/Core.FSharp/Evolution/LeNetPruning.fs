/// LeNet's prunable structure: the filters of both convolutions and the hidden fully connected units. A removed
/// conv1 filter takes conv2's input channel with it; a removed conv2 filter takes its whole flattened map (side^2
/// consecutive inputs) of fc1; a removed fc1 unit takes fc2's input row. The image input and the class outputs are
/// never pruned.
namespace GcnKd.Evolution

open GcnKd

[<RequireQualifiedAccess>]
module LeNetPruning =
    let structure (cfg: LeNetConfig) : PrunableStructure =
        let _, _, _, p2 = LeNet.mapSides cfg
        { Groups =
            [ { Name = "conv1"; Units = cfg.Conv1
                Slices = [ UnitSlice.single "Conv1.W" 0 Produces; UnitSlice.single "Conv1.B" 0 Produces; UnitSlice.single "Conv2.W" 1 Consumes ] }
              { Name = "conv2"; Units = cfg.Conv2
                Slices = [ UnitSlice.single "Conv2.W" 0 Produces; UnitSlice.single "Conv2.B" 0 Produces; UnitSlice.block "Fc1.W" 0 (p2 * p2) Consumes ] }
              { Name = "fc1"; Units = cfg.Fc1
                Slices = [ UnitSlice.single "Fc1.W" 1 Produces; UnitSlice.single "Fc1.B" 0 Produces; UnitSlice.single "Fc2.W" 0 Consumes ] } ] }

    /// The configuration of a thin LeNet keeping `counts` units of conv1, conv2 and fc1.
    let resize (cfg: LeNetConfig) (counts: int[]) =
        if counts.Length <> 3 then invalidArg "counts" (sprintf "LeNetPruning.resize: 3 groups (conv1, conv2, fc1), got %d counts" counts.Length)
        { cfg with Conv1 = counts.[0]; Conv2 = counts.[1]; Fc1 = counts.[2] }
