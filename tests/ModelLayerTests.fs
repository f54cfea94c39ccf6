/// Each model's layers against naive float64 formulas written from the papers (plain loops over dense matrices),
/// values and gradients (GradCheck: finite differences of the reference), and whole eval-mode forwards of the
/// graph classifiers against the same formulas.
module GcnKd.Tests.ModelLayerTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64
open GcnKd.Tests.ModelTests

// ---------------------------------------------------------------- dense float64 helpers

let toM (r: R) = let c = r.Shape.[1] in Array2D.init r.Shape.[0] c (fun i j -> r.Data.[i * c + j])
let ofM (m: float[,]) =
    let rows, cols = Array2D.length1 m, Array2D.length2 m
    { Shape = [| rows; cols |]; Data = Array.init (rows * cols) (fun k -> m.[k / cols, k % cols]) }
let mOf (t: Tensor) = toM (Ref64.ofTensor t)
let vOf (t: Tensor) = t.Data |> Array.map float

let mm (a: float[,]) (b: float[,]) =
    Array2D.init (Array2D.length1 a) (Array2D.length2 b) (fun i j ->
        Seq.sum (seq { for k in 0 .. Array2D.length2 a - 1 -> a.[i, k] * b.[k, j] }))
let addM (a: float[,]) (b: float[,]) = Array2D.mapi (fun i j v -> v + b.[i, j]) a
let addRow (a: float[,]) (b: float[]) = Array2D.mapi (fun _ j v -> v + b.[j]) a
let reluM (a: float[,]) = Array2D.map (fun v -> max v 0.0) a
let scaleM (s: float) (a: float[,]) = Array2D.map (fun v -> s * v) a

/// The dense adjacency, duplicates summed.
let denseOf (a: Csr) =
    let d = Array2D.zeroCreate a.Rows a.Cols
    for i in 0 .. a.Rows - 1 do
        for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do d.[i, a.ColIdx.[e]] <- d.[i, a.ColIdx.[e]] + float a.Values.[e]
    d

/// A + I with the diagonal set to 1 (existing self-loops replaced).
let withLoops (a: float[,]) = Array2D.mapi (fun i j v -> if i = j then 1.0 else v) a

/// Kipf & Welling's eq. 2: D^-1/2 A D^-1/2 with D the row sums.
let symNormDense (a: float[,]) =
    let n = Array2D.length1 a
    let d = Array.init n (fun i -> Seq.sum (seq { for j in 0 .. n - 1 -> a.[i, j] }))
    Array2D.mapi (fun i j v -> if v = 0.0 then 0.0 else v / sqrt (d.[i] * d.[j])) a

/// Batch norm with fixed statistics, per column.
let bnEvalM (mean: float[]) (var: float[]) (gamma: float[]) (beta: float[]) (x: float[,]) =
    Array2D.mapi (fun _ j v -> (v - mean.[j]) / sqrt (var.[j] + 1e-5) * gamma.[j] + beta.[j]) x

let sumPoolM (nodeGraph: int[]) (g: int) (x: float[,]) =
    let out = Array2D.zeroCreate g (Array2D.length2 x)
    for i in 0 .. nodeGraph.Length - 1 do
        for j in 0 .. Array2D.length2 x - 1 do out.[nodeGraph.[i], j] <- out.[nodeGraph.[i], j] + x.[i, j]
    out

let assertCloseM (name: string) (expected: float[,]) (actual: Tensor) =
    let e = ofM expected
    Assert.Equal<int[]>(e.Shape, actual.Shape)
    let scale = 1.0 + (e.Data |> Array.map abs |> Array.max)
    Array.iteri2 (fun k (x: float) (y: float32) ->
        if abs (x - float y) > 1e-4 * scale then failwithf "%s: element %d is %g, reference %g" name k y x) e.Data actual.Data

type LayerCase = { N: int; P: float32; In: int; Out: int; Seed: int }

