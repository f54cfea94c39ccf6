/// Fake graphs in the GIN / powerful-gnns text format (the format GFKD's release writes its fake graphs in, and
/// GcnKd's GIN loader reads): the number of graphs, then per graph a line "n label" and per node a line
/// "tag m nbr_1 .. nbr_m" listing the node's out-neighbours (0-based, within the graph). Pure text; the host writes
/// the file (to a temporary name, then renamed).
namespace GcnKd

open System
open System.Text

[<RequireQualifiedAccess>]
module GinText =
    /// The file's text. `tags` maps a feature column to the tag written for nodes whose one-hot feature is that
    /// column (the dataset's own tag values, so the file reads like real data); None writes tag 0 for every node
    /// (degree-featured data such as IMDB-BINARY, whose loader derives features from the structure).
    let write (tags: int[] option) (graphs: GraphSample[]) : string =
        if isNull graphs || graphs.Length = 0 then invalidArg "graphs" "GinText.write: no graphs to write"
        let sb = StringBuilder()
        sb.Append(graphs.Length).Append('\n') |> ignore
        graphs |> Array.iteri (fun g s ->
            let a = s.Adj
            let n = a.Rows
            sb.Append(n).Append(' ').Append(s.Label).Append('\n') |> ignore
            // out-neighbours of i: the destinations j whose rows hold source i
            let outs = Array.init n (fun _ -> ResizeArray<int>())
            for j in 0 .. n - 1 do
                for e in a.RowPtr.[j] .. a.RowPtr.[j + 1] - 1 do outs.[a.ColIdx.[e]].Add j
            let w = if s.Features.Rank = 2 then s.Features.Shape.[1] else 0
            for i in 0 .. n - 1 do
                let tag =
                    match tags with
                    | None -> 0
                    | Some t ->
                        let row = Array.sub s.Features.Data (i * w) w
                        let col = Array.IndexOf(row, 1.0f)
                        if col < 0 || col >= t.Length then
                            invalidArg "graphs" (sprintf "GinText.write: node %d of graph %d has no one-hot feature within the %d tags" i g t.Length)
                        t.[col]
                let nb = outs.[i] |> Seq.sort |> Array.ofSeq
                sb.Append(tag).Append(' ').Append(nb.Length) |> ignore
                for j in nb do sb.Append(' ').Append(j) |> ignore
                sb.Append('\n') |> ignore)
        sb.ToString()
