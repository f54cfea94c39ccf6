/// Distillation losses: LSP (static and union-graph forms), Hinton KD, FitNet, attention transfer, the options.
/// Gradient checks against naive float64 references written here with plain loops, golden values and gradients
/// from experiments/reference/distill_losses.py (PyTorch), properties, and error messages.
[<Xunit.Collection("threads")>]
module GcnKd.Tests.DistillTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Tests
open GcnKd.Tests.Ref64

// ---------------------------------------------------------------- naive float64 references

let private row (z: R) (i: int) = Array.sub z.Data (i * z.Shape.[1]) z.Shape.[1]
let private scalarR v = Ref64.make [||] [| v |]

let refScore (score: LspScore) (x: float[]) (y: float[]) =
    let sq () = Array.fold2 (fun s a b -> s + (a - b) * (a - b)) 0.0 x y
    let dot () = Array.fold2 (fun s a b -> s + a * b) 0.0 x y
    match score with
    | LspScore.Rbf sigma -> -sq () / (2.0 * float sigma * float sigma)
    | LspScore.AdaptiveRbf _ -> -sq ()   // rescaled per graph by refLogDistribution
    | LspScore.Linear -> dot ()
    | LspScore.Poly(c, d) -> pown (dot () + float c) d
    | LspScore.SqDist -> -sq ()
    | LspScore.L1Exp tau -> exp (-(Array.fold2 (fun s a b -> s + abs (a - b)) 0.0 x y) / float tau)

/// AdaptiveRbf's factor 1 / (2 scale mean ||z_i - z_j||^2) over all stored entries (0 when the mean is 0); 1
/// for the other scores.
let refAdaptiveFactor (score: LspScore) (a: Csr) (z: R) =
    match score with
    | LspScore.AdaptiveRbf scale when Csr.nnz a > 0 ->
        let mean =
            [| for i in 0 .. a.Rows - 1 do for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 -> -(refScore score (row z i) (row z a.ColIdx.[e])) |]
            |> Array.average
        if mean > 0.0 then 1.0 / (2.0 * float scale * mean) else 0.0
    | _ -> 1.0

/// Per stored entry of `a` (CSR order): the log-probability of the entry within its row.
let refLogDistribution (score: LspScore) (a: Csr) (z: R) =
    let out = Array.zeroCreate<float> a.ColIdx.Length
    let factor = refAdaptiveFactor score a z
    for i in 0 .. a.Rows - 1 do
        let es = [| a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 |]
        if es.Length > 0 then
            let s = es |> Array.map (fun e -> factor * refScore score (row z i) (row z a.ColIdx.[e]))
            let m = Array.max s
            let lse = m + log (Array.sumBy (fun v -> exp (v - m)) s)
            es |> Array.iteri (fun k e -> out.[e] <- s.[k] - lse)
    out

/// mean over rows with entries of sum_j p_t (log p_t - log p_s).
let refLsp (score: LspScore) (a: Csr) (zt: R) (zs: R) =
    let lt, ls = refLogDistribution score a zt, refLogDistribution score a zs
    let mutable total = 0.0
    let mutable count = 0
    for i in 0 .. a.Rows - 1 do
        if a.RowPtr.[i + 1] > a.RowPtr.[i] then
            count <- count + 1
            for e in a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 do
                total <- total + exp lt.[e] * (lt.[e] - ls.[e])
    scalarR (if count = 0 then 0.0 else total / float count)

/// normalize(mean_c |z|^p) over nodes.
let refAtMap (p: float) (z: R) =
    let n, d = z.Shape.[0], z.Shape.[1]
    let a = Array.init n (fun i -> (row z i |> Array.sumBy (fun v -> abs v ** p)) / float d)
    let norm = max (sqrt (Array.sumBy (fun v -> v * v) a)) 1e-12
    a |> Array.map (fun v -> v / norm)

let refAt (p: float) (zt: R) (zs: R) =
    let mt, ms = refAtMap p zt, refAtMap p zs
    scalarR ((Array.fold2 (fun s a b -> s + (a - b) * (a - b)) 0.0 ms mt) / float mt.Length)