let layerCase =
    gen {
        let! n = Props.dim 1 8
        let! p = Gen.elements [ 0.0f; 0.3f; 0.7f ]
        let! i = Props.dim 1 6
        let! o = Props.dim 1 6
        let! seed = Props.seed
        return { N = n; P = p; In = i; Out = o; Seed = seed }
    }

let graphOf (c: LayerCase) = randomGraph (Rng.create c.Seed) c.N c.P false
let keysOf (c: LayerCase) = Rng.splitN 8 (Rng.create (c.Seed + 1))

// ---------------------------------------------------------------- GCN and SAGE

[<Fact>]
let ``a GCN layer is D^-1/2 (A+I) D^-1/2 X W + b, values and gradients`` () =
    Props.forAll layerCase (fun c ->
        let raw = graphOf c
        let a = Gcn.prepare raw
        let ahat = symNormDense (withLoops (denseOf raw))
        let k = keysOf c
        let x, w, b = Tensor.randn k.[0] [| c.N; c.In |], Tensor.randn k.[1] [| c.In; c.Out |], Tensor.randn k.[2] [| c.Out |]
        GradCheck.check "gcn layer" (fun t -> Gcn.conv a { W = t.[1]; B = Some t.[2] } t.[0])
            (fun r -> ofM (addRow (mm ahat (mm (toM r.[0]) (toM r.[1]))) r.[2].Data)) [| true; true; true |] [| x; w; b |])

[<Fact>]
let ``a two-layer GCN in evaluation is Â ReLU(Â X W1 + b1) W2 + b2`` () =
    Props.forAll layerCase (fun c ->
        let raw = graphOf c
        let ahat = symNormDense (withLoops (denseOf raw))
        let cfg = Gcn.config c.In [ 5 ] c.Out
        let p = Gcn.init cfg (keysOf c).[0] |> Tree.map (fun _ t -> t + Tensor.randn (keysOf c).[1] t.Shape * 0.1f)
        let x = Tensor.randn (keysOf c).[2] [| c.N; c.In |]
        let l1, l2 = p.Layers.[0], p.Layers.[1]
        let h = addRow (mm ahat (mm (mOf x) (mOf l1.W))) (vOf l1.B.Value)
        let o = Gcn.forward cfg p eval (Gcn.prepare raw) x
        assertCloseM "hidden" h o.Hidden.Head
        assertCloseM "logits" (addRow (mm ahat (mm (reluM h) (mOf l2.W))) (vOf l2.B.Value)) o.Logits
        true)

[<Fact>]
let ``a SAGE layer is X W_self + mean_j(X_j) W_neigh + b, values and gradients`` () =
    Props.forAll layerCase (fun c ->
        let raw = graphOf c
        let a = Sage.prepare raw
        let dense = denseOf raw
        let mean = Array2D.mapi (fun i _ v -> let d = Seq.sum (seq { for j in 0 .. c.N - 1 -> dense.[i, j] }) in if d = 0.0 then 0.0 else v / d) dense
        let k = keysOf c
        let t = [| Tensor.randn k.[0] [| c.N; c.In |]; Tensor.randn k.[1] [| c.In; c.Out |]; Tensor.randn k.[2] [| c.In; c.Out |]; Tensor.randn k.[3] [| c.Out |] |]
        GradCheck.check "sage layer" (fun t -> Sage.conv a { Self = { W = t.[1]; B = None }; Neigh = { W = t.[2]; B = Some t.[3] } } t.[0])
            (fun r -> ofM (addRow (addM (mm (toM r.[0]) (toM r.[1])) (mm (mm mean (toM r.[0])) (toM r.[2]))) r.[3].Data))
            [| true; true; true; true |] t)

// ---------------------------------------------------------------- GAT

