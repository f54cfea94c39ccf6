/// The statistics the literature publishes for each dataset version GcnKd reads, as data. `gcnkd data check`
/// compares what the loaders find against them. Conventions of the loaders, which the numbers must follow:
/// edges are undirected, de-duplicated, without self-loops (an adjacency's stored entries / 2); features are the
/// loader's input width (one-hot node labels for TU and GIN files); class counts are compared as a multiset (loaders
/// renumber labels). A field whose published form follows another convention is left out, with a comment.
module GcnKd.PublishedStats

type Stat =
    /// Graphs (images for MNIST).
    | Items
    | Nodes
    | AvgNodes
    | Edges
    | AvgEdges
    | Classes
    | Features
    | ClassCounts
    /// Sizes of the fixed split, in order (train, validation, test).
    | Split

    member s.Name =
        match s with
        | Items -> "items"
        | Nodes -> "nodes"
        | AvgNodes -> "avg nodes"
        | Edges -> "edges"
        | AvgEdges -> "avg edges"
        | Classes -> "classes"
        | Features -> "features"
        | ClassCounts -> "class counts"
        | Split -> "split"

type Expected =
    | Exactly of int64
    /// A published average, printed with this many decimals.
    | Rounded of value: float * decimals: int
    | Counts of int list

type Published =
    { Dataset: string
      /// The on-disk version the numbers describe (DatasetSources' version key).
      Version: string
      /// What an item is: "graphs", "images" or "shapes".
      ItemName: string
      Source: string
      Expect: (Stat * Expected) list }

let private tuPage = "TUDataset page, chrsmrrs.github.io/datasets/docs/datasets (Morris et al. 2020)"
let private dgcnn = "Zhang et al. AAAI 2018 (DGCNN) Table 2 (avg nodes), Xu et al. ICLR 2019 (GIN) Table 1 (graphs, classes)"