// ---------------------------------------------------------------- generators

/// A random directed graph: duplicates, self-loops and nodes without in-edges occur (node n-1 never has one when
/// n > 1: its would-be in-edges go to node 0).
type GraphCase = { N: int; Dst: int[]; Src: int[] }

let graphGen =
    gen {
        let! n = Props.dim 1 12
        let! m = Gen.choose (0, 30)
        let! dst = Gen.arrayOfLength m (Gen.choose (0, n - 1))
        let! src = Gen.arrayOfLength m (Gen.choose (0, n - 1))
        let! loops = Gen.choose (0, n)
        let! dups = Gen.choose (0, min 2 m)
        let dst = Array.concat [ dst; Array.init loops id; Array.truncate dups dst ]
        let src = Array.concat [ src; Array.init loops id; Array.truncate dups src ]
        let dst = if n > 1 then dst |> Array.map (fun d -> if d = n - 1 then 0 else d) else dst
        return { N = n; Dst = dst; Src = src }
    }

let csrOf (g: GraphCase) = Csr.ofCoo g.N g.N g.Dst g.Src None

/// The same edges without duplicates.
let distinctCsr (g: GraphCase) =
    let pairs = Array.zip g.Dst g.Src |> Array.distinct
    Csr.ofCoo g.N g.N (Array.map fst pairs) (Array.map snd pairs) None

let widthGen = Gen.frequency [ 6, Props.dim 1 9; 2, Gen.elements [ 16; 17; 24; 37 ]; 1, Gen.elements [ 70; 150 ] ]

/// Node features [n; d] with entries of scale s / sqrt d (so scores stay in a moderate range; s = 6 gives peaked
/// distributions).
let features (rng: Rng) (n: int) (d: int) (s: float32) = Tensor.randn rng [| n; d |] * (s / sqrt (float32 d))

type LspCase = { Graph: GraphCase; Dt: int; Ds: int; Scale: float32; Seed: int }

let lspCaseGen =
    gen {
        let! g = graphGen
        let! dt = widthGen
        let! ds = widthGen
        let! scale = Gen.elements [ 0.3f; 1.5f; 1.5f; 6.0f ]
        let! seed = Props.seed
        return { Graph = g; Dt = dt; Ds = ds; Scale = scale; Seed = seed }
    }

/// Teacher and student features for a case. A cubic score of scale-6 features reaches ~1e5, where float32 cannot
/// resolve the cancelling gradients of tied (duplicate) edges; Poly cases stay at scale <= 1.5.
let inputsFor (score: LspScore) (k: LspCase) =
    let s = match score with LspScore.Poly _ -> min k.Scale 1.5f | _ -> k.Scale
    let r1, r2 = Rng.split (Rng.create k.Seed)
    features r1 k.Graph.N k.Dt s, features r2 k.Graph.N k.Ds s

/// Score functions by name, each with several parameter settings.
let scoresNamed (name: string) =
    match name with
    | "rbf" -> [ LspScore.Rbf 1.0f; LspScore.Rbf 0.6f; LspScore.Rbf 2.5f ]
    | "rbf-auto" -> [ LspScore.AdaptiveRbf 1.0f; LspScore.AdaptiveRbf 0.3f ]
    | "linear" -> [ LspScore.Linear ]
    | "poly" -> [ LspScore.Poly(0.0f, 2); LspScore.Poly(0.5f, 3); LspScore.Poly(-0.3f, 1) ]
    | "sqdist" -> [ LspScore.SqDist ]
    | "l1exp" -> [ LspScore.L1Exp 100.0f; LspScore.L1Exp 2.0f ]
    | _ -> failwithf "no score %s" name

let allScores = LspScore.names |> List.collect scoresNamed
let scoreGen = Gen.elements allScores

// ---------------------------------------------------------------- gradient checks

