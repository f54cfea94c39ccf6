/// LSP on dynamic graphs (DGCNN / EdgeConv, where each model builds its own k-NN graph in its feature space): both
/// local structures are compared on the union of the two edge sets, the paper's "virtual edges" (Yang et al. 2020;
/// Bahri et al.'s StructuralSimilarity concatenates the two edge lists and deduplicates them), per distilled layer
/// pair, and the per-pair losses are averaged.
namespace GcnKd

/// One distilled layer pair of a dynamic-graph model: each side's k-NN graph (Csr, row = destination) and node
/// features at that layer, over the same nodes.
type DynamicLayerPair =
    { TeacherGraph: Csr
      StudentGraph: Csr
      Teacher: Tensor
      Student: Tensor }

[<RequireQualifiedAccess>]
module DynamicStructure =
    /// E_t union E_s as one graph: for every destination the sources of both graphs, sorted increasingly and
    /// deduplicated (a duplicate inside one graph is also merged), values 1. Both graphs must be square with the
    /// same node count.
    let unionGraph (teacherGraph: Csr) (studentGraph: Csr) : Csr =
        let op = "DynamicStructure.unionGraph"
        LocalStructure.checkInputs op "teacherGraph" teacherGraph []
        LocalStructure.checkInputs op "studentGraph" studentGraph []
        if teacherGraph.Rows <> studentGraph.Rows then
            invalidArg "studentGraph" (sprintf "%s: studentGraph has %d nodes but teacherGraph has %d (both graphs must be over the same nodes)"
                                           op studentGraph.Rows teacherGraph.Rows)
        let n = teacherGraph.Rows
        let rowPtr = Array.zeroCreate<int> (n + 1)
        let cols = ResizeArray<int>(max (Csr.nnz teacherGraph) (Csr.nnz studentGraph))
        for i in 0 .. n - 1 do
            let t0, t1 = teacherGraph.RowPtr.[i], teacherGraph.RowPtr.[i + 1]
            let s0, s1 = studentGraph.RowPtr.[i], studentGraph.RowPtr.[i + 1]
            let row = Array.zeroCreate<int> (t1 - t0 + s1 - s0)
            Array.blit teacherGraph.ColIdx t0 row 0 (t1 - t0)
            Array.blit studentGraph.ColIdx s0 row (t1 - t0) (s1 - s0)
            Array.sortInPlace row
            for k in 0 .. row.Length - 1 do
                if k = 0 || row.[k] <> row.[k - 1] then cols.Add row.[k]
            rowPtr.[i + 1] <- cols.Count
        { Rows = n; Cols = n; RowPtr = rowPtr; ColIdx = cols.ToArray(); Values = Array.create cols.Count 1.0f }

    /// The LSP loss of one layer pair on the union of the teacher's and the student's graphs
    /// (LocalStructure.loss on unionGraph teacherGraph studentGraph; teacher detached).
    let loss (score: LspScore) (teacherGraph: Csr) (studentGraph: Csr) (teacher: Tensor) (student: Tensor) : Tensor =
        LocalStructure.loss score (unionGraph teacherGraph studentGraph) teacher student

    /// The mean of the per-pair union-graph losses over the distilled layer pairs (Bahri et al.: (KL1 + KL2 + KL3) / 3
    /// over three EdgeConv layers).
    let meanLoss (score: LspScore) (pairs: DynamicLayerPair list) : Tensor =
        if List.isEmpty pairs then invalidArg "pairs" "DynamicStructure.meanLoss: no layer pairs given (at least one is needed)"
        let losses = pairs |> List.mapi (fun k p ->
            if p.Teacher.Rank <> 2 || p.Student.Rank <> 2 || p.Teacher.Shape.[0] <> p.Student.Shape.[0] then
                invalidArg "pairs" (sprintf "DynamicStructure.meanLoss: pair %d has teacher %s and student %s; both must be [nodes; features] over the same nodes"
                                        k (Shape.describe p.Teacher.Shape) (Shape.describe p.Student.Shape))
            loss score p.TeacherGraph p.StudentGraph p.Teacher p.Student)
        List.reduce (+) losses / float32 losses.Length
