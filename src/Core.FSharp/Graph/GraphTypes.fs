namespace GcnKd

/// A batch of graphs as one block-diagonal graph (PyG's Batch): node ids of graph g are
/// NodeOffsets.[g] .. NodeOffsets.[g+1] - 1 and NodeGraph maps every node to its graph.
type GraphBatch =
    { /// Block-diagonal adjacency, row = destination, column = source.
      Adj: Csr
      NodeGraph: int[]
      NodeOffsets: int[]
      NumGraphs: int }
    member b.NumNodes = b.Adj.Rows

/// One graph of a graph-classification dataset. `Adj` is symmetric, de-duplicated and has no self-loops;
/// models add what they need (self-loops, normalisation).
type GraphSample = { Adj: Csr; Features: Tensor; Label: int }

/// A graph-classification dataset (TU or GIN text format).
type GraphDataset =
    { Name: string
      Graphs: GraphSample[]
      NumClasses: int
      NumFeatures: int
      /// The standard 10-fold split when the dataset ships one (GIN format `10fold_idx`): test indices per fold.
      Folds: int[][] option }

/// A transductive node-classification dataset (Planetoid): one graph, fixed train/val/test node sets.
type NodeDataset =
    { Name: string
      /// Symmetric, de-duplicated, no self-loops.
      Adj: Csr
      Features: Tensor
      Labels: int[]
      NumClasses: int
      Train: int[]
      Val: int[]
      Test: int[] }

/// One graph of an inductive multi-label dataset (PPI): targets are 0/1 per label.
type LabelledGraph = { Adj: Csr; Features: Tensor; Targets: Tensor }

/// An inductive node-classification dataset (PPI: 20 train, 2 validation, 2 test graphs, 121 labels).
type InductiveDataset =
    { Name: string
      Train: LabelledGraph[]
      Val: LabelledGraph[]
      Test: LabelledGraph[]
      NumFeatures: int
      NumLabels: int }

/// A point cloud with its class (MNIST point clouds, ModelNet40): Points is [P; 3].
type PointCloud = { Points: Tensor; Label: int }

type PointCloudDataset = { Name: string; Train: PointCloud[]; Test: PointCloud[]; NumClasses: int }

/// What every model returns: the logits and the features of each hidden layer (pre-activation, in layer order),
/// which distillation losses read.
type ModelOutput = { Logits: Tensor; Hidden: Tensor list }

/// Per-call context of a forward pass: training mode (dropout on, batch norm on batch statistics) and the key
/// that every random choice of this call derives from.
type ForwardContext =
    { Training: bool
      Rng: Rng }
    static member Eval = { Training = false; Rng = Rng.create 0 }
    static member Train(rng: Rng) = { Training = true; Rng = rng }