[<Theory>]
[<InlineData("rbf")>]
[<InlineData("rbf-auto")>]
[<InlineData("linear")>]
[<InlineData("poly")>]
[<InlineData("sqdist")>]
[<InlineData("l1exp")>]
let ``LSP loss and its student gradient match the float64 reference`` (name: string) =
    Props.forAll (Gen.zip lspCaseGen (Gen.elements (scoresNamed name))) (fun (k, score) ->
        let a = csrOf k.Graph
        let zt, zs = inputsFor score k
        GradCheck.check ("LSP " + LspScore.describe score)
            (fun x -> LocalStructure.loss score a x.[0] x.[1]) (fun r -> refLsp score a r.[0] r.[1]) [| false; true |] [| zt; zs |])

[<Fact>]
let ``the local-structure distribution and its gradient match the float64 reference`` () =
    Props.forAll (Gen.zip lspCaseGen scoreGen) (fun (k, score) ->
        let a = csrOf k.Graph
        let _, zs = inputsFor score k
        GradCheck.check ("distribution " + LspScore.describe score)
            (fun x -> LocalStructure.distribution score a x.[0])
            (fun r -> { Shape = [| Csr.nnz a |]; Data = refLogDistribution score a r.[0] |> Array.map exp }) [| true |] [| zs |])

[<Fact>]
let ``attention transfer matches the float64 reference and its gradient`` () =
    let gen = Gen.zip3 (Props.dim 1 12) (Gen.zip widthGen widthGen) (Gen.zip Props.seed (Gen.elements [ 1.5f; 2.0f; 3.0f ]))
    Props.forAll gen (fun (n, (dt, ds), (seed, p)) ->
        let r1, r2 = Rng.split (Rng.create seed)
        let zt, zs = Tensor.randn r1 [| n; dt |], Tensor.randn r2 [| n; ds |]
        GradCheck.check "AT" (fun x -> AttentionTransfer.loss p x.[0] x.[1]) (fun r -> refAt (float p) r.[0] r.[1]) [| false; true |] [| zt; zs |])

// ---------------------------------------------------------------- properties

[<Fact>]
let ``each node's distribution sums to one over its in-edges`` () =
    Props.forAll (Gen.zip lspCaseGen scoreGen) (fun (k, score) ->
        let a = csrOf k.Graph
        let _, zs = inputsFor score k
        let p = (LocalStructure.distribution score a zs).Data
        Seq.forall (fun i ->
            let es = [ a.RowPtr.[i] .. a.RowPtr.[i + 1] - 1 ]
            List.forall (fun e -> p.[e] >= 0.0f && p.[e] <= 1.0f) es
            && (es.IsEmpty || abs (List.sumBy (fun e -> float p.[e]) es - 1.0) < 1e-5)) [ 0 .. a.Rows - 1 ])

[<Fact>]
let ``LSP is non-negative and zero with a zero gradient when the student equals the teacher`` () =
    Props.forAll (Gen.zip lspCaseGen scoreGen) (fun (k, score) ->
        let a = csrOf k.Graph
        let zt, zs = inputsFor score k
        let v = (LocalStructure.loss score a zt zs).Item0
        let same, g = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) zt
        v >= 0.0f && abs same < 1e-6f && g.Data |> Array.forall (fun x -> abs x < 1e-5f))

[<Fact>]
let ``LSP is invariant to relabelling the nodes and its gradient moves with them`` () =
    Props.forAll (Gen.zip lspCaseGen scoreGen) (fun (k, score) ->
        let g = k.Graph
        let a = csrOf g
        let zt, zs = inputsFor score k
        let perm = Rng.permutation g.N (Rng.create (k.Seed + 1))   // old node i becomes perm.[i]
        let permuteRows (z: Tensor) =
            let d = z.Shape.[1]
            let out = Array.zeroCreate<float32> z.Numel
            for i in 0 .. g.N - 1 do Array.blit z.Data (i * d) out (perm.[i] * d) d
            Tensor.ofArray z.Shape out
        let b = Csr.ofCoo g.N g.N (Array.map (fun i -> perm.[i]) g.Dst) (Array.map (fun i -> perm.[i]) g.Src) None
        let v1, g1 = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) zs
        let v2, g2 = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score b (permuteRows zt) s) (permuteRows zs)
        abs (v1 - v2) <= 1e-5f * (1.0f + abs v1) && Tensor.allClose 1e-4f 1e-6f (permuteRows g1) g2)

