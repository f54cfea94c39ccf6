/// Every dataset GcnKd knows: its name (and aliases), its kind, and where each on-disk version officially comes
/// from (URLs and SHA-256 checksums). Pure data; `gcnkd data list|check|fetch` read it.
///
/// Checksums are recorded only where a real record of the official file exists (never computed from a guess):
/// - Planetoid files: the sha256 of each `ind.*` file of github.com/kimiyoung/planetoid (commit af6abf46), as listed
///   in the data root's SOURCE.md files (equal to the Git-LFS oids of the same files in D61-IA/FisherGCN, which is
///   also where PubMed's `allx` hash comes from);
/// - MNIST: the sha256 of the four original `.gz` files (their MD5s equal the published ones; SOURCE.md);
/// - TU zips: the sha256 that two independent download scripts verify for the same chrsmrrs.com URLs
///   (github.com/simonschoelly/GraphDatasets.jl src/TUDatasets.jl and a Julia `supportedDatasets` table agree on
///   MUTAG, PTC_MR and COLLAB); PROTEINS from GraphDatasets.jl alone, IMDB-BINARY from the Julia table alone.
/// PPI and ModelNet40: no trustworthy record, so unknown; `data fetch` prints the hash it computes instead.
module GcnKd.DatasetSources

/// The learning task a dataset serves.
type DatasetKind =
    | GraphClassification
    | NodeClassification
    | InductiveNodes
    | Images
    | PointClouds

    member k.Describe =
        match k with
        | GraphClassification -> "graph classification"
        | NodeClassification -> "node classification (transductive)"
        | InductiveNodes -> "multi-label node classification (inductive)"
        | Images -> "image classification"
        | PointClouds -> "point-cloud classification"

/// One file as the official server publishes it.
type OfficialFile = { Name: string; Sha256: string option }

/// How the downloaded files become the dataset folder.
type Packing =
    /// One zip archive, unpacked; a single top-level folder inside it is the dataset folder.
    | ZipArchive
    /// Files kept as they are downloaded.
    | PlainFiles

/// An official download: files under one base URL.
type Download = { Base: string; Files: OfficialFile list; Packing: Packing }

/// One on-disk version of a dataset (its key matches the host's layouts and the published statistics).
type VersionSource =
    { Version: string
      /// What this version is (which files, which papers use it).
      Describes: string
      /// The official download, when GcnKd can fetch it.
      Download: Download option
      /// Where to get it by hand, when it cannot.
      ByHand: string }

type Dataset = { Name: string; Aliases: string list; Kind: DatasetKind; Versions: VersionSource list }

/// `base/name`, whatever slashes `base` ends with.
let fileUrl (baseUrl: string) (name: string) = baseUrl.TrimEnd('/') + "/" + name

let private sha (hex: string) = Some hex

let private tuBase = "https://www.chrsmrrs.com/graphkerneldatasets"

let private tu (name: string) (zipSha: string option) =
    { Version = "TU"
      Describes = sprintf "TU Dortmund format (%s_A.txt, ...), as PyG's TUDataset reads it" name
      Download = Some { Base = tuBase; Files = [ { Name = name + ".zip"; Sha256 = zipSha } ]; Packing = ZipArchive }
      ByHand = "" }

let private gin (file: string) =
    { Version = "GIN"
      Describes = sprintf "GIN/DGCNN text format (gin_format/%s with 10fold_idx/), the version GIN and GFKD use" file
      Download = None
      ByHand =
        sprintf "not fetched by GcnKd: take dataset/%s/ from https://github.com/weihua916/powerful-gnns/raw/master/dataset.zip (or data/%s/ of github.com/muhanzhang/pytorch_DGCNN) and put %s and 10fold_idx/ into"
            (file.Replace(".txt", "")) (file.Replace(".txt", "")) file }

let private planetoidBase = "https://github.com/kimiyoung/planetoid/raw/master/data"

/// SHA-256 of every Planetoid file: one row per part, columns cora, citeseer, pubmed.
let private planetoidHashes =
    [ "x",          [ "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"; "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6"; "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33" ]
      "y",          [ "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"; "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924"; "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3" ]
      "tx",         [ "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"; "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21"; "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d" ]
      "ty",         [ "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"; "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce"; "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd" ]
      "allx",       [ "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"; "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668"; "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e" ]
      "ally",       [ "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"; "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95"; "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e" ]
      "graph",      [ "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"; "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7"; "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9" ]
      "test.index", [ "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"; "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4"; "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5" ] ]

let private planetoid (column: int) (prefix: string) =
    { Version = "Planetoid"
      Describes = sprintf "Planetoid pickles ind.%s.* (Yang et al. 2016), read as Kipf's load_data" prefix
      Download =
        Some { Base = planetoidBase
               Files = planetoidHashes |> List.map (fun (part, hashes) -> { Name = sprintf "ind.%s.%s" prefix part; Sha256 = Some hashes.[column] })
               Packing = PlainFiles }
      ByHand = "" }

