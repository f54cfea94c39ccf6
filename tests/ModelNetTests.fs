/// ModelNet40 (not available here) on fixtures the tests write: the Princeton OFF layout (tiny meshes of known
/// area, one with the glued header "OFF8 6 0"), PointNet++'s resampled text layout, area-weighted surface sampling
/// (Core's MeshSampling), every bad input as a user error naming its file, `data check`, and `gcnkd train` /
/// `gcnkd distill` end to end on the fixture.
module GcnKd.Tests.ModelNetTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Xunit
open FsCheck.FSharp
open GcnKd
open GcnKd.Host.Data
open GcnKd.Tests.TestData

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

let private num (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)

/// OFF text: header and counts (glued as "OFF8 6 0" when asked), a line per vertex, a line per face.
let private off (glued: bool) (vertices: (float * float * float) list) (faces: int list list) =
    let counts = sprintf "%d %d 0" vertices.Length faces.Length
    String.concat "\n"
        [ yield (if glued then "OFF" + counts else "OFF\n" + counts)
          for x, y, z in vertices -> sprintf "%s %s %s" (num x) (num y) (num z)
          for f in faces -> sprintf "%d %s" f.Length (String.Join(" ", f)) ] + "\n"

/// The cube [0, s]^3: vertex 4x + 2y + z, six quads in cyclic order (each split into a fan of two triangles).
let private cube (s: float) = [ for x in [ 0.0; s ] do for y in [ 0.0; s ] do for z in [ 0.0; s ] -> x, y, z ]
let private cubeFaces = [ [ 0; 1; 3; 2 ]; [ 4; 6; 7; 5 ]; [ 0; 4; 5; 1 ]; [ 2; 3; 7; 6 ]; [ 0; 2; 6; 4 ]; [ 1; 5; 7; 3 ] ]
let private tetra = [ 0.0, 0.0, 0.0; 1.0, 0.0, 0.0; 0.0, 1.0, 0.0; 0.0, 0.0, 1.0 ]
let private tetraFaces = [ [ 0; 2; 1 ]; [ 0; 1; 3 ]; [ 0; 3; 2 ]; [ 1; 2; 3 ] ]
/// Two triangles of areas 1 and 3 in the plane z = 0.
let private pair = [ 0.0, 0.0, 0.0; 2.0, 0.0, 0.0; 0.0, 1.0, 0.0; 10.0, 0.0, 0.0; 12.0, 0.0, 0.0; 10.0, 3.0, 0.0 ]
let private pairFaces = [ [ 0; 1; 2 ]; [ 3; 4; 5 ] ]

/// Written out of order; sorted: box, flower_pot, tetra (labels 0, 1, 2).
let private classes = [ "tetra"; "box"; "flower_pot" ]
let private sorted = [| "box"; "flower_pot"; "tetra" |]

/// Shape k (1..5) of a class: 1..4 train, 5 test; scaled and moved per shape so that no two are alike.
let private meshText (cls: string) (k: int) =
    let s = 0.5 + 0.25 * float k
    let moved vs = vs |> List.map (fun (x, y, z) -> s * x + float k, s * y - 0.5 * float k, s * z + 2.0)
    match cls with
    | "box" -> off (k = 1) (moved (cube 1.0)) cubeFaces
    | "tetra" -> off false (moved tetra) tetraFaces
    | _ -> "# two triangles, areas 1 and 3 (times s^2)\n\n" + off false (moved pair) pairFaces

let private part k = if k <= 4 then "train" else "test"
let private meshFile (cls: string) (k: int) = sprintf "ModelNet40/%s/%s/%s_%04d.off" cls (part k) cls k

let private writeMeshes (d: TempDir) =
    for c in classes do
        for k in 1 .. 5 do d.Write(meshFile c k, meshText c k)

let private resampled = "modelnet40_normal_resampled"

/// Row i of shape (cls, k) of the resampled fixture.
let private row (cls: string) (k: int) (i: int) =
    let a = float (i + 7 * k + 31 * cls.Length)
    sprintf "%s,%s,%s,0,0,1" (num (sin a)) (num (cos (1.3 * a))) (num (float i / 10.0 + float k))