[<Fact>]
let ``the adaptive RBF loss is invariant to rescaling either side's features`` () =
    Props.forAll (Gen.zip lspCaseGen (Gen.zip (Gen.elements [ 0.01f; 0.25f; 3.0f; 40.0f ]) (Gen.elements [ 0.02f; 0.5f; 7.0f ]))) (fun (k, (ct, cs)) ->
        let a = csrOf k.Graph
        let score = LspScore.defaultAdaptiveRbf
        let zt, zs = inputsFor score k
        let v1, g1 = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) zs
        let v2, g2 = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a (zt * ct) s) (zs * cs)
        // z -> c z scales the gradient by 1 / c
        abs (v1 - v2) <= 1e-4f * (1.0f + abs v1) && Tensor.allClose 1e-3f 1e-5f g1 (g2 * cs))

[<Fact>]
let ``the union graph is the deduplicated set union of both edge sets`` () =
    Props.forAll (Gen.zip graphGen graphGen) (fun (g1, g2) ->
        let g2 = { g2 with N = g1.N; Dst = g2.Dst |> Array.map (fun d -> d % g1.N); Src = g2.Src |> Array.map (fun s -> s % g1.N) }
        let u = DynamicStructure.unionGraph (csrOf g1) (csrOf g2)
        let expected = Array.append (Array.zip g1.Dst g1.Src) (Array.zip g2.Dst g2.Src) |> Array.distinct |> Array.sort
        let actual = [| for i in 0 .. u.Rows - 1 do for e in u.RowPtr.[i] .. u.RowPtr.[i + 1] - 1 -> i, u.ColIdx.[e] |]
        Csr.validate u
        actual = expected && u.Values |> Array.forall ((=) 1.0f))

[<Fact>]
let ``the union-edge form equals the static form when both graphs are the same`` () =
    Props.forAll (Gen.zip lspCaseGen scoreGen) (fun (k, score) ->
        let a = distinctCsr k.Graph
        let zt, zs = inputsFor score k
        let v1, g1 = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) zs
        let v2, g2 = Autodiff.valueAndGrad (fun s -> DynamicStructure.loss score a a zt s) zs
        v1 = v2 && g1.Data = g2.Data)

[<Fact>]
let ``the mean over layer pairs averages the per-pair union losses`` () =
    Props.forAll (Gen.zip lspCaseGen (Gen.zip graphGen scoreGen)) (fun (k, (g2, score)) ->
        let n = k.Graph.N
        let other = Csr.ofCoo n n (g2.Dst |> Array.map (fun d -> d % n)) (g2.Src |> Array.map (fun s -> s % n)) None
        let zt, zs = inputsFor score k
        let zt2, zs2 = features (Rng.create (k.Seed + 3)) n 5 1.0f, features (Rng.create (k.Seed + 4)) n 3 1.0f
        let pairs = [ { TeacherGraph = csrOf k.Graph; StudentGraph = other; Teacher = zt; Student = zs }
                      { TeacherGraph = other; StudentGraph = other; Teacher = zt2; Student = zs2 } ]
        let m = (DynamicStructure.meanLoss score pairs).Item0
        let l1 = (DynamicStructure.loss score (csrOf k.Graph) other zt zs).Item0
        let l2 = (DynamicStructure.loss score other other zt2 zs2).Item0
        abs (m - (l1 + l2) / 2.0f) <= 1e-6f * (1.0f + abs m))

[<Fact>]
let ``the teacher features get no gradient`` () =
    let g = { N = 6; Dst = [| 0; 0; 1; 2; 2; 3; 4; 5 |]; Src = [| 1; 2; 0; 2; 3; 4; 5; 0 |] }
    let zt, zs = features (Rng.create 1) 6 5 1.0f, features (Rng.create 2) 6 4 1.0f
    for score in allScores do
        let gt, gs = Autodiff.grad (fun (t, s) -> LocalStructure.loss score (csrOf g) t s) (zt, zs)
        Assert.True(gt.Data |> Array.forall ((=) 0.0f), LspScore.describe score)
        Assert.True(gs.Data |> Array.exists ((<>) 0.0f), LspScore.describe score)

