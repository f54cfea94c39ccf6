/// `gcnkd eval`: a saved model rebuilt from its model name and a checkpoint's named tensors (parameters, then
/// batch-norm state prefixed "state."), checked name by name and shape by shape, and scored in eval mode on the
/// parts of a dataset. Any mismatch between the checkpoint and the model is an ArgumentException naming the tensor.
namespace GcnKd.Train

open GcnKd

/// One part's cross-entropy and accuracy (0..1).
type PartScore = { Part: string; Items: int; Loss: float; Accuracy: float }

[<RequireQualifiedAccess>]
module Evaluation =
    /// Models `node` can rebuild: the `train` presets and the distillation teacher and student.
    let nodeModels = Registry.nodeModels @ [ "gat-teacher"; "gat-student" ]
    /// Models `graph` can rebuild: GIN-0 and the GFKD family.
    let graphModels = Registry.graphModels

    /// The template filled from `named`; every tensor of `named` must be one of the template's.
    let private fill (what: string) (template: 'T) (named: System.Collections.Generic.IReadOnlyDictionary<string, Tensor>) : 'T =
        let filled = Tree.ofNamed template named
        let known = Tree.leaves template |> Array.map fst |> set
        match named.Keys |> Seq.tryFind (fun n -> not (known.Contains n)) with
        | Some n -> invalidArg n (sprintf "tensor '%s' of the checkpoint is not part of %s" n what)
        | None -> filled

    let private load (what: string) (p0: 'P) (s0: 'S) (named: (string * Tensor)[]) : 'P * 'S =
        let ps, ss = Registry.paramsAndState named
        fill what p0 ps, fill (what + "'s batch-norm state") s0 ss

    let private scoreNodes (logits: Tensor) (data: NodeDataset) =
        [ "train", data.Train; "validation", data.Val; "test", data.Test ]
        |> List.filter (fun (_, idx) -> idx.Length > 0)
        |> List.map (fun (part, idx) -> let l, a = NodeTrainer.evaluate logits data.Labels idx in { Part = part; Items = idx.Length; Loss = l; Accuracy = a })

    /// A node classifier on a Planetoid dataset: its train, validation and test accuracy.
    let node (model: string) (data: NodeDataset) (named: (string * Tensor)[]) : PartScore list =
        let f, c = data.Features.Shape.[1], data.NumClasses
        let what = sprintf "a %s on %s (%d features, %d classes)" model data.Name f c
        let none = ()
        let logits =
            match model with
            | "gcn" ->
                let cfg = Registry.gcnNode f c
                let p, _ = load what (Gcn.init cfg (Rng.create 0)) none named
                (Gcn.forward cfg p ForwardContext.Eval (Gcn.prepare data.Adj) data.Features).Logits
            | "gat" | "gat-teacher" | "gat-student" ->
                let cfg = match model with "gat" -> Gat.cora f c | "gat-teacher" -> DistillRegistry.nodeTeacher f c | _ -> DistillRegistry.nodeStudent f c
                let p, _ = load what (Gat.init cfg (Rng.create 0)) none named
                (Gat.forward cfg p ForwardContext.Eval (Gat.prepare data.Adj) data.Features).Logits
            | "sage" ->
                let cfg = Registry.sageNode f c
                let p, _ = load what (Sage.init cfg (Rng.create 0)) none named
                (Sage.forward cfg p ForwardContext.Eval (Sage.prepare data.Adj) data.Features).Logits
            | "mlp" ->
                let cfg = Registry.mlpNode f c
                let p, st = load what (Mlp.init cfg (Rng.create 0)) (Mlp.initState cfg) named
                (fst (Mlp.forward cfg p st ForwardContext.Eval data.Features)).Logits
            | m -> invalidArg "model" (sprintf "eval: unknown node model '%s' (known: %s)" m (String.concat ", " nodeModels))
        scoreNodes logits data

    /// A graph classifier on the given parts (name, graph indices) of a graph-classification dataset.
    let graph (model: string) (data: GraphDataset) (named: (string * Tensor)[]) (parts: (string * int[]) list) : PartScore list =
        let what = sprintf "a %s on %s (%d features, %d classes)" model data.Name data.NumFeatures data.NumClasses
        let score (spec: GraphSpec<'P, 'S>) (p: 'P) (s: 'S) =
            parts |> List.map (fun (part, idx) ->
                let l, a = GraphTrainer.evaluate spec p s (GraphTrainer.chunks 256 idx |> Array.map (GraphTrainer.prepare data.Graphs))
                { Part = part; Items = idx.Length; Loss = l; Accuracy = a })
        match model with
        | "gin" ->
            let cfg = Gin.config data.NumFeatures data.NumClasses
            let p, s = load what (Gin.init cfg (Rng.create 0)) (Gin.initState cfg) named
            score (GinEvolution.spec cfg p s) p s
        | m when List.contains m graphModels ->
            let cfg = GfkdRegistry.modelConfig m data
            let p, s = load what (GfkdFamily.init cfg (Rng.create 0)) (GfkdFamily.initState cfg) named
            score (GfkdRegistry.studentSpec m data) p s
        | m -> invalidArg "model" (sprintf "eval: unknown graph model '%s' (known: %s)" m (String.concat ", " graphModels))