let private writeResampled (d: TempDir) (rows: int) =
    d.Write(resampled + "/modelnet40_shape_names.txt", String.Join("\n", classes) + "\n")
    let ids ks = [ for c in classes do for k in ks -> c, k ]
    let list ks = String.Join("\n", [ for c, k in ids ks -> sprintf "%s_%04d" c k ]) + "\n"
    d.Write(resampled + "/modelnet40_train.txt", list [ 1 .. 4 ])
    d.Write(resampled + "/modelnet40_test.txt", list [ 5 ])
    for c, k in ids [ 1 .. 5 ] do
        d.Write(sprintf "%s/%s/%s_%04d.txt" resampled c c k, String.Join("\n", [ for i in 0 .. rows - 1 -> row c k i ]) + "\n")

/// Each cloud is [n; 3], centred (mean ~ 0) and inside the unit ball with a point on its sphere.
let private checkNormalised (n: int) (c: PointCloud) =
    Assert.Equal<int[]>([| n; 3 |], c.Points.Shape)
    let p = c.Points.Data
    for d in 0 .. 2 do
        let mean = Seq.average (seq { for i in 0 .. n - 1 -> float p.[3 * i + d] })
        Assert.True(abs mean < 1e-5, sprintf "coordinate %d has mean %g" d mean)
    let norms = Array.init n (fun i -> sqrt (float (p.[3 * i] * p.[3 * i] + p.[3 * i + 1] * p.[3 * i + 1] + p.[3 * i + 2] * p.[3 * i + 2])))
    Assert.InRange(Array.max norms, 1.0 - 1e-5, 1.0 + 1e-5)

let private labels (cs: PointCloud[]) = cs |> Array.map (fun c -> c.Label)

// ---------------------------------------------------------------------------------------------------------------
// The two layouts

[<Fact>]
let ``Princeton OFF layout: sorted class folders as labels, train and test counts, N normalised points per shape`` () =
    use d = new TempDir()
    writeMeshes d
    let index = ModelNet.Scan(Path.Combine(d.Path, "ModelNet40"))
    Assert.Equal(ModelNet.Meshes, index.Layout)
    Assert.Equal<string[]>(sorted, index.Classes)
    Assert.Equal("box/train/box_0001.off", index.Train.[0].Name)
    let ds = ModelNet.Load(DataRoot.At d.Path, 48, 0)
    Assert.Equal(("ModelNet40-48", 3), (ds.Name, ds.NumClasses))
    Assert.Equal<int[]>([| 0; 0; 0; 0; 1; 1; 1; 1; 2; 2; 2; 2 |], labels ds.Train)
    Assert.Equal<int[]>([| 0; 1; 2 |], labels ds.Test)
    for c in Array.append ds.Train ds.Test do checkNormalised 48 c
    // the flower_pot shapes are planar (z = 2 before centring): their clouds stay in the plane z = 0
    for c in ds.Train.[4 .. 7] do Assert.All(Array.init 48 (fun i -> c.Points.Data.[3 * i + 2]), fun z -> Assert.Equal(0.0f, z))
    let m = index.ToMeasured()
    Assert.Equal((15, 3), (m.Items, m.Classes))
    Assert.Equal<int[]>([| 12; 3 |], m.Split)
    Assert.Equal<int[]>([| 5; 5; 5 |], m.ClassCounts)

[<Fact>]
let ``OFF meshes: glued header, comments, fan triangulation; the surface areas are the known ones`` () =
    use d = new TempDir()
    writeMeshes d
    let read file = ModelNet.ReadOff(Path.Combine(d.Path, file))
    let box = read (meshFile "box" 1)                                   // "OFF8 6 0", side 0.75
    Assert.Equal((24, 36), (box.Vertices.Length, box.Triangles.Length))
    Assert.Equal(6.0 * 0.75 * 0.75, MeshSampling.surfaceArea box, 12)
    Assert.Equal(1.5 + sqrt 3.0 / 2.0, MeshSampling.surfaceArea (read (meshFile "tetra" 2)), 12)
    Assert.Equal<float[]>([| 1.0; 3.0 |], MeshSampling.triangleAreas (read (meshFile "flower_pot" 2)))   // s = 1
    Assert.Equal<int[]>([| 0; 1; 2; 0; 2; 3; 0; 3; 4 |], MeshSampling.fan [| 0; 1; 2; 3; 4 |])