[<Fact>]
let ``a graph without edges gives a zero loss and a zero gradient`` () =
    let a = Csr.ofCoo 4 4 [||] [||] None
    let v, g = Autodiff.valueAndGrad (fun s -> LocalStructure.loss LspScore.defaultRbf a (Tensor.ones [| 4; 3 |]) s) (Tensor.ones [| 4; 2 |])
    Assert.Equal(0.0f, v)
    Assert.True(g.Data |> Array.forall ((=) 0.0f))

[<Fact>]
let ``the LSP loss and its gradient are bit-identical with 1 and 2 threads`` () =
    let n = 3000
    let src = Array.init (n * 6) (fun e -> if e < n then e else Rng.intAt (Rng.create 7) (int64 e) n)
    let dst = Array.init (n * 6) (fun e -> if e < n then e else (e - n) / 5)
    let a = Csr.ofCoo n n dst src None
    let zt, zs = features (Rng.create 8) n 40 1.5f, features (Rng.create 9) n 24 1.5f
    let run threads =
        let saved = Threads.Count
        Threads.Count <- threads
        try
            allScores |> List.map (fun score -> Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) zs)
        finally Threads.Count <- saved
    let one, two = run 1, run 2
    List.iter2 (fun (v1: float32, g1: Tensor) (v2, g2: Tensor) ->
        Assert.Equal(v1, v2)
        Assert.Equal<float32[]>(g1.Data, g2.Data)) one two

[<Fact>]
let ``KD and attention transfer are zero on identical inputs; the sigmoid KD has a zero gradient there`` () =
    Props.forAll (Gen.zip3 (Props.dim 1 8) (Props.dim 1 40) Props.seed) (fun (n, c, seed) ->
        let x = Tensor.randn (Rng.create seed) [| n; c |] * 3.0f
        let kd = (Kd.soft 4.0f x x).Item0
        let at2, at3 = (AttentionTransfer.loss 2.0f x x).Item0, (AttentionTransfer.loss 3.0f x x).Item0
        let gs = Autodiff.grad (fun s -> Kd.sigmoid 2.0f x s) x
        let gk = Autodiff.grad (fun s -> Kd.soft 4.0f x s) x
        abs kd < 1e-5f && at2 = 0.0f && at3 = 0.0f
        && gs.Data |> Array.forall (fun v -> abs v < 1e-7f) && gk.Data |> Array.forall (fun v -> abs v < 1e-6f))

[<Fact>]
let ``attention maps have unit L2 norm over the nodes`` () =
    Props.forAll (Gen.zip3 (Props.dim 1 12) widthGen Props.seed) (fun (n, d, seed) ->
        let m = AttentionTransfer.map AttentionTransfer.DefaultP (Tensor.randn (Rng.create seed) [| n; d |])
        m.Shape = [| n |] && abs (Array.sumBy (fun v -> float v * float v) m.Data - 1.0) < 1e-5)

// ---------------------------------------------------------------- golden values from PyTorch

let private fixture = lazy (Fixtures.load "distill.json")
let private close what (expected: Tensor) (actual: Tensor) = Fixtures.assertClose what 1e-4f 1e-6f expected actual
let private graphOf (f: Fixtures.Fixture) (n: string) (dst: string) (src: string) = Csr.ofCoo (f.Int n) (f.Int n) (f.Ints dst) (f.Ints src) None