/// One GAT layer in float64 from eq. 1-6: inputs x, W, a_src, a_dst, then the residual projection if any, then the
/// bias if any. Edges are the entries of the prepared adjacency `a` (row = destination i, column = source j).
let gatRef (a: Csr) (spec: GatLayerSpec) (slope: float) (hasBias: bool) (ins: R[]) =
    let h, f = spec.Heads, spec.Width
    let x = toM ins.[0]
    let wh = mm x (toM ins.[1])
    let aSrc, aDst = toM ins.[2], toM ins.[3]
    let n = a.Rows
    let score (node: int) (att: float[,]) (k: int) = Seq.sum (seq { for c in 0 .. f - 1 -> wh.[node, k * f + c] * att.[k, c] })
    let out = Array2D.zeroCreate n (h * f)
    for i in 0 .. n - 1 do
        let edges = [| a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 |]
        for k in 0 .. h - 1 do
            let e = edges |> Array.map (fun ed -> let z = score i aDst k + score a.ColIdx.[ed] aSrc k in if z > 0.0 then z else slope * z)
            if e.Length > 0 then
                let m = Array.max e
                let ex = e |> Array.map (fun z -> exp (z - m))
                let s = Array.sum ex
                edges |> Array.iteri (fun q ed ->
                    for c in 0 .. f - 1 do out.[i, k * f + c] <- out.[i, k * f + c] + ex.[q] / s * wh.[a.ColIdx.[ed], k * f + c])
    let mutable next = 4
    let out =
        match spec.Skip with
        | ProjectedSkip -> next <- 5; addM out (mm x (toM ins.[4]))
        | IdentitySkip -> addM out x
        | NoSkip -> out
    let out = if spec.Concat then out else Array2D.init n f (fun i c -> Seq.average (seq { for k in 0 .. h - 1 -> out.[i, k * f + c] }))
    ofM (if hasBias then addRow out ins.[next].Data else out)

[<Fact>]
let ``a GAT layer matches the paper's attention formula, values and gradients, every head and skip mode`` () =
    let case = Gen.zip3 layerCase (Gen.zip (Props.dim 1 3) (Props.dim 1 3)) (Gen.zip3 (Gen.elements [ true; false ]) (Gen.elements [ NoSkip; IdentitySkip; ProjectedSkip ]) (Gen.elements [ true; false ]))
    Props.forAll case (fun (c, (heads, width), (concat, skip, bias)) ->
        let a = Gat.prepare (graphOf c)
        let inF = if skip = IdentitySkip then heads * width else c.In
        let spec = { In = inF; Heads = heads; Width = width; Concat = concat; Skip = skip }
        let cfg = { Gat.cora inF 1 with FeatureDropout = 0.0f; AttentionDropout = 0.0f; Bias = bias }
        let k = keysOf c
        let hf = heads * width
        let inputs =
            [| yield Tensor.randn k.[0] [| c.N; inF |]
               yield Tensor.randn k.[1] [| inF; hf |]
               yield Tensor.randn k.[2] [| heads; width |]
               yield Tensor.randn k.[3] [| heads; width |]
               if skip = ProjectedSkip then yield Tensor.randn k.[4] [| inF; hf |]
               if bias then yield Tensor.randn k.[5] [| (if concat then hf else width) |] |]
        let layerOf (t: Tensor[]) =
            { W = t.[1]; AttnSrc = t.[2]; AttnDst = t.[3]
              Residual = (if skip = ProjectedSkip then Some t.[4] else None)
              Bias = (if bias then Some t.[t.Length - 1] else None) }
        // attention over each destination's in-edges sums to 1, per head
        let _, alpha = Gat.conv cfg spec (layerOf inputs) eval a inputs.[0]
        for i in 0 .. a.Rows - 1 do
            for hd in 0 .. heads - 1 do
                let s = Seq.sum (seq { for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> float alpha.Data.[e * heads + hd] })
                Assert.InRange(s, 1.0 - 1e-5, 1.0 + 1e-5)
        GradCheck.check "gat layer" (fun t -> fst (Gat.conv cfg spec (layerOf t) eval a t.[0])) (gatRef a spec 0.2 bias)
            (Array.create inputs.Length true) inputs)

// ---------------------------------------------------------------- GIN