[<Fact>]
let ``PointNet++ resampled layout: classes sorted from the shape names, the lists' split, the first N rows' xyz`` () =
    use d = new TempDir()
    writeResampled d 40
    let ds = ModelNet.Load(DataRoot.At d.Path, 32, 0)                   // no ModelNet40/: the resampled folder
    let index = ModelNet.Scan(Path.Combine(d.Path, resampled))
    Assert.Equal(ModelNet.Resampled, index.Layout)
    Assert.Equal<string[]>(sorted, index.Classes)
    Assert.Equal<int[]>([| 2; 2; 2; 2; 0; 0; 0; 0; 1; 1; 1; 1 |], labels ds.Train)   // list order: tetra, box, flower_pot
    Assert.Equal<int[]>([| 2; 0; 1 |], labels ds.Test)
    for c in Array.append ds.Train ds.Test do checkNormalised 32 c
    let expected =
        [| for i in 0 .. 31 do
             let f = (row "box" 5 i).Split(',')
             for j in 0 .. 2 -> float32 (Double.Parse(f.[j], Globalization.CultureInfo.InvariantCulture)) |]
    Assert.Equal<float32[]>(PointClouds.normalise expected, ds.Test.[1].Points.Data)
    Assert.Equal<int[]>([| 12; 3 |], index.ToMeasured().Split)

[<Fact>]
let ``the same seed gives the same clouds, another seed other clouds; a shape's cloud does not depend on the others`` () =
    use d = new TempDir()
    writeMeshes d
    let load seed = ModelNet.Load(DataRoot.At d.Path, 32, seed)
    let data (ds: PointCloudDataset) = Array.append ds.Train ds.Test |> Array.map (fun c -> c.Points.Data)
    let a, b, c = load 0, load 0, load 1
    Assert.Equal<float32[][]>(data a, data b)
    for x, y in Array.zip (data a) (data c) do Assert.NotEqual<float32[]>(x, y)
    File.Delete(Path.Combine(d.Path, meshFile "box" 2))
    let fewer = load 0
    Assert.Equal<float32[]>(a.Train.[0].Points.Data, fewer.Train.[0].Points.Data)
    Assert.Equal<float32[]>(a.Train.[2].Points.Data, fewer.Train.[1].Points.Data)

// ---------------------------------------------------------------------------------------------------------------
// Area-weighted uniform sampling

let private mesh (vs: (float * float * float) list) (faces: int list list) =
    { Vertices = vs |> List.collect (fun (x, y, z) -> [ x; y; z ]) |> Array.ofList
      Triangles = faces |> List.map (Array.ofList >> MeshSampling.fan) |> Array.concat }

/// |share - p| within 4 standard errors of a binomial share over n draws.
let private within4Se (what: string) (p: float) (hits: int) (n: int) =
    let share, se = float hits / float n, sqrt (p * (1.0 - p) / float n)
    Assert.True(abs (share - p) <= 4.0 * se, sprintf "%s: share %.4f of %d, expected %.4f +- %.4f (4 standard errors)" what share n p (4.0 * se))

[<Fact>]
let ``sampling is area-weighted and uniform within each triangle: shares 1/4 and 3/4, corner sub-triangles 1/4`` () =
    let n = 20000
    for seed in 0 .. 4 do
        let pts = MeshSampling.sample (Rng.create seed) n (mesh pair pairFaces)
        let xy = Array.init n (fun i -> pts.[3 * i], pts.[3 * i + 1])
        let small = xy |> Array.filter (fun (x, _) -> x < 5.0)
        within4Se (sprintf "seed %d, area-1 triangle" seed) 0.25 small.Length n
        // in the area-3 triangle (10,0) (12,0) (10,3): barycentric weight >= 1/2 of a corner is a quarter of it
        let big = xy |> Array.filter (fun (x, _) -> x >= 5.0)
        within4Se (sprintf "seed %d, corner (10,0)" seed) 0.25 (big |> Array.filter (fun (x, y) -> 1.0 - (x - 10.0) / 2.0 - y / 3.0 >= 0.5) |> Array.length) big.Length
        within4Se (sprintf "seed %d, corner (10,3)" seed) 0.25 (big |> Array.filter (fun (_, y) -> y / 3.0 >= 0.5) |> Array.length) big.Length

