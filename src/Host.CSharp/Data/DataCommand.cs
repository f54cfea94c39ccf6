using GcnKd.Host.Errors;
using Microsoft.FSharp.Core;

namespace GcnKd.Host.Data;

/// <summary>
/// <c>gcnkd data list</c> and <c>gcnkd data check</c>: what the data root holds, and whether each present version
/// of a dataset reproduces its published statistics (Core's PublishedStats, compared by StatsCheck).
/// </summary>
public static class DataCommand
{
    static DataRoot Root(FSharpOption<string>? data) => DataRoot.Resolve(OptionModule.IsSome(data) ? data!.Value : null);

    static IEnumerable<(DatasetSources.Dataset Dataset, DatasetLayout Layout, DatasetSources.VersionSource Source)> Versions(IEnumerable<DatasetSources.Dataset> datasets) =>
        from d in datasets
        from l in DatasetLayouts.Of(d.Name)
        select (d, l, d.Versions.First(v => v.Version == l.Version));

    /// <summary>One line per dataset: kind, folder(s), present / partial / missing. Always exit code 0.</summary>
    public static int List(FSharpOption<string>? data, TextWriter output)
    {
        var root = Root(data);
        output.WriteLine($"data root: {root}");
        foreach (var d in DatasetSources.all)
        {
            var layouts = DatasetLayouts.Of(d.Name);
            var presence = layouts.Select(l => l.Presence(root)).ToArray();
            var status = presence.All(p => p == DataPresence.Present) ? "present"
                : presence.All(p => p == DataPresence.Missing) ? "missing" : "partial";
            var versions = layouts.Select((l, i) => $"{l.Version} in {l.Folder}{Path.DirectorySeparatorChar}" + presence[i] switch
            {
                DataPresence.Present => "",
                DataPresence.Partial => $" (lacks {string.Join(", ", l.Missing(root))})",
                _ => " (missing)",
            });
            output.WriteLine($"{d.Name,-12} {d.Kind.Describe,-44} {status,-8} {string.Join("; ", versions)}");
        }
        return 0;
    }

    /// <summary>How to get a layout's missing files: the fetch command and the manual download, or the by-hand note.</summary>
    public static string WhereToGet(DataRoot root, DatasetLayout layout, DatasetSources.VersionSource source)
    {
        if (OptionModule.IsNone(source.Download)) return $"{source.ByHand} {layout.Dir(root)}";
        var dl = source.Download.Value;
        return $"gcnkd data fetch {layout.Dataset}, or {DataFetch.HowToGet(root, layout, dl, dl.Base, DataFetch.Needed(root, layout, dl))}";
    }

    /// <summary>
    /// One line per version of each dataset (every known one, or <see cref="Cli.DataCheckOptions.Names"/>): ok,
    /// MISMATCH (field, expected vs found), partial / missing (what to download, where to put it). Exit code 1 when a
    /// present version does not match (or cannot be read), else 0.
    /// </summary>
    public static int Check(Cli.DataCheckOptions o, TextWriter output)
    {
        var root = Root(o.Data);
        output.WriteLine($"data root: {root}");
        IEnumerable<DatasetSources.Dataset> datasets = o.Names.IsEmpty ? DatasetSources.all : o.Names.Select(n => DatasetSources.tryFind(n).Value);
        var failed = 0;
        foreach (var (d, layout, source) in Versions(datasets))
        {
            var label = $"{d.Name} [{layout.Version}]";
            var line = layout.Presence(root) switch
            {
                DataPresence.Missing => $"missing: {WhereToGet(root, layout, source)}",
                DataPresence.Partial => $"partial: lacks {string.Join(", ", layout.Missing(root))}; {WhereToGet(root, layout, source)}",
                _ => Verify(root, layout, ref failed),
            };
            output.WriteLine($"{label,-24} {line}");
        }
        output.WriteLine(failed == 0 ? "every present dataset matches its published statistics" : $"{failed} dataset version(s) do NOT match");
        return failed == 0 ? 0 : 1;
    }

    static string Verify(DataRoot root, DatasetLayout layout, ref int failed)
    {
        var published = PublishedStats.tryFind(layout.Dataset, layout.Version);
        if (layout.Measure is null || OptionModule.IsNone(published))
            return "present, not checked: GcnKd has no loader for this version";
        var p = published.Value;
        StatsCheck.Measured m;
        try
        {
            m = layout.Measure(root);
        }
        catch (GcnKdUserError e)
        {
            failed++;
            return $"UNREADABLE: {e.Message}";
        }
        var mismatches = StatsCheck.check(p, m);
        if (mismatches.IsEmpty) return $"ok ({StatsCheck.summary(p, m)}; published: {p.Source})";
        failed++;
        return $"MISMATCH {StatsCheck.describeMismatches(p, mismatches)} (published: {p.Source})";
    }
}
