/// Evolutionary compression's core: genetic operators (lengths, swaps, involutions, roulette proportions), the
/// search (elitism never loses the best, reproducible from its seed, one evaluation per distinct mask), thinning
/// (a thin network computes what the full one does with the removed units zeroed), cost counting against hand
/// counts and parameter trees, and the equal-size baselines.
module GcnKd.Tests.EvolutionTests

open System
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Evolution
open GcnKd.Tests

let private bits (n: int) = Gen.arrayOfLength n (Gen.elements [ true; false ])

let private chromosome = gen {
    let! n = Gen.choose (1, 60)
    let! a = bits n
    let! b = bits n
    let! i = Gen.choose (0, n)
    let! j = Gen.choose (0, n)
    return a, b, i, j }

[<Fact>]
let ``crossover swaps exactly the segment between the cut points and keeps the length`` () =
    Props.forAll chromosome (fun (a, b, i, j) ->
        let c1, c2 = Genetic.crossover a b i j
        let lo, hi = min i j, max i j
        c1.Length = a.Length && c2.Length = a.Length
        && Array.init a.Length id |> Array.forall (fun k ->
            if k >= lo && k < hi then c1.[k] = b.[k] && c2.[k] = a.[k] else c1.[k] = a.[k] && c2.[k] = b.[k]))

[<Fact>]
let ``segment mutation flips exactly the segment and is its own inverse`` () =
    Props.forAll chromosome (fun (a, _, i, j) ->
        let m = Genetic.flipSegment a i j
        let changed = Array.map2 (<>) a m |> Array.filter id |> Array.length
        m.Length = a.Length && changed = abs (i - j) && Genetic.flipSegment m j i = a)

[<Fact>]
let ``roulette draws in proportion to fitness and never picks a zero-fitness individual`` () =
    let gen = Gen.arrayOfLength 6 (Gen.elements [ 0.0; 0.5; 1.0; 2.0; 7.0 ]) |> Gen.filter (fun f -> Array.sum f > 0.0)
    Props.forAll gen (fun fitness ->
        // a grid of u values is an exact quadrature of the wheel: counts within one of N * share
        let n = 2000
        let counts = Array.zeroCreate fitness.Length
        for s in 0 .. n - 1 do
            let i = Genetic.roulette fitness ((float s + 0.5) / float n)
            counts.[i] <- counts.[i] + 1
        let total = Array.sum fitness
        Array.forall2 (fun c f -> abs (float c - float n * f / total) <= 1.0 && (f > 0.0 || c = 0)) counts fitness)
    Assert.Throws<ArgumentException>(fun () -> Genetic.roulette [| 1.0; -0.1 |] 0.3 |> ignore) |> ignore
    Assert.Equal(1, Genetic.roulette [| 0.0; 0.0 |] 0.75)

/// A fixed pseudo-random fitness over masks (a weighted sum with a deterministic weight per bit).
let private weightedFitness (seed: int) (mask: bool[]) =
    let r = Rng.create seed
    mask |> Array.mapi (fun k b -> if b then float (Rng.uniformAt r (int64 k)) - 0.3 else 0.0) |> Array.sum |> fun s -> max 0.0 (s + 5.0)

[<Fact>]
let ``with elitism the best fitness never decreases, and the search is reproducible from its seed`` () =
    let gen = Gen.zip3 Props.seed (Gen.choose (2, 40)) (Gen.choose (0, 3))
    Props.forAllN (Props.casesScaled 0.5) gen (fun (seed, len, elites) ->
        let cfg = { Genetic.released with Population = 8; Generations = 12; Elites = max 1 elites; Seed = seed }
        let run () = Genetic.evolve cfg len [||] (Array.map (weightedFitness seed)) ignore
        let r = run ()
        let bests = r.History |> Array.map (fun h -> h.Best)
        Array.pairwise bests |> Array.forall (fun (a, b) -> b >= a)
        && r.BestFitness = Array.last bests
        && r.Best.Length = len && r.Population |> Array.forall (fun p -> p.Length = len)
        && (let again = run () in again.Best = r.Best && again.History = r.History))