[<Fact>]
let ``cube samples lie on its surface, one sixth on each face, half on each triangle of a face's fan`` () =
    let s, n = 1.5, 12000
    let pts = MeshSampling.sample (Rng.create 3) n (mesh (cube s) cubeFaces)
    let on (v: float) = abs v < 1e-12 || abs (v - s) < 1e-12
    let faceOf i =
        let p = pts.[3 * i .. 3 * i + 2]
        Assert.True(Array.forall (fun v -> v >= -1e-12 && v <= s + 1e-12) p, sprintf "point %A outside the cube" p)
        Assert.True(Array.exists on p, sprintf "point %A is not on a face (no coordinate at 0 or %g)" p s)
        let d = Array.findIndex on p
        2 * d + (if abs p.[d] < 1e-12 then 0 else 1)
    let faces = Array.init n faceOf
    for f in 0 .. 5 do within4Se (sprintf "face %d" f) (1.0 / 6.0) (faces |> Array.filter ((=) f) |> Array.length) n
    // face x = 0 is the quad 0-1-3-2, fanned into (0,1,3) (points with z >= y) and (0,3,2)
    let x0 = [| for i in 0 .. n - 1 do if faces.[i] = 0 then yield pts.[3 * i + 1], pts.[3 * i + 2] |]
    within4Se "triangle (0,1,3) of face x = 0" 0.5 (x0 |> Array.filter (fun (y, z) -> z >= y) |> Array.length) x0.Length

[<Fact>]
let ``property: every sample lies inside one of the mesh's triangles, and the same key gives the same samples`` () =
    let coord = Gen.choose (-1000, 1000) |> Gen.map (fun v -> float v / 100.0)
    let vertex = Gen.map3 (fun x y z -> x, y, z) coord coord coord
    let gen = Gen.zip (Gen.listOfLength 6 vertex) (Gen.choose (0, 100000))
    Props.forAll gen (fun (vs, seed) ->
        let m = mesh vs pairFaces
        let areas = MeshSampling.triangleAreas m
        if Array.sum areas < 1e-3 then true
        else
            let pts = MeshSampling.sample (Rng.create seed) 200 m
            let inside (t: int) (p: float * float * float) =
                // p splits the triangle into three whose areas sum to the triangle's exactly when p is inside it
                let a, b, c = vs.[3 * t], vs.[3 * t + 1], vs.[3 * t + 2]
                let sub = MeshSampling.triangleAreas (mesh [ p; a; b; c ] [ [ 0; 1; 2 ]; [ 0; 2; 3 ]; [ 0; 3; 1 ] ]) |> Array.sum
                abs (sub - areas.[t]) <= 1e-7 * (1.0 + areas.[t] + sub)
            let all = Array.init 200 (fun i -> pts.[3 * i], pts.[3 * i + 1], pts.[3 * i + 2])
            all |> Array.forall (fun p -> (areas.[0] > 0.0 && inside 0 p) || (areas.[1] > 0.0 && inside 1 p))
            && MeshSampling.sample (Rng.create seed) 200 m = pts)

// ---------------------------------------------------------------------------------------------------------------
// Bad inputs