let all: Dataset list =
    [ { Name = "MUTAG"; Aliases = []; Kind = GraphClassification
        Versions = [ tu "MUTAG" (sha "c419bdc853c367d2d83da4973c45100954ae15e10f5ae2cddde6ca431f8207f6"); gin "MUTAG.txt" ] }
      { Name = "PTC_MR"; Aliases = [ "PTC" ]; Kind = GraphClassification
        Versions = [ tu "PTC_MR" (sha "5699a6d9f1bc5b3d71495f09ef50de53fa3e6bb24ead1150da678500229f5237"); gin "PTC.txt" ] }
      { Name = "PROTEINS"; Aliases = []; Kind = GraphClassification
        Versions = [ tu "PROTEINS" (sha "2da8de15284b88edabca2888ce5444d62f364ed41159260977088c4e53d4d848"); gin "PROTEINS.txt" ] }
      { Name = "IMDB-BINARY"; Aliases = [ "IMDB-B"; "IMDBBINARY" ]; Kind = GraphClassification
        Versions = [ tu "IMDB-BINARY" (sha "b291ec8b26d85c70faa2ba0a2433e1f407ed2ef5d0fc072d36b9a95e49a1bb27"); gin "IMDBBINARY.txt" ] }
      { Name = "COLLAB"; Aliases = []; Kind = GraphClassification
        Versions = [ tu "COLLAB" (sha "cb5b772bc4f3a4690d0601378a3fc993b092aeafd63e2b0f2330137dda1cdcc6"); gin "COLLAB.txt" ] }
      { Name = "Cora"; Aliases = []; Kind = NodeClassification; Versions = [ planetoid 0 "cora" ] }
      { Name = "CiteSeer"; Aliases = []; Kind = NodeClassification; Versions = [ planetoid 1 "citeseer" ] }
      { Name = "PubMed"; Aliases = []; Kind = NodeClassification; Versions = [ planetoid 2 "pubmed" ] }
      { Name = "PPI"; Aliases = []; Kind = InductiveNodes
        Versions =
          [ { Version = "DGL"
              Describes = "DGL's preprocessed PPI ({train,valid,test}_{graph.json,feats.npy,labels.npy,graph_id.npy}), what PyG's PPI downloads"
              Download = Some { Base = "https://data.dgl.ai/dataset"; Files = [ { Name = "ppi.zip"; Sha256 = None } ]; Packing = ZipArchive }
              ByHand = "" } ] }
      { Name = "MNIST"; Aliases = [ "MNIST-points" ]; Kind = Images
        Versions =
          [ { Version = "IDX"
              Describes = "the original IDX files, gzip-compressed (LeCun et al. 1998); MNIST-points are sampled from them"
              Download =
                Some { Base = "https://ossci-datasets.s3.amazonaws.com/mnist" // torchvision's mirror of yann.lecun.com/exdb/mnist
                       Files =
                         [ { Name = "train-images-idx3-ubyte.gz"; Sha256 = sha "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" }
                           { Name = "train-labels-idx1-ubyte.gz"; Sha256 = sha "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c" }
                           { Name = "t10k-images-idx3-ubyte.gz"; Sha256 = sha "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6" }
                           { Name = "t10k-labels-idx1-ubyte.gz"; Sha256 = sha "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" } ]
                       Packing = PlainFiles }
              ByHand = "" } ] }
      { Name = "ModelNet40"; Aliases = []; Kind = PointClouds
        Versions =
          [ { Version = "OFF"
              Describes = "the Princeton meshes (Wu et al. 2015): CLASS/{train,test}/CLASS_NNNN.off, what PyG's ModelNet reads; points are sampled on the surface"
              // PyG's ModelNet downloads this URL; the ModelNet page is https://modelnet.cs.princeton.edu/
              Download = Some { Base = "http://modelnet.cs.princeton.edu"; Files = [ { Name = "ModelNet40.zip"; Sha256 = None } ]; Packing = ZipArchive }
              ByHand = "" }
            { Version = "Resampled"
              Describes = "PointNet++'s modelnet40_normal_resampled (10,000 points x,y,z,nx,ny,nz per shape, the shape lists of the official split)"
              Download = None
              ByHand =
                "not fetched by GcnKd: download https://shapenet.cs.stanford.edu/media/modelnet40_normal_resampled.zip (the link of PointNet++'s README; the server is often offline, mirrors exist) and unzip it into" } ] } ]

/// ModelNet40's 40 classes (modelnet40_shape_names.txt, the class folders of ModelNet40.zip), in sorted order: the
/// loader's labels are the indices of the sorted class folders it finds.
let modelNet40Classes =
    [ "airplane"; "bathtub"; "bed"; "bench"; "bookshelf"; "bottle"; "bowl"; "car"; "chair"; "cone"; "cup"; "curtain"; "desk"
      "door"; "dresser"; "flower_pot"; "glass_box"; "guitar"; "keyboard"; "lamp"; "laptop"; "mantel"; "monitor"; "night_stand"
      "person"; "piano"; "plant"; "radio"; "range_hood"; "sink"; "sofa"; "stairs"; "stool"; "table"; "tent"; "toilet"
      "tv_stand"; "vase"; "wardrobe"; "xbox" ]

let names = all |> List.map (fun d -> d.Name)

/// The dataset a user-typed name means (case-insensitive, aliases included).
let tryFind (name: string) =
    let same (a: string) = System.String.Equals(a, name.Trim(), System.StringComparison.OrdinalIgnoreCase)
    all |> List.tryFind (fun d -> same d.Name || List.exists same d.Aliases)

/// The message for a name that is not a dataset.
let unknownMessage (name: string) = sprintf "unknown dataset '%s' (known: %s)" name (String.concat ", " names)