[<Theory>]
[<InlineData("rbf")>]
[<InlineData("linear")>]
[<InlineData("poly")>]
[<InlineData("sqdist")>]
[<InlineData("l1exp100")>]
[<InlineData("l1exp3")>]
[<InlineData("rbfauto")>]
let ``LSP loss, gradient and teacher distribution agree with PyTorch`` (key: string) =
    let f = fixture.Force()
    let score =
        match key with
        | "rbf" -> LspScore.Rbf 1.5f
        | "linear" -> LspScore.Linear
        | "poly" -> LspScore.Poly(0.5f, 3)
        | "sqdist" -> LspScore.SqDist
        | "l1exp100" -> LspScore.L1Exp 100.0f
        | "rbfauto" -> LspScore.AdaptiveRbf 0.7f
        | _ -> LspScore.L1Exp 3.0f
    let a = graphOf f "lsp_n" "lsp_dst" "lsp_src"
    // the fixture's edges are sorted by (dst, src), so its edge order is the CSR order
    Assert.Equal<int[]>(f.Ints "lsp_src", a.ColIdx)
    let zt = f.Tensor "lsp_teacher"
    let v, g = Autodiff.valueAndGrad (fun s -> LocalStructure.loss score a zt s) (f.Tensor "lsp_student")
    close (key + " loss") (f.Tensor(sprintf "lsp_%s_loss" key)) (Tensor.scalar v)
    close (key + " gradient") (f.Tensor(sprintf "lsp_%s_grad" key)) g
    close (key + " teacher distribution") (f.Tensor(sprintf "lsp_%s_dist_teacher" key)) (LocalStructure.distribution score a zt)

[<Fact>]
let ``the union-graph LSP agrees with PyTorch`` () =
    let f = fixture.Force()
    let tg, sg = graphOf f "union_n" "union_t_dst" "union_t_src", graphOf f "union_n" "union_s_dst" "union_s_src"
    let u = DynamicStructure.unionGraph tg sg
    Assert.Equal<int[]>(f.Ints "union_src", u.ColIdx)
    Assert.Equal<int[]>(f.Ints "union_dst", Csr.edgeRows u)
    let zt = f.Tensor "union_teacher"
    let v, g = Autodiff.valueAndGrad (fun s -> DynamicStructure.loss (LspScore.Rbf 1.5f) tg sg zt s) (f.Tensor "union_student")
    close "union loss" (f.Tensor "union_rbf_loss") (Tensor.scalar v)
    close "union gradient" (f.Tensor "union_rbf_grad") g
    let v, g = Autodiff.valueAndGrad (fun s -> DynamicStructure.loss (LspScore.AdaptiveRbf 0.7f) tg sg zt s) (f.Tensor "union_student")
    close "union rbf-auto loss" (f.Tensor "union_rbfauto_loss") (Tensor.scalar v)
    close "union rbf-auto gradient" (f.Tensor "union_rbfauto_grad") g

[<Fact>]
let ``Hinton KD in softmax and sigmoid form, alone and mixed, agrees with PyTorch`` () =
    let f = fixture.Force()
    let check name (loss: Tensor -> Tensor) (student: Tensor) =
        let v, g = Autodiff.valueAndGrad loss student
        close (name + " loss") (f.Tensor(name + "_loss")) (Tensor.scalar v)
        close (name + " gradient") (f.Tensor(name + "_grad")) g
    let t, T, alpha = f.Tensor "kd_teacher", float32 (f.Float "kd_T"), float32 (f.Float "kd_alpha")
    check "kd_soft" (fun s -> Kd.soft T t s) (f.Tensor "kd_student")
    check "kd_mix" (fun s -> Kd.withCrossEntropy alpha T t s (f.Ints "kd_labels")) (f.Tensor "kd_student")
    let t, T, alpha = f.Tensor "kds_teacher", float32 (f.Float "kds_T"), float32 (f.Float "kds_alpha")
    check "kds" (fun s -> Kd.sigmoid T t s) (f.Tensor "kds_student")
    check "kds_mix" (fun s -> Kd.withBce alpha T t s (f.Tensor "kds_targets")) (f.Tensor "kds_student")

[<Fact>]
let ``FitNet agrees with PyTorch for the student features and the regressor`` () =
    let f = fixture.Force()
    let p0 = { Regressor = { Linear.W = f.Tensor "fit_w"; B = Some (f.Tensor "fit_b") } }
    let zt = f.Tensor "fit_teacher"
    let v, (gs, gp) = Autodiff.valueAndGrad (fun (s, p) -> FitNet.loss p zt s) (f.Tensor "fit_student", p0)
    close "fit loss" (f.Tensor "fit_loss") (Tensor.scalar v)
    close "fit dL/dstudent" (f.Tensor "fit_grad_student") gs
    close "fit dL/dW" (f.Tensor "fit_grad_w") gp.Regressor.W
    close "fit dL/db" (f.Tensor "fit_grad_b") gp.Regressor.B.Value