[<Fact>]
let ``bad ModelNet40 inputs are user errors naming the file and what was expected`` () =
    use d = new TempDir()
    let root = DataRoot.At d.Path
    let load () = ModelNet.Load(root, 16, 0)
    userError [ "dataset ModelNet40 not found"; Path.Combine(d.Path, "ModelNet40"); Path.Combine(d.Path, resampled); "CLASS/train/*.off" ] load
    Directory.CreateDirectory(Path.Combine(d.Path, "ModelNet40")) |> ignore
    userError [ Path.Combine(d.Path, "ModelNet40"); "no class folders" ] load
    let check (cls: string) (k: int) (text: string) (fragments: string list) =
        writeMeshes d
        d.Write(meshFile cls k, text)
        userError (Path.Combine(d.Path, meshFile cls k) :: fragments) load
    check "tetra" 3 "OFX\n4 4 0\n" [ "line 1"; "the header 'OFF'"; "'OFX'" ]
    check "tetra" 3 "" [ "line 1"; "the header 'OFF'"; "the end of the file" ]
    check "tetra" 3 "OFF\n4 four 0\n" [ "line 2"; "the counts 'vertices faces edges'" ]
    check "box" 2 (off false (cube 1.0) (cubeFaces.[.. 4] @ [ [ 1; 5; 8; 3 ] ])) [ "line 16"; "face 6 of 6: vertex index 3 must be an integer in 0..7"; "'4 1 5 8 3'" ]
    check "box" 2 (off true (cube 1.0) [ [ 0; 1 ] ]) [ "line 10"; "face 1 of 1"; "n >= 3" ]
    check "box" 2 ((off false (cube 1.0) cubeFaces).Split('\n').[.. 5] |> String.concat "\n") [ "line 7"; "vertex 5 of 8"; "the end of the file" ]
    check "box" 2 (off false [ 0.0, 0.0, 0.0; 1.0, 1.0, 1.0; 2.0, 2.0, 2.0 ] [ [ 0; 1; 2 ] ]) [ "1 triangle(s) have zero total area"; "a surface to sample" ]
    check "flower_pot" 5 "OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n" [ "0 triangle(s) have zero total area" ]
    writeMeshes d
    Directory.Delete(Path.Combine(d.Path, "ModelNet40", "box", "test"), true)
    userError [ Path.Combine(d.Path, "ModelNet40", "box"); "no test/ folder" ] load

[<Fact>]
let ``bad resampled inputs are user errors naming the file and what was expected`` () =
    use d = new TempDir()
    let root = DataRoot.At d.Path
    let file (name: string) = Path.Combine(d.Path, resampled, name)
    let check (name: string) (text: string) (fragments: string list) =
        writeResampled d 20
        d.Write(resampled + "/" + name, text)
        userError (file name :: fragments) (fun () -> ModelNet.Load(root, 16, 0))
    let rows (bad: int) (text: string) = String.Join("\n", [ for i in 1 .. 20 -> if i = bad then text else sprintf "%d,2,3,0,0,1" i ])
    check "box/box_0002.txt" (rows 3 "7,8,9") [ "line 3"; "6 numeric fields (a point x,y,z,nx,ny,nz)"; "'7,8,9'" ]
    check "box/box_0002.txt" (rows 2 "4,5,x,0,0,1") [ "line 2"; "field 3 is not a number" ]
    check "box/box_0002.txt" (rows 16 "") [ "line 16"; "6 numeric fields" ]
    check "box/box_0002.txt" "1,2,3,0,0,1\n" [ "1 point rows; expected at least 16" ]
    check "modelnet40_train.txt" "box_0001\nchair_0001\n" [ "line 2"; "a shape id CLASS_NNNN whose CLASS is listed in modelnet40_shape_names.txt"; "'chair_0001'" ]
    check "modelnet40_test.txt" "box_0009\n" [ "line 1"; file "box/box_0009.txt"; "not found" ]
    check "modelnet40_shape_names.txt" "box\ntetra\nbox\n" [ "line 3"; "one class name per line, each once" ]
    writeResampled d 20
    userError [ file "tetra/tetra_0001.txt"; "20 point rows; expected at least 64" ] (fun () -> ModelNet.Load(root, 64, 0))

// ---------------------------------------------------------------------------------------------------------------
// data list / check / fetch, and the commands end to end