[<Fact>]
let ``every distinct mask is evaluated once, and the population keeps its size`` () =
    let seen = Collections.Generic.HashSet<string>()
    let evaluate (masks: bool[][]) =
        masks |> Array.map (fun m ->
            let key = String(m |> Array.map (fun b -> if b then '1' else '0'))
            Assert.True(seen.Add key, "a mask was evaluated twice")
            weightedFitness 3 m)
    let cfg = { Genetic.released with Population = 10; Generations = 15; Seed = 7 }
    let r = Genetic.evolve cfg 6 [| Array.create 6 true |] evaluate ignore
    Assert.Equal(10, r.Population.Length)
    Assert.True(r.History |> Array.sumBy (fun h -> h.Evaluated) = seen.Count)
    // 6 bits have 64 masks: later generations re-meet earlier ones
    Assert.True(seen.Count < 10 * 15)

[<Fact>]
let ``the search solves OneMax, and elitism keeps a seeded optimum`` () =
    let oneMax (m: bool[]) = m |> Array.sumBy (fun b -> if b then 1.0 else 0.0)
    let cfg = { Genetic.released with Population = 32; Generations = 50; Seed = 1 }
    let r = Genetic.evolve cfg 24 [||] (Array.map oneMax) ignore
    Assert.True(r.BestFitness >= 22.0, sprintf "OneMax(24) best %g after 50 generations" r.BestFitness)
    Assert.True(r.History.[0].Best < r.BestFitness)
    let seeded = Genetic.evolve { cfg with Generations = 5 } 24 [| Array.create 24 true |] (Array.map oneMax) ignore
    Assert.True(seeded.History |> Array.forall (fun h -> h.Best = 24.0))

[<Fact>]
let ``the genetic configuration rejects impossible settings`` () =
    let bad = [ { Genetic.released with Population = 1 }; { Genetic.released with Generations = 0 }
                { Genetic.released with Elites = 32 }; { Genetic.released with PCopy = 0.5; PCrossover = 0.6 }
                { Genetic.released with InitKeep = 1.5 } ]
    for cfg in bad do Assert.Throws<ArgumentException>(fun () -> Genetic.validate cfg) |> ignore

// ---------------------------------------------------------------- thinning

let private smallLeNet = { LeNet.config with ImageSize = 12; Kernel = 3; Conv1 = 4; Conv2 = 6; Fc1 = 10; NumClasses = 3 }

let private viableMask (s: PrunableStructure) = gen {
    let! keep = s.Groups |> List.map (fun g -> gen {
                    let! k = Gen.choose (1, g.Units)
                    let! perm = Gen.shuffle [| 0 .. g.Units - 1 |]
                    return perm |> Seq.truncate k |> Array.ofSeq }) |> Gen.sequenceToList
    return Prunable.maskOf s (Array.ofList keep) }

let private close (a: Tensor) (b: Tensor) =
    let scale = a.Data |> Array.fold (fun m v -> max m (abs v)) 1e-3f
    a.Shape = b.Shape && Array.forall2 (fun (x: float32) y -> abs (x - y) <= 1e-5f * scale) a.Data b.Data

[<Fact>]
let ``a thin LeNet computes what the full one does with the removed units zeroed`` () =
    let s = LeNetPruning.structure smallLeNet
    let gen = Gen.zip3 Props.seed (viableMask s) (Gen.elements [ Identity; Relu ])
    Props.forAll gen (fun (seed, mask, act) ->
        let cfg = { smallLeNet with ConvActivation = act }
        let k = Rng.splitN 2 (Rng.create seed)
        let p = LeNet.init cfg k.[0]
        let x = Tensor.randn k.[1] [| 5; 1; 12; 12 |]
        let thin = Thinning.thin s mask p
        let thinCfg = LeNetPruning.resize cfg (Prunable.keptCounts s mask)
        let thinOut = LeNet.forward thinCfg thin x
        let zeroOut = LeNet.forward cfg (Thinning.zeroRemoved s mask p) x
        close zeroOut.Logits thinOut.Logits
        && Tree.count thin = int (ModelCost.lenet thinCfg).Params
        && thin.Conv2.W.Shape = [| thinCfg.Conv2; thinCfg.Conv1; 3; 3 |])

