/// The text of a progress bar (epochs, folds, generations, iterations): the bar, the rate, the time left and the
/// whole line, e.g. `seed 0 [#####...............] 120/350 epochs  1.2 s/epoch  ETA 4m40s  loss 0.41 acc 83.2`.
/// Pure: the host measures the elapsed time and decides where (and whether) the line is drawn.
module GcnKd.Report.ProgressText

open System
open System.Globalization

/// Seconds per unit, from the seconds elapsed over the units done since the clock started; None before the first.
let secondsPerUnit (elapsed: float) (doneSinceStart: int) : float option =
    if doneSinceStart > 0 && elapsed >= 0.0 && Double.IsFinite elapsed then Some(elapsed / float doneSinceStart) else None

/// Seconds left for `remaining` more units at the rate measured so far; None before the first unit.
let eta (elapsed: float) (doneSinceStart: int) (remaining: int) : float option =
    secondsPerUnit elapsed doneSinceStart |> Option.map (fun s -> s * float (max 0 remaining))

/// A duration for people: `42s`, `4m40s`, `2h05m` (rounded to whole seconds; `?` when not a finite number >= 0).
let duration (seconds: float) : string =
    if not (Double.IsFinite seconds) || seconds < 0.0 then "?"
    else
        let s = int64 (Math.Round seconds)
        if s < 60L then sprintf "%ds" s
        elif s < 3600L then sprintf "%dm%02ds" (s / 60L) (s % 60L)
        else sprintf "%dh%02dm" (s / 3600L) (s % 3600L / 60L)

/// Time per unit: `1.2 s/epoch` from one second up, `35 ms/iteration` below.
let rate (secondsPerUnit: float) (unitName: string) : string =
    if secondsPerUnit >= 1.0 then String.Format(CultureInfo.InvariantCulture, "{0:F1} s/{1}", secondsPerUnit, unitName)
    else String.Format(CultureInfo.InvariantCulture, "{0:F0} ms/{1}", 1000.0 * secondsPerUnit, unitName)

/// `[#####.....]` with `width` cells (at least 1) filled in proportion to done / total, done clamped to [0, total].
let bar (width: int) (doneUnits: int) (total: int) : string =
    let width = max 1 width
    let filled = if total <= 0 then 0 else int (float width * float (Math.Clamp(doneUnits, 0, total)) / float total)
    "[" + String('#', filled) + String('.', width - filled) + "]"

/// Cells of the bar in a line.
let barWidth = 20

/// One progress line, cut to `columns` characters (the terminal's width; a longer line would wrap and break the
/// in-place redraw). `total` <= 0 means unknown: no bar and no ETA. `unitName` is singular ("epoch").
let line (columns: int) (label: string) (doneUnits: int) (total: int) (unitName: string) (elapsed: float) (doneSinceStart: int) (status: string) : string =
    let parts =
        [ if total > 0 then
              yield sprintf "%s %s %d/%d %ss" label (bar barWidth doneUnits total) doneUnits total unitName
          else yield sprintf "%s %d %ss" label doneUnits unitName
          match secondsPerUnit elapsed doneSinceStart with
          | Some s -> yield rate s unitName
          | None -> ()
          match eta elapsed doneSinceStart (total - doneUnits) with
          | Some left when total > 0 -> yield "ETA " + duration left
          | _ -> ()
          if not (String.IsNullOrWhiteSpace status) then yield status ]
    let text = String.Join("  ", parts)
    let columns = max 1 columns
    if text.Length <= columns then text else text.Substring(0, columns)