[<Theory>]
[<InlineData(2)>]
[<InlineData(3)>]
let ``attention transfer agrees with PyTorch`` (p: int) =
    let f = fixture.Force()
    let zt, zs = f.Tensor "at_teacher", f.Tensor "at_student"
    let v, g = Autodiff.valueAndGrad (fun s -> AttentionTransfer.loss (float32 p) zt s) zs
    close "AT map" (f.Tensor(sprintf "at_p%d_map_student" p)) (AttentionTransfer.map (float32 p) zs)
    close "AT loss" (f.Tensor(sprintf "at_p%d_loss" p)) (Tensor.scalar v)
    close "AT gradient" (f.Tensor(sprintf "at_p%d_grad" p)) g

// ---------------------------------------------------------------- options and schedules

[<Fact>]
let ``the schedule weight is lambda for the first K epochs, then zero`` () =
    let o = DistillOptions.releasedLsp
    DistillOptions.validate o
    Assert.Equal(1.0f, DistillOptions.weight o 0)
    Assert.Equal(1.0f, DistillOptions.weight o 29)
    Assert.Equal(0.0f, DistillOptions.weight o 30)
    Assert.Equal(0.0f, DistillOptions.weight o 499)
    let always = { o with Lambda = 0.25f; Schedule = DistillSchedule.Always }
    Assert.True([ 0 .. 1000 ] |> List.forall (fun e -> DistillOptions.weight always e = 0.25f))
    Assert.True([ 0 .. 10 ] |> List.forall (fun e -> DistillOptions.weight { o with Schedule = DistillSchedule.FirstEpochs 0 } e = 0.0f))

[<Fact>]
let ``layer pairs select hidden features, negative indices counting from the end`` () =
    let h k = Tensor.full [| 2; 1 |] (float32 k)
    let teacher = { Logits = h 9; Hidden = [ h 0; h 1 ] }
    let student = { Logits = h 9; Hidden = [ h 10; h 11; h 12; h 13 ] }
    let o = { DistillOptions.releasedLsp with Pairs = [ { TeacherLayer = 1; StudentLayer = 2 }; { TeacherLayer = -2; StudentLayer = -1 } ] }
    let picked = DistillOptions.select o teacher student |> List.map (fun (t, s) -> t.Data.[0], s.Data.[0])
    Assert.Equal<(float32 * float32) list>([ 1.0f, 12.0f; 0.0f, 13.0f ], picked)

[<Fact>]
let ``score names parse with their defaults and describe themselves`` () =
    Assert.Equal(LspScore.Rbf 1.0f, LspScore.ofName "rbf")
    Assert.Equal(LspScore.L1Exp 100.0f, LspScore.ofName "L1Exp")
    Assert.Equal(LspScore.Poly(0.0f, 2), LspScore.ofName "poly")
    Assert.Equal("poly(c=0.5,d=3)", LspScore.describe (LspScore.Poly(0.5f, 3)))

// ---------------------------------------------------------------- errors

