/// Point clouds sampled from triangle meshes, as PointNet / DGCNN prepare ModelNet40's CAD models: N points drawn
/// uniformly on the surface (a triangle with probability proportional to its area, then a uniform point inside it),
/// centred and scaled into the unit ball (`PointClouds.normalise`). Deterministic: every draw comes from a key
/// derived from (seed, the mesh's name), so a cloud does not depend on which other meshes are loaded, their order or
/// the thread count.
namespace GcnKd

open System

/// A triangle mesh: vertex coordinates (x, y, z per vertex, back to back) and vertex indices (three per triangle).
type Mesh = { Vertices: float[]; Triangles: int[] }

[<RequireQualifiedAccess>]
module MeshSampling =
    /// A polygon's triangles as a fan around its first vertex: (v0, v1, v2), (v0, v2, v3), ... (n - 2 triangles).
    let fan (polygon: int[]) : int[] =
        if polygon.Length < 3 then invalidArg "polygon" (sprintf "MeshSampling.fan: %d vertices, a polygon needs at least 3" polygon.Length)
        Array.init (3 * (polygon.Length - 2)) (fun k ->
            let t, c = k / 3, k % 3
            if c = 0 then polygon.[0] else polygon.[t + c])

    let private corner (m: Mesh) (t: int) (c: int) =
        let v = m.Triangles.[3 * t + c]
        m.Vertices.[3 * v], m.Vertices.[3 * v + 1], m.Vertices.[3 * v + 2]

    /// The area of every triangle: |(b - a) x (c - a)| / 2.
    let triangleAreas (m: Mesh) : float[] =
        if m.Triangles.Length % 3 <> 0 then invalidArg "m" (sprintf "MeshSampling.triangleAreas: %d indices is not a whole number of triangles" m.Triangles.Length)
        Array.init (m.Triangles.Length / 3) (fun t ->
            let ax, ay, az = corner m t 0
            let bx, by, bz = corner m t 1
            let cx, cy, cz = corner m t 2
            let ux, uy, uz = bx - ax, by - ay, bz - az
            let vx, vy, vz = cx - ax, cy - ay, cz - az
            let nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
            0.5 * sqrt (nx * nx + ny * ny + nz * nz))

    let surfaceArea (m: Mesh) = Array.sum (triangleAreas m)

    /// Uniform in [0, 1) with 53 random bits: draw i of the key's stream.
    let private unitAt (r: Rng) (i: int64) = float (Rng.word r i >>> 11) * (1.0 / 9007199254740992.0)

    /// The key of one named mesh (its path relative to the dataset folder, say): the seed's key moved by a 64-bit
    /// FNV-1a hash of the name, so that it is stable across runs and machines (unlike String.GetHashCode).
    let keyOf (seed: int) (name: string) : Rng =
        let mutable h = 0xCBF29CE484222325UL
        for ch in name do
            h <- (h ^^^ uint64 ch) * 0x100000001B3UL
        { Key = Rng.word (Rng.create seed) (int64 (h >>> 1)) }

    /// `numPoints` points (x, y, z back to back) uniform on the surface: point i picks triangle T with probability
    /// area(T) / total (inverse CDF of the cumulative areas, draw 3i) and the point
    /// (1 - sqrt r1) a + sqrt r1 (1 - r2) b + sqrt r1 r2 c (draws 3i + 1, 3i + 2), uniform on the triangle
    /// (Osada et al. 2002, "Shape distributions"). A mesh of zero total area has no surface to sample.
    let sample (rng: Rng) (numPoints: int) (m: Mesh) : float[] =
        if numPoints < 1 then invalidArg "numPoints" (sprintf "MeshSampling.sample: numPoints = %d, expected >= 1" numPoints)
        let areas = triangleAreas m
        let cumulative = Array.scan (+) 0.0 areas |> Array.tail
        let total = if areas.Length = 0 then 0.0 else cumulative.[areas.Length - 1]
        if not (total > 0.0) then
            invalidArg "m" (sprintf "MeshSampling.sample: the mesh's %d triangles have total area %g; expected a positive area" areas.Length total)
        let points = Array.zeroCreate<float> (3 * numPoints)
        for i in 0 .. numPoints - 1 do
            let u = unitAt rng (3L * int64 i) * total
            // first triangle whose cumulative area exceeds u (zero-area triangles are never chosen)
            let mutable lo, hi = 0, areas.Length - 1
            while lo < hi do
                let mid = (lo + hi) / 2
                if cumulative.[mid] > u then hi <- mid else lo <- mid + 1
            let s = sqrt (unitAt rng (3L * int64 i + 1L))
            let r2 = unitAt rng (3L * int64 i + 2L)
            let wa, wb, wc = 1.0 - s, s * (1.0 - r2), s * r2
            let ax, ay, az = corner m lo 0
            let bx, by, bz = corner m lo 1
            let cx, cy, cz = corner m lo 2
            points.[3 * i] <- wa * ax + wb * bx + wc * cx
            points.[3 * i + 1] <- wa * ay + wb * by + wc * cy
            points.[3 * i + 2] <- wa * az + wb * bz + wc * cz
        points

    /// The [numPoints; 3] cloud of a mesh: `sample`, then centred and scaled into the unit ball.
    let pointCloud (rng: Rng) (numPoints: int) (m: Mesh) : Tensor =
        Tensor.ofArray [| numPoints; 3 |] (PointClouds.normalise (sample rng numPoints m |> Array.map float32))