let table: Published list =
    [ // TU versions: graphs, classes and the averages of nodes and edges from the TU page; node label counts from
      // each zip's README (MUTAG 7 atoms, PTC_MR 18 atoms) and Borgwardt et al. 2005 (PROTEINS: 3 SSE types);
      // MUTAG's 125 / 63 from Shervashidze et al. JMLR 2011 (WL kernels), Table 2.
      { Dataset = "MUTAG"; Version = "TU"; ItemName = "graphs"; Source = tuPage + "; README.txt; Shervashidze et al. 2011"
        Expect = [ Items, Exactly 188L; Classes, Exactly 2L; AvgNodes, Rounded(17.93, 2); AvgEdges, Rounded(19.79, 2); Features, Exactly 7L; ClassCounts, Counts [ 125; 63 ] ] }
      { Dataset = "PTC_MR"; Version = "TU"; ItemName = "graphs"; Source = tuPage + "; README.txt"
        Expect = [ Items, Exactly 344L; Classes, Exactly 2L; AvgNodes, Rounded(14.29, 2); AvgEdges, Rounded(14.69, 2); Features, Exactly 18L ] }
      { Dataset = "PROTEINS"; Version = "TU"; ItemName = "graphs"; Source = tuPage + "; Borgwardt et al. 2005"
        Expect = [ Items, Exactly 1113L; Classes, Exactly 2L; AvgNodes, Rounded(39.06, 2); AvgEdges, Rounded(72.82, 2); Features, Exactly 3L ] }
      // IMDB-BINARY and COLLAB have no node labels: the loader's degree features have no published width.
      { Dataset = "IMDB-BINARY"; Version = "TU"; ItemName = "graphs"; Source = tuPage
        Expect = [ Items, Exactly 1000L; Classes, Exactly 2L; AvgNodes, Rounded(19.77, 2); AvgEdges, Rounded(96.53, 2) ] }
      { Dataset = "COLLAB"; Version = "TU"; ItemName = "graphs"; Source = tuPage
        Expect = [ Items, Exactly 5000L; Classes, Exactly 3L; AvgNodes, Rounded(74.49, 2); AvgEdges, Rounded(2457.78, 2) ] }
      // GIN text versions (the DGCNN files GIN ships): the papers give graphs, classes and average nodes only. The
      // DGCNN table's two decimals are used: GIN's one-decimal column truncates PTC's 25.56 to 25.5. This PTC keeps
      // explicit hydrogens: 25.56 nodes per graph against TU PTC_MR's 14.29, same 344 graphs.
      { Dataset = "MUTAG"; Version = "GIN"; ItemName = "graphs"; Source = dgcnn
        Expect = [ Items, Exactly 188L; Classes, Exactly 2L; AvgNodes, Rounded(17.93, 2) ] }
      { Dataset = "PTC_MR"; Version = "GIN"; ItemName = "graphs"; Source = dgcnn
        Expect = [ Items, Exactly 344L; Classes, Exactly 2L; AvgNodes, Rounded(25.56, 2) ] }
      { Dataset = "PROTEINS"; Version = "GIN"; ItemName = "graphs"; Source = dgcnn
        Expect = [ Items, Exactly 1113L; Classes, Exactly 2L; AvgNodes, Rounded(39.06, 2) ] }
      { Dataset = "IMDB-BINARY"; Version = "GIN"; ItemName = "graphs"; Source = dgcnn
        Expect = [ Items, Exactly 1000L; Classes, Exactly 2L; AvgNodes, Rounded(19.77, 2) ] }
      { Dataset = "COLLAB"; Version = "GIN"; ItemName = "graphs"; Source = dgcnn
        Expect = [ Items, Exactly 5000L; Classes, Exactly 3L; AvgNodes, Rounded(74.49, 2) ] }
      // Planetoid: nodes, classes and features from Yang et al. 2016 Table 1 (= Kipf & Welling 2017 Table 1); the
      // split (20 labels per class, 500 validation, 1000 test nodes) from Kipf & Welling Sec. 5.1. Edges from PyG's
      // Planetoid documentation (10,556 / 9,104 / 88,648 directed = 5,278 / 4,552 / 44,324 undirected without
      // self-loops): the papers' 5,429 / 4,732 / 44,338 count raw citation links with duplicates and self-citations.
      { Dataset = "Cora"; Version = "Planetoid"; ItemName = "graphs"; Source = "Yang et al. ICML 2016 Table 1; Kipf & Welling ICLR 2017; PyG Planetoid docs (edges)"
        Expect = [ Nodes, Exactly 2708L; Edges, Exactly 5278L; Classes, Exactly 7L; Features, Exactly 1433L; Split, Counts [ 140; 500; 1000 ] ] }
      { Dataset = "CiteSeer"; Version = "Planetoid"; ItemName = "graphs"; Source = "Yang et al. ICML 2016 Table 1; Kipf & Welling ICLR 2017; PyG Planetoid docs (edges)"
        Expect = [ Nodes, Exactly 3327L; Edges, Exactly 4552L; Classes, Exactly 6L; Features, Exactly 3703L; Split, Counts [ 120; 500; 1000 ] ] }
      { Dataset = "PubMed"; Version = "Planetoid"; ItemName = "graphs"; Source = "Yang et al. ICML 2016 Table 1; Kipf & Welling ICLR 2017; PyG Planetoid docs (edges)"
        Expect = [ Nodes, Exactly 19717L; Edges, Exactly 44324L; Classes, Exactly 3L; Features, Exactly 500L; Split, Counts [ 60; 500; 1000 ] ] }
      // PPI: Velickovic et al. ICLR 2018 (GAT) Table 1, after Hamilton et al. 2017: 24 graphs (20 / 2 / 2), 56,944
      // nodes, 50 features, 121 labels (classes = labels). Its 818,716 edges are not compared: DGL's files add
      // self-loops and their count convention is not documented.
      { Dataset = "PPI"; Version = "DGL"; ItemName = "graphs"; Source = "Velickovic et al. ICLR 2018 Table 1"
        Expect = [ Items, Exactly 24L; Nodes, Exactly 56944L; Features, Exactly 50L; Classes, Exactly 121L; Split, Counts [ 20; 2; 2 ] ] }
      // MNIST: 60,000 training and 10,000 test images of 28 x 28 pixels, 10 digits (LeCun et al. 1998; the MNIST page).
      { Dataset = "MNIST"; Version = "IDX"; ItemName = "images"; Source = "LeCun et al. 1998, yann.lecun.com/exdb/mnist"
        Expect = [ Items, Exactly 70000L; Features, Exactly 784L; Classes, Exactly 10L; Split, Counts [ 60000; 10000 ] ] }
      // ModelNet40: 12,311 CAD models of 40 classes, 9,843 for training and 2,468 for testing (Wu et al. CVPR 2015;
      // the split as PointNet, Qi et al. CVPR 2017 Sec. 5.1, states it). An item is a shape; features (points per
      // shape) are the loader's choice, so not compared.
      { Dataset = "ModelNet40"; Version = "OFF"; ItemName = "shapes"; Source = "Wu et al. CVPR 2015; Qi et al. CVPR 2017 (PointNet) Sec. 5.1"
        Expect = [ Items, Exactly 12311L; Classes, Exactly 40L; Split, Counts [ 9843; 2468 ] ] }
      // PointNet++'s resampled version lists the same split in modelnet40_train.txt / modelnet40_test.txt. Not
      // verified here (no copy of the files): the counts are those of the official split above.
      { Dataset = "ModelNet40"; Version = "Resampled"; ItemName = "shapes"; Source = "the official split (Wu et al. 2015; PointNet Sec. 5.1), as PointNet++'s shape lists (unverified)"
        Expect = [ Items, Exactly 12311L; Classes, Exactly 40L; Split, Counts [ 9843; 2468 ] ] } ]

/// The published numbers of one version of a dataset.
let tryFind (dataset: string) (version: string) = table |> List.tryFind (fun p -> p.Dataset = dataset && p.Version = version)