[<Fact>]
let ``thinning keeps the surviving weights in order and the full mask changes nothing`` () =
    let s = LeNetPruning.structure smallLeNet
    Props.forAll (Gen.zip Props.seed (viableMask s)) (fun (seed, mask) ->
        let p = LeNet.init smallLeNet (Rng.create seed)
        let kept = Prunable.kept s mask
        let thin = Thinning.thin s mask p
        let fullSame = Thinning.thin s (Prunable.full s) p
        let expectedFc2 = Thinning.selectAxis 0 kept.[2] p.Fc2.W
        // conv2's kept filter i reads conv1's kept filters only
        let c2 = kept.[1] |> Array.mapi (fun i f -> kept.[0] |> Array.mapi (fun j c -> thin.Conv2.W.Item [| i; j; 1; 2 |] = p.Conv2.W.Item [| f; c; 1; 2 |]))
        thin.Fc2.W.Data = expectedFc2.Data && c2 |> Array.forall (Array.forall id)
        && Tree.leaves fullSame |> Array.forall2 (fun (_, (a: Tensor)) (_, (b: Tensor)) -> a.Data = b.Data && a.Shape = b.Shape) (Tree.leaves p)
        && Tree.leaves (Thinning.zeroRemoved s (Prunable.full s) p) |> Array.forall2 (fun (_, (a: Tensor)) (_, (b: Tensor)) -> a.Data = b.Data) (Tree.leaves p))

[<Fact>]
let ``selectAxis matches the element-wise definition`` () =
    let gen = gen {
        let! shape = Gen.arrayOfLength 3 (Gen.choose (1, 5))
        let! axis = Gen.choose (0, 2)
        let! keep = Gen.arrayOf (Gen.choose (0, shape.[axis] - 1))
        let! seed = Props.seed
        return shape, axis, keep, seed }
    Props.forAll gen (fun (shape, axis, keep, seed) ->
        let t = Tensor.randn (Rng.create seed) shape
        let r = Thinning.selectAxis axis keep t
        r.Shape.[axis] = keep.Length
        && [ for a in 0 .. r.Shape.[0] - 1 do for b in 0 .. r.Shape.[1] - 1 do for c in 0 .. r.Shape.[2] - 1 -> a, b, c ]
           |> List.forall (fun (a, b, c) ->
               let src = [| a; b; c |]
               src.[axis] <- keep.[src.[axis]]
               r.Item [| a; b; c |] = t.Item src))

[<Fact>]
let ``masks that empty a group, or structures that do not fit the tree, are refused by name`` () =
    let s = LeNetPruning.structure smallLeNet
    let p = LeNet.init smallLeNet (Rng.create 1)
    let mask = Prunable.full s
    for k in 0 .. smallLeNet.Conv1 - 1 do mask.[k] <- false
    let e = Assert.Throws<ArgumentException>(fun () -> Thinning.thin s mask p |> ignore)
    Assert.Contains("conv1", e.Message)
    Assert.False(Prunable.isViable s mask)
    let wrong = LeNetPruning.structure { smallLeNet with Fc1 = 11 }
    let e2 = Assert.Throws<ArgumentException>(fun () -> Thinning.thin wrong (Prunable.full wrong) p |> ignore)
    Assert.Contains("Fc1.W", e2.Message)
    let missing = { Groups = [ { Name = "x"; Units = 4; Slices = [ UnitSlice.single "Conv9.W" 0 Produces ] } ] }
    Assert.Contains("Conv9.W", Assert.Throws<ArgumentException>(fun () -> Prunable.validate missing p |> ignore).Message)

// ---------------------------------------------------------------- costs

[<Fact>]
let ``LeNet-5 costs match the hand count`` () =
    // conv1 20*1*25 + 20, conv2 50*20*25 + 50, fc1 800*500 + 500, fc2 500*10 + 10
    // mults: conv1 20*25*24*24, conv2 50*20*25*8*8, fc1 800*500, fc2 500*10
    let c = ModelCost.lenet LeNet.config
    Assert.Equal(431080L, c.Params)
    Assert.Equal(2293000L, c.Mults)
    Assert.Equal(431080, Tree.count (LeNet.init LeNet.config (Rng.create 0)))

