using GcnKd.Host.Errors;

namespace GcnKd.Host.Data;

/// <summary>
/// The folder holding the datasets (one sub-folder per dataset, e.g. <c>Cora/</c>, <c>MUTAG/</c>): the
/// <c>--data DIR</c> argument, else the environment variable <c>GCNKD_DATA</c>, else <c>./data</c>.
/// <see cref="Source"/> says which of the three was used, so a "dataset not found" message can say where to fix it.
/// </summary>
public sealed record DataRoot(string Path, string Source)
{
    public const string EnvVar = "GCNKD_DATA";

    /// <summary>Resolve the data root from the <c>--data</c> argument (null or empty when not given).</summary>
    public static DataRoot Resolve(string? dataArgument)
    {
        if (!string.IsNullOrWhiteSpace(dataArgument))
            return new DataRoot(System.IO.Path.GetFullPath(dataArgument), "--data");
        var env = Environment.GetEnvironmentVariable(EnvVar);
        if (!string.IsNullOrWhiteSpace(env))
            return new DataRoot(System.IO.Path.GetFullPath(env), EnvVar);
        return new DataRoot(System.IO.Path.GetFullPath("data"), "default ./data");
    }

    /// <summary>A data root at an explicit folder (tests, fixtures).</summary>
    public static DataRoot At(string path) => new(System.IO.Path.GetFullPath(path), "explicit path");

    /// <summary>
    /// The folder of <paramref name="dataset"/> (relative to the root; may be nested, e.g. <c>MUTAG/gin_format</c>),
    /// after checking that it exists and holds every one of <paramref name="expectedFiles"/> (paths relative to that
    /// folder). Otherwise a <see cref="GcnKdUserError"/> naming the data root, the folder and the files expected.
    /// </summary>
    public string Require(string dataset, string folder, IReadOnlyList<string> expectedFiles)
    {
        var dir = System.IO.Path.Combine(Path, folder);
        var expected = string.Join(", ", expectedFiles);
        if (!Directory.Exists(dir))
            throw new GcnKdUserError(
                $"dataset {dataset} not found: folder {dir} does not exist (data root {Path}, from {Source}; " +
                $"set it with --data DIR or {EnvVar}). Expected files in {dir}: {expected}");
        var missing = expectedFiles.Where(f => !File.Exists(System.IO.Path.Combine(dir, f))).ToList();
        if (missing.Count > 0)
            throw new GcnKdUserError(
                $"dataset {dataset} is incomplete: {string.Join(", ", missing)} not found in {dir} (data root {Path}, " +
                $"from {Source}). Expected files: {expected}");
        return dir;
    }

    public override string ToString() => $"{Path} (from {Source})";
}
