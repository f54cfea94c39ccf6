namespace GcnKd

open System.Runtime.CompilerServices
open GcnKd.Kernels

/// A sparse matrix in compressed sparse row form. Row = DESTINATION node, column = SOURCE node, so `A @ X`
/// aggregates each node's in-neighbours. Entry e of row i is (i, ColIdx.[e], Values.[e]) for
/// RowPtr.[i] <= e < RowPtr.[i+1]. Immutable by contract (never write into the arrays).
type Csr =
    { Rows: int
      Cols: int
      RowPtr: int[]
      ColIdx: int[]
      Values: float32[] }

/// The structure of A^T as a permutation of A's entries: entry p of row j of A^T is A's entry Perm.[p], which sits
/// in row Src.[p] of A. Backward passes of SpMM-like ops read A^T through this plan instead of scattering with
/// atomics, so every output row is summed by one thread in a fixed order.
type CsrTransposePlan =
    { /// Row pointer of A^T (length Cols + 1).
      RowPtr: int[]
      /// Row of A for each entry of A^T (the column index of A^T).
      Src: int[]
      /// Index into A's entries for each entry of A^T.
      Perm: int[] }

[<RequireQualifiedAccess>]
module Csr =
    let nnz (a: Csr) = a.ColIdx.Length

    /// Check the invariants, raising ArgumentException with a message naming the first violation.
    let validate (a: Csr) =
        let fail msg = invalidArg "csr" ("Csr.validate: " + msg)
        if a.Rows < 0 || a.Cols < 0 then fail (sprintf "negative size %d x %d" a.Rows a.Cols)
        if isNull a.RowPtr || a.RowPtr.Length <> a.Rows + 1 then
            fail (sprintf "RowPtr has length %d, expected Rows + 1 = %d" (if isNull a.RowPtr then 0 else a.RowPtr.Length) (a.Rows + 1))
        if isNull a.ColIdx then fail "ColIdx is null"
        if isNull a.Values then fail "Values is null"
        if a.Values.Length <> a.ColIdx.Length then
            fail (sprintf "Values has length %d but ColIdx has length %d" a.Values.Length a.ColIdx.Length)
        if a.RowPtr.[0] <> 0 then fail (sprintf "RowPtr.[0] is %d, expected 0" a.RowPtr.[0])
        for i in 0 .. a.Rows - 1 do
            if a.RowPtr.[i + 1] < a.RowPtr.[i] then
                fail (sprintf "RowPtr is not monotone: RowPtr.[%d] = %d > RowPtr.[%d] = %d" i a.RowPtr.[i] (i + 1) a.RowPtr.[i + 1])
        if a.RowPtr.[a.Rows] <> a.ColIdx.Length then
            fail (sprintf "RowPtr.[%d] = %d but there are %d stored entries (ColIdx length)" a.Rows a.RowPtr.[a.Rows] a.ColIdx.Length)
        for e in 0 .. a.ColIdx.Length - 1 do
            let c = a.ColIdx.[e]
            if c < 0 || c >= a.Cols then fail (sprintf "column index %d at entry %d is out of range [0, %d)" c e a.Cols)

    /// Row index of every stored entry, in CSR order (the COO row array).
    let edgeRows (a: Csr) =
        let r = Array.zeroCreate<int> a.ColIdx.Length
        for i in 0 .. a.Rows - 1 do
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do r.[e] <- i
        r

    /// A rows x cols matrix from coordinate triplets, sorted by (row, column) with a stable two-pass counting sort
    /// (O(nnz + rows + cols)). Duplicates are kept, in input order; `coalesce` sums them. Values default to 1.
    let ofCoo (rows: int) (cols: int) (rowIdx: int[]) (colIdx: int[]) (values: float32[] option) : Csr =
        if rows < 0 || cols < 0 then invalidArg "rows" (sprintf "Csr.ofCoo: negative size %d x %d" rows cols)
        if rowIdx.Length <> colIdx.Length then
            invalidArg "colIdx" (sprintf "Csr.ofCoo: rowIdx has length %d but colIdx has length %d" rowIdx.Length colIdx.Length)
        let n = rowIdx.Length
        let vals = defaultArg values (Array.create n 1.0f)
        if vals.Length <> n then invalidArg "values" (sprintf "Csr.ofCoo: values has length %d, expected %d (one per entry)" vals.Length n)
        for e in 0 .. n - 1 do
            if rowIdx.[e] < 0 || rowIdx.[e] >= rows then
                invalidArg "rowIdx" (sprintf "Csr.ofCoo: row index %d at entry %d is out of range [0, %d)" rowIdx.[e] e rows)
            if colIdx.[e] < 0 || colIdx.[e] >= cols then
                invalidArg "colIdx" (sprintf "Csr.ofCoo: column index %d at entry %d is out of range [0, %d)" colIdx.[e] e cols)
        // radix sort: by column, then stably by row
        let _, byCol = SparseKernels.countingSort cols colIdx (Array.init n id)
        let rowPtr, order = SparseKernels.countingSort rows rowIdx byCol
        { Rows = rows
          Cols = cols
          RowPtr = rowPtr
          ColIdx = order |> Array.map (fun e -> colIdx.[e])
          Values = order |> Array.map (fun e -> vals.[e]) }

    /// The adjacency matrix of a graph with `numNodes` nodes and edges src.[k] -> dst.[k]: entry (dst, src) = 1,
    /// so row i lists node i's in-neighbours. Duplicate edges stay duplicate entries.
    let ofEdges (numNodes: int) (src: int[]) (dst: int[]) =
        if src.Length <> dst.Length then
            invalidArg "dst" (sprintf "Csr.ofEdges: src has %d edges but dst has %d" src.Length dst.Length)
        ofCoo numNodes numNodes dst src None

    let private memo = ConditionalWeakTable<Csr, Lazy<CsrTransposePlan>>()

    let private entry (a: Csr) =
        memo.GetValue(a, fun a ->
            validate a
            lazy (
                let ptr, perm = SparseKernels.countingSort a.Cols a.ColIdx (Array.init a.ColIdx.Length id)
                let rows = edgeRows a
                { RowPtr = ptr; Src = perm |> Array.map (fun e -> rows.[e]); Perm = perm }))

    /// Validate `a` once per matrix value (later calls on the same matrix are free). Kernels index through raw
    /// pointers, so every graph op calls this before touching the arrays.
    let ensureValid (a: Csr) = entry a |> ignore

    /// The transpose structure of `a`, computed once per matrix value and remembered for as long as the matrix
    /// lives (a memo keyed by reference: Csr is immutable by contract, so the cache is observable only as speed).
    /// Entries of each row of A^T come in increasing row order of A (a stable counting sort by column).
    let transposePlan (a: Csr) : CsrTransposePlan = (entry a).Value

    /// A^T (cols x rows); entries sorted by (row, column) when A's are.
    let transpose (a: Csr) : Csr =
        let p = transposePlan a
        { Rows = a.Cols; Cols = a.Rows; RowPtr = p.RowPtr; ColIdx = Array.copy p.Src; Values = p.Perm |> Array.map (fun e -> a.Values.[e]) }

    /// Sum duplicate (row, column) entries; the result is sorted by (row, column).
    let coalesce (a: Csr) : Csr =
        let s = ofCoo a.Rows a.Cols (edgeRows a) a.ColIdx (Some a.Values)
        let rowPtr = Array.zeroCreate<int> (a.Rows + 1)
        let cols = ResizeArray<int>(s.ColIdx.Length)
        let vals = ResizeArray<float32>(s.ColIdx.Length)
        for i in 0 .. s.Rows - 1 do
            for e in s.RowPtr.[i] .. s.RowPtr.[i + 1] - 1 do
                if e > s.RowPtr.[i] && s.ColIdx.[e] = s.ColIdx.[e - 1] then vals.[vals.Count - 1] <- vals.[vals.Count - 1] + s.Values.[e]
                else
                    cols.Add s.ColIdx.[e]
                    vals.Add s.Values.[e]
            rowPtr.[i + 1] <- cols.Count
        { Rows = a.Rows; Cols = a.Cols; RowPtr = rowPtr; ColIdx = cols.ToArray(); Values = vals.ToArray() }

    /// The dense rows x cols matrix (duplicates summed).
    let toDense (a: Csr) : Tensor =
        let d = Array.zeroCreate<float32> (a.Rows * a.Cols)
        for i in 0 .. a.Rows - 1 do
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                let k = i * a.Cols + a.ColIdx.[e]
                d.[k] <- d.[k] + a.Values.[e]
        Tensor.Wrap([| a.Rows; a.Cols |], d)