[<Fact>]
let ``GCN costs match the hand count on Cora's shape`` () =
    // Kipf & Welling: 1433 -> 16 -> 7 on 2708 nodes, 13264 stored entries with self-loops
    let g = { Nodes = 2708; Edges = 13264; Graphs = 1 }
    let c = ModelCost.gcn g (Gcn.config 1433 [ 16 ] 7)
    Assert.Equal(1433L * 16L + 16L + 16L * 7L + 7L, c.Params)
    Assert.Equal(2708L * 1433L * 16L + 13264L * 16L + 2708L * 16L * 7L + 13264L * 7L, c.Mults)
    Assert.Equal(int c.Params, Tree.count (Gcn.init (Gcn.config 1433 [ 16 ] 7) (Rng.create 0)))

[<Fact>]
let ``GAT, GIN and MLP parameter counts equal their parameter trees`` () =
    let gen = Gen.zip3 (Gen.choose (1, 4)) (Gen.choose (1, 6)) (Gen.elements [ NoResidual; Projection; IdentityOrProjection ])
    Props.forAll gen (fun (heads, width, residual) ->
        let g = { Nodes = 10; Edges = 30; Graphs = 2 }
        let gat = { Gat.cora 7 3 with Hidden = [ heads, width; heads, width ]; Residual = residual }
        let gin = { Gin.config 7 3 with Width = width + 1; NumLayers = heads + 1 }
        let mlp = { Sizes = [ 5; width; 3 ]; Activation = Relu; Dropout = 0.0f; BatchNorm = true; Norm = NormSettings.torch; Bias = true }
        int (ModelCost.gat g gat).Params = Tree.count (Gat.init gat (Rng.create 0))
        && int (ModelCost.gin g gin).Params = Tree.count (Gin.init gin (Rng.create 0))
        && int (ModelCost.mlp 4 mlp).Params = Tree.count (Mlp.init mlp (Rng.create 0)))

// ---------------------------------------------------------------- baselines and fitness

[<Fact>]
let ``L1 masks keep the largest-norm units, random masks the asked counts`` () =
    let s = LeNetPruning.structure smallLeNet
    Props.forAll (Gen.zip Props.seed (viableMask s)) (fun (seed, target) ->
        let p = LeNet.init smallLeNet (Rng.create seed)
        let counts = Prunable.keptCounts s target
        let l1 = MaskBaselines.l1 s p counts
        let rnd = MaskBaselines.random s counts (Rng.create (seed + 1))
        let norms = MaskBaselines.l1Norms s p
        let keptL1 = Prunable.kept s l1
        Prunable.keptCounts s l1 = counts && Prunable.keptCounts s rnd = counts
        && norms |> Array.mapi (fun gi ns ->
            let kept = set keptL1.[gi]
            let removed = [ 0 .. ns.Length - 1 ] |> List.filter (fun k -> not (kept.Contains k))
            removed.IsEmpty || (kept |> Seq.map (fun k -> ns.[k]) |> Seq.min) >= (removed |> List.map (fun k -> ns.[k]) |> List.max))
           |> Array.forall id
        && MaskBaselines.random s counts (Rng.create (seed + 1)) = rnd)

[<Fact>]
let ``L1 norms sum a unit's producing weights`` () =
    let s = LeNetPruning.structure smallLeNet
    let p = LeNet.init smallLeNet (Rng.create 4)
    let norms = MaskBaselines.l1Norms s p
    let filter0 = (Thinning.selectAxis 0 [| 0 |] p.Conv1.W).Data |> Array.sumBy (fun v -> abs (float v))
    Assert.Equal(filter0 + abs (float p.Conv1.B.Value.Data.[0]), norms.[0].[0], 6)

