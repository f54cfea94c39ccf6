/// Shapes of dense row-major tensors (rank 0 to 4) and numpy-style broadcasting.
module GcnKd.Shape

/// Number of elements of a shape (1 for a scalar).
let numel (shape: int[]) =
    let mutable n = 1
    for d in shape do n <- n * d
    n

/// Row-major strides.
let strides (shape: int[]) =
    let s = Array.zeroCreate shape.Length
    let mutable acc = 1
    for i in shape.Length - 1 .. -1 .. 0 do
        s.[i] <- acc
        acc <- acc * shape.[i]
    s

let describe (shape: int[]) = "[" + (shape |> Array.map string |> String.concat "; ") + "]"

/// Maximum rank the engine supports.
[<Literal>]
let MaxRank = 4

let check (what: string) (shape: int[]) =
    if shape.Length > MaxRank then
        invalidArg what (sprintf "%s: rank %d exceeds the supported maximum of %d (shape %s)" what shape.Length MaxRank (describe shape))
    for d in shape do
        if d < 0 then invalidArg what (sprintf "%s: negative dimension in shape %s" what (describe shape))

/// Broadcast two shapes (numpy rules: align on the right, a dimension of 1 stretches).
let broadcast (a: int[]) (b: int[]) =
    let r = max a.Length b.Length
    Array.init r (fun i ->
        let da = let j = i - (r - a.Length) in if j >= 0 then a.[j] else 1
        let db = let j = i - (r - b.Length) in if j >= 0 then b.[j] else 1
        if da = db then da
        elif da = 1 then db
        elif db = 1 then da
        else invalidArg "shape" (sprintf "shapes %s and %s cannot be broadcast together" (describe a) (describe b)))

/// Normalise a possibly negative axis against a rank.
let axis (rank: int) (ax: int) =
    let a = if ax < 0 then ax + rank else ax
    if a < 0 || a >= rank then invalidArg "axis" (sprintf "axis %d is out of range for rank %d" ax rank)
    a

/// Split a shape around an axis into (outer, size, inner) element counts.
let aroundAxis (shape: int[]) (ax: int) =
    let mutable outer = 1
    let mutable inner = 1
    for i in 0 .. ax - 1 do outer <- outer * shape.[i]
    for i in ax + 1 .. shape.Length - 1 do inner <- inner * shape.[i]
    outer, shape.[ax], inner
