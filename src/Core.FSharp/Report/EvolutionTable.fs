/// The evolutionary-compression table: per model, the full network and each thin network (the GA's mask and the
/// equal-size baselines), with kept units per layer, parameters, multiplications, the compression and speed-up
/// ratios rc and rs, accuracy before and after fine-tuning over seeds, the change against the full network, the
/// GA's margin over each baseline, and measured inference times. Rendered as Markdown and JSON.
namespace GcnKd.Report

open System
open System.Globalization

type EvolutionRow =
    { Model: string
      Dataset: string
      /// full, ga, l1 or random.
      Method: string
      /// Kept units per group, e.g. "conv1 11/20, conv2 19/50, fc1 245/500".
      Kept: string
      Params: int64
      Mults: int64
      Rc: float
      Rs: float
      /// Test accuracy (%) before fine-tuning (mean over seeds; NaN for the full network).
      Before: float
      Mean: float
      Std: float
      N: int
      /// Median inference time (ms) at batch 1 and 256; NaN where not measured.
      MsBatch1: float
      MsBatch256: float
      Command: string }

[<RequireQualifiedAccess>]
module EvolutionTable =
    let private inv (digits: string) (f: float) = if Double.IsNaN f then "" else f.ToString(digits, CultureInfo.InvariantCulture)

    let private full (rows: EvolutionRow list) (r: EvolutionRow) =
        rows |> List.tryFind (fun p -> p.Model = r.Model && p.Dataset = r.Dataset && p.Method = "full" && not (Double.IsNaN p.Mean))

    /// A thin row's accuracy change against the full network (mean minus mean).
    let vsFull (rows: EvolutionRow list) (r: EvolutionRow) =
        if r.Method = "full" || Double.IsNaN r.Mean then None else full rows r |> Option.map (fun f -> r.Mean - f.Mean)

    /// The GA's margin over a baseline row at the same size and whether it exceeds the larger standard deviation.
    let gaMargin (rows: EvolutionRow list) (r: EvolutionRow) : (float * bool) option =
        if r.Method = "ga" || r.Method = "full" || Double.IsNaN r.Mean then None
        else
            rows |> List.tryFind (fun p -> p.Model = r.Model && p.Dataset = r.Dataset && p.Method = "ga" && not (Double.IsNaN p.Mean))
            |> Option.map (fun ga -> let d = ga.Mean - r.Mean in d, d > max ga.Std r.Std)

    let private signed (digits: string) (d: float) = (if d >= 0.0 then "+" else "") + inv digits d

    let markdown (title: string) (preamble: string) (rows: EvolutionRow list) =
        MarkdownTable.render title preamble
            [ MarkdownTable.text "model"; MarkdownTable.text "dataset"; MarkdownTable.text "method"; MarkdownTable.text "kept"
              MarkdownTable.numeric "params"; MarkdownTable.numeric "mults"; MarkdownTable.numeric "rc"; MarkdownTable.numeric "rs"
              MarkdownTable.numeric "before fine-tuning"; MarkdownTable.numeric "mean"; MarkdownTable.numeric "std"; MarkdownTable.numeric "n"
              MarkdownTable.text "vs full"; MarkdownTable.text "GA's margin"; MarkdownTable.numeric "ms, batch 1"; MarkdownTable.numeric "ms, batch 256"
              MarkdownTable.text "command" ]
            (fun r ->
                [ r.Model; r.Dataset; r.Method; r.Kept; string r.Params; string r.Mults; inv "F2" r.Rc; inv "F2" r.Rs
                  inv "F2" r.Before; inv "F2" r.Mean; inv "F2" r.Std; string r.N
                  (match vsFull rows r with Some d -> signed "F2" d | None -> "")
                  (match gaMargin rows r with Some (d, true) -> sprintf "**%s** (> 1 std)" (signed "F2" d) | Some (d, false) -> signed "F2" d + " (within 1 std)" | None -> "")
                  inv "F3" r.MsBatch1; inv "F2" r.MsBatch256; "`" + r.Command + "`" ])
            rows

    let json (title: string) (rows: EvolutionRow list) =
        JsonTable.render title rows (fun w r ->
            w.WriteString("model", r.Model)
            w.WriteString("dataset", r.Dataset)
            w.WriteString("method", r.Method)
            w.WriteString("kept", r.Kept)
            w.WriteNumber("params", r.Params)
            w.WriteNumber("mults", r.Mults)
            JsonTable.number w "rc" r.Rc
            JsonTable.number w "rs" r.Rs
            w.WriteString("metric", "accuracy (%)")
            JsonTable.number w "before_fine_tuning" r.Before
            JsonTable.number w "mean" r.Mean
            JsonTable.number w "std" r.Std
            w.WriteNumber("n", r.N)
            (match vsFull rows r with Some d -> JsonTable.number w "vs_full" d | None -> w.WriteNull "vs_full")
            (match gaMargin rows r with
             | Some (d, b) -> JsonTable.number w "ga_margin" d; w.WriteBoolean("ga_beats_by_one_std", b)
             | None -> w.WriteNull "ga_margin"; w.WriteNull "ga_beats_by_one_std")
            JsonTable.number w "ms_batch1" r.MsBatch1
            JsonTable.number w "ms_batch256" r.MsBatch256
            w.WriteString("command", r.Command))