[<Fact>]
let ``fitness forms reward removal and low loss, and a mask that empties a group scores zero`` () =
    let sc = { Loss = 0.5; Accuracy = 0.9; Removed = 10; MultsRatio = 0.25; ParamsRatio = 0.1 }
    Assert.Equal(500.0 / 0.5 + 0.001 * 10.0, Fitness.value (InverseLoss(500.0, 0.001)) sc, 9)
    Assert.Equal(0.9 - 0.4 * 0.25, Fitness.value (AccuracyCost(0.4, 0.0)) sc, 9)
    Assert.Equal(0.9 - 0.4 * 0.25 - 0.5 * 0.1, Fitness.value (AccuracyCost(0.4, 0.5)) sc, 9)
    Assert.Equal(0.0, Fitness.value (AccuracyCost(10.0, 0.0)) sc)
    let s = LeNetPruning.structure smallLeNet
    let p = LeNet.init smallLeNet (Rng.create 2)
    let x = Tensor.randn (Rng.create 3) [| 8; 1; 12; 12 |]
    let labels = Array.init 8 (fun i -> i % 3)
    let target =
        { Structure = s; Full = p
          Score = fun counts q ->
              let out = LeNet.forward (LeNetPruning.resize smallLeNet counts) q x
              float (Loss.crossEntropy out.Logits labels).Item0, Loss.accuracy out.Logits labels
          Cost = fun counts -> ModelCost.lenet (LeNetPruning.resize smallLeNet counts) }
    let empty = Prunable.full s
    for k in 0 .. 3 do empty.[k] <- false
    let half = Prunable.full s |> Array.mapi (fun i b -> b && i % 2 = 0)
    let scores = Fitness.evaluator (InverseLoss(1.0, 0.01)) target [| Prunable.full s; empty; half |]
    Assert.Equal(0.0, scores.[1])
    Assert.True(scores.[0] > 0.0 && scores.[2] > 0.0)
    let full = (Fitness.score target (Prunable.full s)).Value
    Assert.Equal(1.0, full.MultsRatio)
    Assert.Equal(1.0, full.ParamsRatio)
    Assert.Equal(0, full.Removed)
    Assert.True((Fitness.score target half).Value.MultsRatio < 0.5)

// ---------------------------------------------------------------- GNN structures