[<Fact>]
let ``GIN-0 aggregation sums the neighbours exactly, learned eps differentiates`` () =
    Props.forAll layerCase (fun c ->
        let a = graphOf c
        let dense = denseOf a
        // small integers: every sum is exact in float32
        let h = Tensor.ofArray [| c.N; c.In |] (Array.init (c.N * c.In) (fun i -> float32 (Rng.intAt (Rng.create c.Seed) (int64 i) 9 - 4)))
        let expected = addM (mOf h) (mm dense (mOf h))
        Assert.Equal<float32[]>((ofM expected).Data |> Array.map float32, (Gin.aggregate a (FixedEps 0.0f) None h).Data)
        let eps = Tensor.ofArray [| 1 |] [| 0.3f |]
        GradCheck.check "gin learned eps" (fun t -> Gin.aggregate a LearnedEps (Some t.[1]) t.[0])
            (fun r -> ofM (addM (scaleM (1.0 + r.[1].Data.[0]) (toM r.[0])) (mm dense (toM r.[0])))) [| true; true |]
            [| Tensor.randn (keysOf c).[0] [| c.N; c.In |]; eps |])

/// Random running statistics and perturbed parameters, so evaluation-mode batch norm is not the identity.
let perturb (seed: int) (p: 'P) = Tree.map (fun _ t -> t + Tensor.randn (Rng.create (seed + t.Numel)) t.Shape * 0.2f) p
let randomStats (seed: int) (s: 'S) =
    Tree.map (fun name (t: Tensor) ->
        if name.EndsWith "Var" then Tensor.rand (Rng.create (seed + 1)) 0.5f 1.5f t.Shape
        else Tensor.randn (Rng.create (seed + 2)) t.Shape * 0.3f) s

let private bnOf (p: BatchNormParams) (s: BatchNormStats) = bnEvalM (vOf s.Mean) (vOf s.Var) (vOf p.Gamma) (vOf p.Beta)

/// A GIN block in float64: ReLU(BN(Linear(ReLU(BN(Linear(agg)))))), returning (pre-activation, output).
let private ginBlockRef (layer: GinLayer) (state: GinLayerState) (agg: float[,]) =
    let l1, l2 = layer.Mlp.Layers.[0], layer.Mlp.Layers.[1]
    let z = reluM (bnOf layer.Mlp.Norms.[0] state.Mlp.Running.[0] (addRow (mm agg (mOf l1.W)) (vOf l1.B.Value)))
    let pre = bnOf layer.Norm state.Norm (addRow (mm z (mOf l2.W)) (vOf l2.B.Value))
    pre, reluM pre

[<Fact>]
let ``the paper's GIN in evaluation sums every layer's pooled readout`` () =
    let b = randomBatch 80 [ 5; 7; 4 ]
    let x = Tensor.randn (key 81) [| b.NumNodes; 3 |]
    for eps in [ FixedEps 0.0f; LearnedEps ] do
        let cfg = { Gin.config 3 4 with Width = 6; NumLayers = 4; Eps = eps }
        let p = perturb 82 (Gin.init cfg (key 83))
        let s = randomStats 84 (Gin.initState cfg)
        let dense = denseOf b.Adj
        let readout (l: int) (h: float[,]) = addRow (mm (sumPoolM b.NodeGraph b.NumGraphs h) (mOf p.Heads.[l].W)) (vOf p.Heads.[l].B.Value)
        let mutable h = mOf x
        let mutable logits = readout 0 h
        let o, _ = Gin.forward cfg p s eval b x
        for l in 0 .. 2 do
            let layer = p.Layers.[l]
            let e = match layer.Eps with Some t -> float t.Data.[0] | None -> 0.0
            let pre, out = ginBlockRef layer s.Layers.[l] (addM (scaleM (1.0 + e) h) (mm dense h))
            assertCloseM (sprintf "gin hidden %d" l) pre o.Hidden.[l]
            h <- out
            logits <- addM logits (readout (l + 1) h)
        assertCloseM "gin logits" logits o.Logits

[<Fact>]
let ``GFKD GCN and GIN in evaluation: residual after the first layer, sum pooling of the last, linear head`` () =
    let b = randomBatch 90 [ 6; 4; 8 ]
    let x = Tensor.randn (key 91) [| b.NumNodes; 3 |]
    for name in [ "GCN5_64"; "GIN5_64"; "GCN3_32" ] do
        for selfLoops in [ true; false ] do
            let cfg = { GfkdFamily.create name 3 2 with Width = 5; SelfLoops = selfLoops }
            let p = perturb 92 (GfkdFamily.init cfg (key 93))
            let s = randomStats 94 (GfkdFamily.initState cfg)
            let raw = denseOf b.Adj
            let adj = if selfLoops then withLoops raw else raw
            let o, _ = GfkdFamily.forward cfg p s eval (GfkdFamily.prepareBatch cfg b) x
            let mutable h = mOf x
            List.zip p.Layers s.Layers |> List.iteri (fun l (layer, st) ->
                let pre, out =
                    match layer, st with
                    | GcnBlock g, GcnBlockState bs ->
                        let pre = bnOf g.Norm bs (addRow (mm (symNormDense adj) (mm h (mOf g.Conv.W))) (vOf g.Conv.B.Value))
                        pre, reluM pre
                    | GinBlock g, GinBlockState gs -> ginBlockRef g gs (addM h (mm adj h))
                    | _ -> failwith "mismatched layer kinds"
                assertCloseM (sprintf "%s hidden %d" name l) pre o.Hidden.[l]
                h <- if l = 0 then out else addM out h)
            let expected = addRow (mm (sumPoolM b.NodeGraph b.NumGraphs h) (mOf p.Head.W)) (vOf p.Head.B.Value)
            assertCloseM (sprintf "%s logits (self-loops %b)" name selfLoops) expected o.Logits

// ---------------------------------------------------------------- DGCNN

[<Fact>]
let ``EdgeConv is max over kNN of BN(W [h_i, h_j - h_i]) with edge batch statistics, values and gradients`` () =
    let case = Gen.zip layerCase (Props.dim 1 4)
    Props.forAll case (fun (c, k) ->
        let n = c.N + 1
        let r = keysOf c
        // a kNN-like graph: every row has k distinct neighbours (itself possibly among them), when n allows
        let kk = min k n
        let rows = Array.init (n * kk) (fun e -> e / kk)
        let cols = Array.init n (fun i -> Rng.permutation n (Rng.create (c.Seed + i))) |> Array.collect (Array.truncate kk)
        let g = Csr.ofCoo n n rows cols None
        let norm = NormSettings.torch
        let running = snd (BatchNorm.init c.Out)
        let inputs = [| Tensor.randn r.[0] [| n; c.In |]; Tensor.randn r.[1] [| 2 * c.In; c.Out |]; Tensor.rand r.[2] 0.5f 1.5f [| c.Out |]; Tensor.randn r.[3] [| c.Out |] |]
        let reference (ins: R[]) =
            let h, w = toM ins.[0], toM ins.[1]
            let e = Csr.nnz g
            let src = g.ColIdx
            let dst = Csr.edgeRows g
            let z = Array2D.init e c.Out (fun ed o ->
                Seq.sum (seq { for q in 0 .. c.In - 1 -> h.[dst.[ed], q] * w.[q, o] + (h.[src.[ed], q] - h.[dst.[ed], q]) * w.[c.In + q, o] }))
            let mean = Array.init c.Out (fun o -> Seq.average (seq { for ed in 0 .. e - 1 -> z.[ed, o] }))
            let var = Array.init c.Out (fun o -> Seq.average (seq { for ed in 0 .. e - 1 -> (z.[ed, o] - mean.[o]) ** 2.0 }))
            let zn = bnEvalM mean var ins.[2].Data ins.[3].Data z
            ofM (Array2D.init n c.Out (fun i o -> Seq.max (seq { for ed in g.RowPtr.[i] .. g.RowPtr.[i + 1] - 1 -> zn.[ed, o] })))
        if Csr.nnz g < 2 then true
        else
            GradCheck.check "edgeConv" (fun t -> fst (Dgcnn.edgeConv norm true { W = t.[1]; Norm = { Gamma = t.[2]; Beta = t.[3] } } running g t.[0]))
                reference [| true; true; true; true |] inputs)
