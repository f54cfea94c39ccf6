/// A fake-graph fitting run (GFKD or DeepInvG) as safetensors bytes, so that an interrupted run resumes exactly:
/// the parameters, both Adam states, the best iterate, and in the metadata the iteration, the best loss and the
/// fixed part of the fake graphs (node counts, labels, structure mode, features).
namespace GcnKd

open System
open System.Globalization

/// The tensors of a checkpoint, as one tree (leaf names such as "StructureOpt.FirstMoment").
type FittingTensors =
    { Structure: Tensor
      Features: Tensor
      StructureOpt: OptState<Tensor>
      FeatureOpt: OptState<Tensor>
      BestStructure: Tensor
      BestFeatures: Tensor }

[<RequireQualifiedAccess>]
module FittingCheckpoint =
    let private ints (xs: int[]) = String.Join(",", xs)

    let private parseInts (key: string) (s: string) =
        if s = "" then [||]
        else
            s.Split(',') |> Array.map (fun v ->
                match Int32.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture) with
                | true, x -> x
                | _ -> invalidArg "bytes" (sprintf "FittingCheckpoint.decode: metadata '%s' must be a comma-separated list of integers, got '%s'" key s))

    let private describeFeatures (f: FakeFeatures) =
        match f with
        | FakeFeatures.Learned w -> sprintf "learned:%d" w
        | FakeFeatures.Degree v -> "degree:" + ints v

    /// The spec as metadata entries.
    let specMetadata (spec: FakeGraphSpec) : Map<string, string> =
        Map [ "node_counts", ints spec.NodeCounts
              "labels", ints spec.Labels
              "num_classes", string spec.NumClasses
              "mode", (match spec.Mode with
                       | StructureMode.Symmetric -> "symmetric"
                       | StructureMode.Directed -> "directed"
                       | StructureMode.Multinomial b -> sprintf "multinomial:%d" b)
              "features", describeFeatures spec.Features ]

    /// The spec stored in a checkpoint's metadata (ArgumentException naming the key when it is missing or bad).
    let specOf (metadata: Map<string, string>) : FakeGraphSpec =
        let get k =
            match metadata.TryFind k with
            | Some v -> v
            | None -> invalidArg "bytes" (sprintf "FittingCheckpoint.decode: the metadata has no '%s'; this is not a fake-graph checkpoint" k)
        let features =
            match (get "features").Split(':', 2) with
            | [| "learned"; w |] -> FakeFeatures.Learned (parseInts "features" w).[0]
            | [| "degree"; v |] -> FakeFeatures.Degree (parseInts "features" v)
            | _ -> invalidArg "bytes" (sprintf "FittingCheckpoint.decode: metadata 'features' must be learned:W or degree:LIST, got '%s'" (get "features"))
        let spec =
            { NodeCounts = parseInts "node_counts" (get "node_counts")
              Labels = parseInts "labels" (get "labels")
              NumClasses = (parseInts "num_classes" (get "num_classes")).[0]
              Mode = (match get "mode" with
                      | "symmetric" -> StructureMode.Symmetric
                      | "directed" -> StructureMode.Directed
                      | m when m.StartsWith "multinomial:" -> StructureMode.Multinomial (parseInts "mode" (m.Substring 12)).[0]
                      | m -> invalidArg "bytes" (sprintf "FittingCheckpoint.decode: metadata 'mode' must be symmetric, directed or multinomial:B, got '%s'" m))
              Features = features }
        FakeGraphs.validate spec
        spec

    let private vector (xs: float32[]) = Tensor.Wrap([| xs.Length |], xs)

    /// The bytes of a run's state.
    let encode (spec: FakeGraphSpec) (state: FittingState) : byte[] =
        let tree =
            { Structure = vector state.Params.Structure; Features = state.Params.Features
              StructureOpt = state.StructureOpt; FeatureOpt = state.FeatureOpt
              BestStructure = vector state.Best.Structure; BestFeatures = state.Best.Features }
        let meta =
            specMetadata spec
            |> Map.add "iteration" (string state.Iteration)
            |> Map.add "best_loss" (state.BestLoss.ToString("R", CultureInfo.InvariantCulture))
        Safetensors.encodeTree tree meta

    /// The spec and the state stored in bytes from `encode`.
    let decode (bytes: byte[]) : FakeGraphSpec * FittingState =
        let _, metadata = Safetensors.decode bytes
        let spec = specOf metadata
        let p = FakeGraphs.init spec 0.0f (Rng.create 0)
        let start = FakeGraphFitting.start p
        let template =
            { Structure = vector p.Structure; Features = p.Features; StructureOpt = start.StructureOpt; FeatureOpt = start.FeatureOpt
              BestStructure = vector p.Structure; BestFeatures = p.Features }
        let t, meta = Safetensors.decodeTree template bytes
        let number k =
            match meta.TryFind k |> Option.map (fun s -> Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture)) with
            | Some(true, v) -> v
            | _ -> invalidArg "bytes" (sprintf "FittingCheckpoint.decode: metadata '%s' is missing or not a number" k)
        spec,
        { Params = { Structure = t.Structure.Data; Features = t.Features }
          StructureOpt = t.StructureOpt
          FeatureOpt = t.FeatureOpt
          Iteration = int (number "iteration")
          Best = { Structure = t.BestStructure.Data; Features = t.BestFeatures }
          BestLoss = number "best_loss" }