let private throwsWith (arg: string) (fragments: string list) (f: unit -> 'a) =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    Assert.Equal(arg, ex.ParamName)
    for s in fragments do Assert.Contains(s, ex.Message)

[<Fact>]
let ``mismatched node counts and shapes give one clear message naming the function and the argument`` () =
    let a = Csr.ofCoo 4 4 [| 0; 1; 2 |] [| 1; 2; 3 |] None
    let z4, z3 = Tensor.zeros [| 4; 5 |], Tensor.zeros [| 3; 5 |]
    throwsWith "student" [ "LocalStructure.loss"; "4 rows"; "[3; 5]" ] (fun () -> LocalStructure.loss LspScore.defaultRbf a z4 z3)
    throwsWith "teacher" [ "LocalStructure.loss"; "4 rows" ] (fun () -> LocalStructure.loss LspScore.defaultRbf a z3 z4)
    throwsWith "student" [ "LocalStructure.loss"; "[nodes; features]" ] (fun () -> LocalStructure.loss LspScore.Linear a z4 (Tensor.zeros [| 4 |]))
    throwsWith "graph" [ "LocalStructure.loss"; "square"; "4 x 5" ] (fun () -> LocalStructure.loss LspScore.Linear (Csr.ofCoo 4 5 [||] [||] None) z4 z4)
    throwsWith "score" [ "LocalStructure.loss"; "sigma"; "0" ] (fun () -> LocalStructure.loss (LspScore.Rbf 0.0f) a z4 z4)
    throwsWith "score" [ "degree"; "0" ] (fun () -> LocalStructure.loss (LspScore.Poly(1.0f, 0)) a z4 z4)
    throwsWith "score" [ "tau" ] (fun () -> LocalStructure.loss (LspScore.L1Exp -1.0f) a z4 z4)
    throwsWith "z" [ "LocalStructure.edgeScores"; "3 rows" ] (fun () -> LocalStructure.distribution LspScore.Linear (Csr.ofCoo 3 3 [||] [||] None) z4)
    let b = Csr.ofCoo 5 5 [| 0 |] [| 1 |] None
    throwsWith "studentGraph" [ "DynamicStructure.unionGraph"; "5 nodes"; "4" ] (fun () -> DynamicStructure.unionGraph a b)
    throwsWith "teacherGraph" [ "DynamicStructure.unionGraph"; "square" ] (fun () -> DynamicStructure.unionGraph (Csr.ofCoo 4 5 [||] [||] None) a)
    throwsWith "pairs" [ "DynamicStructure.meanLoss"; "no layer pairs" ] (fun () -> DynamicStructure.meanLoss LspScore.Linear [])
    throwsWith "pairs" [ "DynamicStructure.meanLoss"; "pair 0" ] (fun () ->
        DynamicStructure.meanLoss LspScore.Linear [ { TeacherGraph = a; StudentGraph = a; Teacher = z4; Student = z3 } ])
    throwsWith "studentLogits" [ "Kd.soft"; "[4; 5]"; "[3; 5]" ] (fun () -> Kd.soft 2.0f z4 z3)
    throwsWith "temperature" [ "Kd.sigmoid" ] (fun () -> Kd.sigmoid 0.0f z4 z4)
    throwsWith "alpha" [ "Kd.withCrossEntropy"; "[0, 1]" ] (fun () -> Kd.withCrossEntropy 1.5f 2.0f z4 z4 [| 0; 0; 0; 0 |])
    throwsWith "targets" [ "Kd.withBce"; "[4; 5]" ] (fun () -> Kd.withBce 0.5f 2.0f z4 z4 z3)
    let fit = FitNet.init (Rng.create 0) 5 7
    throwsWith "teacher" [ "FitNet.loss"; "teacher has 5 features"; "produces 7" ] (fun () -> FitNet.loss fit z4 z4)
    throwsWith "student" [ "FitNet.loss"; "4 rows" ] (fun () -> FitNet.loss fit (Tensor.zeros [| 4; 7 |]) z3)
    throwsWith "student" [ "FitNet.loss"; "student has 3 features"; "takes 5" ] (fun () -> FitNet.loss fit (Tensor.zeros [| 4; 7 |]) (Tensor.zeros [| 4; 3 |]))
    throwsWith "student" [ "AttentionTransfer.loss"; "4 rows" ] (fun () -> AttentionTransfer.loss 2.0f z4 z3)
    throwsWith "p" [ "AttentionTransfer.map" ] (fun () -> AttentionTransfer.map 0.0f z4)
    let o = DistillOptions.releasedLsp
    let out = { Logits = z4; Hidden = [ z4 ] }
    throwsWith "Pairs" [ "DistillOptions.select"; "teacher layer 1"; "1 hidden layers" ] (fun () -> DistillOptions.select o out out)
    throwsWith "Lambda" [ "Lambda" ] (fun () -> DistillOptions.validate { o with Lambda = -1.0f })
    throwsWith "name" [ "LspScore.ofName"; "'cosine'" ] (fun () -> LspScore.ofName "cosine")
