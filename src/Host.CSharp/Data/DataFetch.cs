using System.IO.Compression;
using System.Security.Cryptography;
using GcnKd.Host.Errors;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Data;

/// <summary>
/// <c>gcnkd data fetch NAME</c>: download a dataset's official files (Core's DatasetSources), verify their SHA-256,
/// unpack and move them into the data root. Everything happens in a temporary folder inside the data root first
/// (download, verify, extract, write SOURCE.md) and reaches the dataset folder by renames only: a failed or
/// interrupted fetch leaves no half-written file there. A new dataset folder arrives in one rename; files missing
/// from an existing folder (PubMed's allx) are renamed in one by one, and files already there are never replaced.
/// </summary>
public static class DataFetch
{
    static readonly HttpClient Http = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(20) })
    {
        Timeout = TimeSpan.FromMinutes(30),
    };

    public static int Run(Cli.DataFetchOptions o, TextWriter output)
    {
        var root = DataRoot.Resolve(OptionModule.IsSome(o.Data) ? o.Data.Value : null);
        var dataset = DatasetSources.tryFind(o.Name).Value;
        var source = dataset.Versions.FirstOrDefault(v => OptionModule.IsSome(v.Download))
            ?? throw new GcnKdUserError($"{dataset.Name} has no official download GcnKd can fetch");
        var layout = DatasetLayouts.Of(dataset.Name).First(l => l.Version == source.Version);
        var dir = layout.Dir(root);
        var download = source.Download.Value;
        if (layout.Missing(root).Length == 0)
        {
            output.WriteLine($"{dataset.Name} ({source.Version}) is already present in {dir}; nothing to fetch (gcnkd data check {dataset.Name} verifies it)");
            return 0;
        }
        var files = Needed(root, layout, download);
        if (OptionModule.IsSome(o.Sha256) && files.Count != 1)
            throw new GcnKdUserError($"--sha256 names one file, but {dataset.Name} needs {files.Count} downloads ({string.Join(", ", files.Select(f => f.Name))}); their recorded checksums are used");
        var baseUrl = OptionModule.IsSome(o.Url) ? o.Url.Value : download.Base;

        // a fetch of this dataset that was killed left its temporary folder: nothing in it is kept
        if (Directory.Exists(root.Path))
            foreach (var stale in Directory.EnumerateDirectories(root.Path, $".gcnkd-fetch-{dataset.Name}-*"))
                try { Directory.Delete(stale, recursive: true); } catch (IOException) { /* in use: left for the next fetch */ }
        var temp = Path.Combine(root.Path, $".gcnkd-fetch-{dataset.Name}-{Guid.NewGuid():N}");
        var downloaded = Path.Combine(temp, "download");
        try
        {
            Directory.CreateDirectory(downloaded);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"cannot write into the data root {root}: {e.Message}", e);
        }
        try
        {
            var record = DownloadVerified(files, baseUrl, downloaded, OptionModule.IsSome(o.Sha256) ? o.Sha256.Value : null, dir, output,
                () => $"To install it by hand, {HowToGet(root, layout, download, baseUrl, files)}; then run gcnkd data check {dataset.Name}");

            var content = download.Packing.IsZipArchive ? Unzip(Path.Combine(downloaded, files[0].Name), Path.Combine(temp, "unpacked"), files[0].Name) : downloaded;
            var stillMissing = download.Packing.IsZipArchive ? layout.MissingIn(content) : [];
            if (stillMissing.Length > 0)
                throw new GcnKdUserError($"the archive {files[0].Name} does not hold {string.Join(", ", stillMissing)}; nothing was written to {dir}");
            WriteSource(content, dir, dataset.Name, source, record);
            MoveIntoPlace(content, dir);
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { /* already gone, or left for the OS to clean */ }
        }
        output.WriteLine($"{dataset.Name} ({source.Version}) is in {dir}; gcnkd data check {dataset.Name} compares it with the published statistics");
        return 0;
    }

    /// <summary>Download every file into <paramref name="into"/> and check its SHA-256 against
    /// <paramref name="expectedOverride"/> (--sha256) or the recorded one (a mismatch is a user error; no record:
    /// the hash is printed as not verified). Returns URL, hash and verdict per file for SOURCE.md.</summary>
    static List<(string Url, string Sha, string Verified)> DownloadVerified(
        List<DatasetSources.OfficialFile> files, string baseUrl, string into, string? expectedOverride, string dir, TextWriter output, Func<string> byHand)
    {
        var record = new List<(string Url, string Sha, string Verified)>();
        foreach (var f in files)
        {
            var url = DatasetSources.fileUrl(baseUrl, f.Name);
            var path = Path.Combine(into, f.Name);
            output.WriteLine($"downloading {url}");
            Download(url, path, byHand);
            var sha = Sha256Of(path);
            var expected = expectedOverride ?? (OptionModule.IsSome(f.Sha256) ? f.Sha256.Value : null);
            if (expected is null)
            {
                output.WriteLine($"  sha256 {sha}: NOT verified (GcnKd records no checksum for {f.Name}; compare it with a trusted source)");
                record.Add((url, sha, "not verified (no recorded checksum)"));
            }
            else if (!string.Equals(sha, expected, StringComparison.OrdinalIgnoreCase))
                throw new GcnKdUserError(
                    $"checksum mismatch for {url}: expected sha256 {expected}, got {sha}. The download was discarded; nothing was written to {dir}");
            else
            {
                output.WriteLine($"  sha256 {sha}: verified");
                record.Add((url, sha, expectedOverride is null ? "verified (recorded checksum)" : "verified (--sha256)"));
            }
        }
        return record;
    }

    /// <summary>The files of <paramref name="download"/> a layout still needs: the archive, or the plain files it lacks.</summary>
    public static List<DatasetSources.OfficialFile> Needed(DataRoot root, DatasetLayout layout, DatasetSources.Download download)
    {
        var missing = layout.Missing(root);
        return download.Packing.IsZipArchive ? download.Files.ToList() : download.Files.Where(f => missing.Contains(f.Name)).ToList();
    }

    /// <summary>"download URL... and unzip it so that DIR holds ... / put the file(s) in DIR".</summary>
    public static string HowToGet(DataRoot root, DatasetLayout layout, DatasetSources.Download download, string baseUrl, IEnumerable<DatasetSources.OfficialFile> files)
    {
        var urls = string.Join(" ", files.Select(f => DatasetSources.fileUrl(baseUrl, f.Name)));
        var dir = layout.Dir(root);
        return download.Packing.IsZipArchive
            ? $"download {urls} and unzip it so that {dir} holds {string.Join(", ", layout.Files.Select(f => f[^1]))}"
            : $"download {urls} and put the file(s) in {dir}";
    }

    static void Download(string url, string path, Func<string> byHand)
    {
        try
        {
            using var response = Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
                throw new GcnKdUserError($"could not download {url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}. {byHand()}");
            using var body = response.Content.ReadAsStream();
            using var file = File.Create(path);
            body.CopyTo(file);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            throw new GcnKdUserError($"could not download {url} ({e.Message}); no network? {byHand()}", e);
        }
    }

    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Extract a zip into <paramref name="into"/>; the dataset's files are its single top-level folder
    /// when it has one (TU zips hold NAME/NAME_A.txt, ...), else the extraction folder itself.</summary>
    static string Unzip(string zip, string into, string name)
    {
        try
        {
            ZipFile.ExtractToDirectory(zip, into);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new GcnKdUserError($"{name} could not be unpacked ({e.Message}); nothing was written to the data root", e);
        }
        var dirs = Directory.GetDirectories(into).Where(d => Path.GetFileName(d) != "__MACOSX").ToArray();
        return dirs.Length == 1 && Directory.GetFiles(into).Length == 0 ? dirs[0] : into;
    }

    /// <summary>SOURCE.md in the fetched content: URL, date and hash of every download (appended to the dataset
    /// folder's own SOURCE.md when it has one).</summary>
    static void WriteSource(string content, string dir, string dataset, DatasetSources.VersionSource source, List<(string Url, string Sha, string Verified)> record)
    {
        var existing = Path.Combine(dir, "SOURCE.md");
        var text = (File.Exists(existing) ? File.ReadAllText(existing).TrimEnd() + "\n\n" : "") +
            $"## {dataset} ({source.Version}): fetched by gcnkd data fetch on {DateTime.UtcNow:yyyy-MM-dd}\n\n{source.Describes}.\n\n" +
            "| url | sha256 | checksum |\n|---|---|---|\n" +
            string.Concat(record.Select(r => $"| {r.Url} | `{r.Sha}` | {r.Verified} |\n"));
        File.WriteAllText(Path.Combine(content, "SOURCE.md"), text);
    }

    /// <summary>A new dataset folder in one rename; else each file the folder lacks (and SOURCE.md) renamed in.</summary>
    static void MoveIntoPlace(string content, string dir)
    {
        try
        {
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
                Directory.Move(content, dir);
                return;
            }
            foreach (var file in Directory.EnumerateFiles(content, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(dir, Path.GetRelativePath(content, file));
                var isSource = Path.GetRelativePath(content, file) == "SOURCE.md";
                if (File.Exists(target) && !isSource) continue;
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Move(file, target, overwrite: isSource);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GcnKdUserError($"could not move the fetched files into {dir}: {e.Message}", e);
        }
    }
}