[<Fact>]
let ``data check knows both layouts: the fetch URL for the meshes, the class folders it lacks, the published split`` () =
    use d = new TempDir()
    let check () =
        use out = new StringWriter()
        let code = DataCommand.Check({ Cli.DataCheckOptions.Names = [ "ModelNet40" ]; Data = Some d.Path }, out)
        code, out.ToString().Split('\n')
    let line (lines: string[]) (start: string) = lines |> Array.find (fun l -> l.StartsWith start)
    let code, lines = check ()
    Assert.Equal(0, code)
    Assert.Contains("missing: gcnkd data fetch ModelNet40, or download http://modelnet.cs.princeton.edu/ModelNet40.zip", line lines "ModelNet40 [OFF]")
    Assert.Contains("not fetched by GcnKd", line lines "ModelNet40 [Resampled]")
    writeMeshes d
    writeResampled d 4
    let code, lines = check ()
    Assert.Equal(1, code)
    Assert.Contains("partial: lacks airplane/, bathtub/", line lines "ModelNet40 [OFF]")
    Assert.Contains("MISMATCH shapes: expected 12311, found 15; classes: expected 40, found 3; split: expected [9843, 2468], found [12, 3]", line lines "ModelNet40 [Resampled]")
    let source = (DatasetSources.tryFind "modelnet40").Value
    Assert.Equal<string list>([ "OFF"; "Resampled" ], source.Versions |> List.map (fun v -> v.Version))
    Assert.True(source.Versions.Head.Download.Value.Files.Head.Sha256.IsNone, "no checksum is recorded for ModelNet40.zip")
    Assert.Equal(40, DatasetSources.modelNet40Classes.Length)
    Assert.Equal<string list>(List.sortWith (fun a b -> String.CompareOrdinal(a, b)) DatasetSources.modelNet40Classes, DatasetSources.modelNet40Classes)

/// gcnkd as a separate process (its console is its own): exit code, stdout, stderr.
let private gcnkd (args: string list) =
    let psi = ProcessStartInfo("dotnet", UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in "exec" :: Path.Combine(AppContext.BaseDirectory, "gcnkd.dll") :: args do psi.ArgumentList.Add a
    use p = Process.Start psi
    let out, err = p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync()
    p.WaitForExit()
    p.ExitCode, out.Result, err.Result

let private json (path: string) =
    Assert.True(File.Exists path, sprintf "%s exists" path)
    JsonDocument.Parse(File.ReadAllText path).RootElement

[<Fact>]
let ``gcnkd train and distill --dataset ModelNet40 --model dgcnn run end to end on the fixture; a bad mesh exits 2`` () =
    use d = new TempDir()
    writeMeshes d
    let out = Path.Combine(d.Path, "run")
    let code, stdout, stderr = gcnkd [ "train"; "--dataset"; "ModelNet40"; "--model"; "dgcnn"; "--epochs"; "1"; "--points"; "32"; "--data"; d.Path; "--out"; out ]
    Assert.True((code = 0), stdout + stderr)
    Assert.Contains("ModelNet40 dgcnn (ModelNet40 train/test, 32 points per shape", stdout)
    Assert.True(File.Exists(Path.Combine(out, "seed-0", "model.safetensors")))
    let m = json (Path.Combine(out, "seed-0", "metrics.json"))
    Assert.InRange(m.GetProperty("test_accuracy").GetDouble(), 0.0, 1.0)
    Assert.Equal("ModelNet40", (json (Path.Combine(out, "config.json"))).GetProperty("dataset").GetString())
    let dist = Path.Combine(d.Path, "distill")
    let code, stdout, stderr =
        gcnkd [ "distill"; "--dataset"; "ModelNet40"; "--method"; "lsp"; "--epochs"; "1"; "--seeds"; "1"; "--points"; "32"; "--data"; d.Path; "--out"; dist ]
    Assert.True((code = 0), stdout + stderr)
    Assert.True(File.Exists(Path.Combine(dist, "teacher", "model.safetensors")), stdout)
    Assert.True(File.Exists(Path.Combine(dist, "seed-0", "model.safetensors")), stdout)
    d.Write(meshFile "tetra" 5, "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    let code, _, stderr = gcnkd [ "train"; "--dataset"; "ModelNet40"; "--model"; "dgcnn"; "--epochs"; "1"; "--points"; "32"; "--data"; d.Path; "--out"; out + "2" ]
    Assert.Equal(2, code)
    Assert.Contains(Path.Combine(d.Path, meshFile "tetra" 5) + ", line 6: expected face 1 of 1: vertex index 3 must be an integer in 0..2", stderr)
    Assert.DoesNotContain("   at ", stderr)