/// For random viable masks of a graph model with batch norms: thinning equals zeroing the removed units, in eval
/// mode (trained-looking running statistics) and train mode; `extra` checks the thin config, params and state.
let private thinEqualsZeroed (s: PrunableStructure) (resize: int[] -> 'C) (init: Rng -> 'P) (initState: unit -> 'S)
                             (forward: 'C -> 'P -> 'S -> ForwardContext -> GraphBatch -> Tensor -> ModelOutput * 'S) (cfg: 'C)
                             (batchOf: GraphBatch -> GraphBatch) (extra: bool[] -> 'C -> 'P -> 'S -> bool) =
    Props.forAll (Gen.zip Props.seed (viableMask s)) (fun (seed, mask) ->
        let k = Rng.splitN 4 (Rng.create seed)
        let b = batchOf (ModelTests.randomBatch seed [ 4; 7; 5 ])
        let x = Tensor.randn k.[0] [| b.NumNodes; 5 |]
        let p = init k.[1]
        let _, st = forward cfg p (initState ()) (ForwardContext.Train k.[2]) b x
        let thinCfg = resize (Prunable.keptCounts s mask)
        let thinP, thinS = Thinning.thin s mask (p, st)
        let zeroP, zeroS = Thinning.zeroRemoved s mask (p, st)
        let run c q r ctx = (fst (forward c q r ctx b x)).Logits
        close (run cfg zeroP zeroS ForwardContext.Eval) (run thinCfg thinP thinS ForwardContext.Eval)
        && close (run cfg zeroP zeroS (ForwardContext.Train k.[3])) (run thinCfg thinP thinS (ForwardContext.Train k.[3]))
        && extra mask thinCfg thinP thinS)

[<Fact>]
let ``a thin GIN computes what the full one does with the removed channels zeroed, running statistics thinned too`` () =
    let cfg = { Gin.config 5 3 with Width = 6; NumLayers = 3; FinalDropout = 0.0f }
    let s = GinPruning.structure cfg
    Assert.Equal<string list>([ "gin1.mlp1"; "gin1"; "gin2.mlp1"; "gin2" ], s.Groups |> List.map (fun g -> g.Name))
    thinEqualsZeroed s (GinPruning.resize cfg) (Gin.init cfg) (fun () -> Gin.initState cfg) Gin.forward cfg id (fun _ thinCfg thinP thinS ->
        Tree.count thinP = int (ModelCost.gin { Nodes = 1; Edges = 1; Graphs = 1 } thinCfg).Params
        && thinS.Layers.[1].Norm.Mean.Shape = [| List.last (Gin.layerWidths thinCfg).[1] |])

[<Fact>]
let ``a thin GFKD-family GCN computes what the full one does with the removed (residual-tied) channels zeroed`` () =
    let cfg = { GfkdFamily.create "GCN3_32" 5 3 with Width = 6; NumLayers = 4; FinalDropout = 0.0f }
    let s = GfkdPruning.structure cfg
    Assert.Equal<string list>([ "channels" ], s.Groups |> List.map (fun g -> g.Name))
    thinEqualsZeroed s (GfkdPruning.resize cfg) (GfkdFamily.init cfg) (fun () -> GfkdFamily.initState cfg) GfkdFamily.forward cfg
        (GfkdFamily.prepareBatch cfg) (fun mask thinCfg thinP _ ->
            Tree.count thinP = int (ModelCost.gfkdGcn { Nodes = 1; Edges = 1; Graphs = 1 } thinCfg).Params
            && thinCfg.Width = Array.sumBy (fun b -> if b then 1 else 0) mask)

[<Fact>]
let ``GCN3_32 costs match the hand count, and GIN-block models are refused by the GCN pruning`` () =
    // 7 features, 2 classes, a graph of 18 nodes with 58 adjacency entries (self-loops included)
    let c = ModelCost.gfkdGcn { Nodes = 18; Edges = 58; Graphs = 1 } (GfkdFamily.create "GCN3_32" 7 2)
    Assert.Equal((7L * 32L + 32L) + 64L + (32L * 32L + 32L) + 64L + (32L * 2L + 2L), c.Params)
    Assert.Equal((18L * 7L * 32L + 58L * 7L + 18L * 32L) + (18L * 32L * 32L + 58L * 32L + 18L * 32L) + 32L * 2L, c.Mults)
    Assert.Throws<ArgumentException>(fun () -> GfkdPruning.structure (GfkdFamily.create "GIN3_32" 7 2) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> GfkdPruning.resize (GfkdFamily.create "GCN3_32" 7 2) [| 33 |] |> ignore) |> ignore

[<Fact>]
let ``a thin GAT computes what the full one does with the removed heads and channels zeroed`` () =
    // the groups (heads and channels per hidden layer) do not depend on residuals or bias
    let shape = GatPruning.structure { Gat.cora 5 3 with Hidden = [ 3, 4; 2, 3 ] }
    let gen = Gen.zip3 (Gen.zip Props.seed (viableMask shape)) (Gen.elements [ NoResidual; Projection ]) (Gen.elements [ true; false ])
    Props.forAll gen (fun ((seed, mask), residual, bias) ->
        let cfg = { Gat.cora 5 3 with Hidden = [ 3, 4; 2, 3 ]; Residual = residual; Bias = bias }
        let s = GatPruning.structure cfg
        let k = Rng.splitN 3 (Rng.create seed)
        let adj = Gat.prepare (ModelTests.randomGraph k.[0] 9 0.3f true)
        let x = Tensor.randn k.[1] [| 9; 5 |]
        let p = Gat.init cfg k.[2]
        let thinCfg = GatPruning.resize cfg (Prunable.keptCounts s mask)
        let out c q = (Gat.forward c q ForwardContext.Eval adj x).Logits
        close (out cfg (Thinning.zeroRemoved s mask p)) (out thinCfg (Thinning.thin s mask p))
        && Tree.count (Thinning.thin s mask p) = int (ModelCost.gat { Nodes = 9; Edges = Csr.nnz adj; Graphs = 1 } thinCfg).Params)
    Assert.Throws<ArgumentException>(fun () -> GatPruning.structure { Gat.cora 5 3 with Hidden = [ 2, 4; 2, 4 ]; Residual = IdentityOrProjection } |> ignore) |> ignore
