// Evolutionary compression from an F# script: train LeNet-5 briefly, evolve a keep-mask, rebuild the thin network,
// fine-tune it, and compare with the L1-norm mask of the same size.
// Run after `dotnet build GcnKd.sln -c Release`, with GCNKD_DATA set:  dotnet fsi experiments/evolution/quickstart.fsx
#r "../../src/Host.CSharp/bin/Release/net10.0/GcnKd.Core.dll"
#r "../../src/Host.CSharp/bin/Release/net10.0/gcnkd.dll"
open GcnKd
open GcnKd.Train
open GcnKd.Evolution

let root = GcnKd.Host.Data.DataRoot.Resolve null
let settings = { LeNetEvolution.defaults with Train = { LeNetEvolution.trainConfig with Epochs = 1 }
                                              FineTune = { LeNetEvolution.defaults.FineTune with Epochs = 1 }
                                              Genetic = { Genetic.released with Generations = 10 } }
let struct (set, train, valid, test) = GcnKd.Host.Experiments.LeNetModel.LoadMnist(root, settings, System.Nullable())
let cfg = LeNet.config
let forward = LeNetEvolution.forward cfg
let full = ImageTrainer.trainFrom ImageTrainer.crossEntropy settings.Train forward (LeNet.init cfg (Rng.create 0)) set train valid test ignore
printfn "full LeNet-5: %d parameters, test accuracy %.2f %%" (Tree.count full.Params) (100.0 * full.TestAccuracy)

// the search: one bit per conv1 filter, conv2 filter and fc1 unit; fitness on 2,000 training images
let target = LeNetEvolution.target cfg full.Params set (Fitness.subset train settings.SubsetSize 0)
let ga =
    Genetic.evolve settings.Genetic (Prunable.length target.Structure) [||] (Fitness.evaluator settings.Form target)
        (fun g -> printfn "generation %2d: best fitness %.4f, best keeps %d of %d units" g.Generation g.Best g.BestKept (Prunable.length target.Structure))
let counts = Prunable.keptCounts target.Structure ga.Best
let thinCost = ModelCost.lenet (LeNetPruning.resize cfg counts)
let rc, rs = ModelCost.ratios (ModelCost.lenet cfg) thinCost
printfn "kept %A: %d parameters (rc %.2f), %d multiplications (rs %.2f)" counts thinCost.Params rc thinCost.Mults rs

// rebuild, fine-tune, and the same for the L1-norm mask with the same counts per layer
for name, mask in [ "GA", ga.Best; "L1-norm", MaskBaselines.l1 target.Structure full.Params counts ] do
    let o = LeNetEvolution.fineTune settings cfg full.Params 0 name mask set train valid test ignore
    printfn "%-8s %.2f %% before fine-tuning, %.2f %% after" name (100.0 * o.TestBefore) (100.0 * o.TestAfter)
