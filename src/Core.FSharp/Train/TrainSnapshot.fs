/// A graph training run between two epochs, and its encoding as named tensors plus text metadata (a safetensors
/// checkpoint): the epoch to run next, the model, its batch-norm state, the optimiser's moments, the selection so far
/// (its best model and scores) and the epoch log. Every random choice of an epoch derives from the run's seed and the
/// epoch number, so a run continued from a snapshot ends exactly where one uninterrupted run does.
namespace GcnKd.Train

open System
open System.Globalization
open GcnKd

type GraphTrainState<'P, 'S> =
    { NextEpoch: int
      Params: 'P
      State: 'S
      Optimizer: OptState<'P>
      Selection: Selection<'P * 'S>
      Log: EpochLog[] }

/// A training state as a checkpoint holds it.
type TrainSnapshot = { Tensors: (string * Tensor)[]; Metadata: (string * string) list }

/// How a training run meets snapshots: one to continue from, and what to do with each epoch's (a thunk: encoding
/// costs a copy of the trees, so the host encodes only the ones it saves).
type Snapshots = { Resume: TrainSnapshot option; OnState: (unit -> TrainSnapshot) -> unit }

[<RequireQualifiedAccess>]
module Snapshots =
    let none = { Resume = None; OnState = ignore }

[<RequireQualifiedAccess>]
module TrainSnapshot =
    let private r (v: float) = v.ToString("R", CultureInfo.InvariantCulture)
    let private f (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
    let private prefixed (p: string) (tree: 'T) = Tree.leaves tree |> Array.map (fun (n, t) -> p + n, t)

    let encode (st: GraphTrainState<'P, 'S>) : TrainSnapshot =
        let log =
            st.Log |> Array.map (fun e -> String.Join(",", [| string e.Epoch; r e.Lr; r e.TrainLoss; r e.TrainMetric; r e.ValLoss; r e.ValMetric |]))
        { Tensors =
            Array.concat
                [ prefixed "params." st.Params; prefixed "state." st.State; prefixed "optimizer." st.Optimizer
                  (match st.Selection.Best with Some b -> prefixed "best." b | None -> [||]) ]
          Metadata =
            [ "next_epoch", string st.NextEpoch; "best_epoch", string st.Selection.BestEpoch; "best_metric", r st.Selection.BestMetric
              "best_loss", r st.Selection.BestLoss; "since_best", string st.Selection.SinceBest; "log", String.Join(";", log) ] }

    /// The state of a snapshot, its trees shaped as the templates (a fresh model, state and optimiser state); a
    /// snapshot of another model or a damaged one is an ArgumentException naming what does not fit.
    let decode (p0: 'P) (s0: 'S) (opt0: OptState<'P>) (snap: TrainSnapshot) : GraphTrainState<'P, 'S> =
        let meta = dict snap.Metadata
        let get (k: string) =
            match meta.TryGetValue k with
            | true, v -> v
            | _ -> invalidArg k (sprintf "training snapshot: metadata '%s' is missing" k)
        let part (p: string) =
            snap.Tensors |> Array.choose (fun (n, t) -> if n.StartsWith p then Some(n.Substring p.Length, t) else None) |> readOnlyDict
        let best = part "best."
        let entry (line: string) =
            match line.Split(',') with
            | [| e; lr; tl; tm; vl; vm |] -> { Epoch = int e; Lr = f lr; TrainLoss = f tl; TrainMetric = f tm; ValLoss = f vl; ValMetric = f vm }
            | _ -> invalidArg "log" (sprintf "training snapshot: a log entry has %d fields, expected 6: '%s'" (line.Split(',').Length) line)
        { NextEpoch = int (get "next_epoch")
          Params = Tree.ofNamed p0 (part "params.")
          State = Tree.ofNamed s0 (part "state.")
          Optimizer = Tree.ofNamed opt0 (part "optimizer.")
          Selection =
            { Best = (if best.Count = 0 then None else Some (Tree.ofNamed (p0, s0) best))
              BestEpoch = int (get "best_epoch"); BestMetric = f (get "best_metric"); BestLoss = f (get "best_loss")
              SinceBest = int (get "since_best") }
          Log = (match get "log" with "" -> [||] | l -> l.Split(';') |> Array.map entry) }
