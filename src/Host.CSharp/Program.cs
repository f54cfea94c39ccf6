using GcnKd.Host.Bench;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Experiments;
using GcnKd.Host.Runtime;
using Microsoft.FSharp.Core;

namespace GcnKd.Host;

/// <summary>The `gcnkd` executable: parse (pure, GcnKd.Cli), report the device, dispatch, map errors to exit codes
/// (0 success, 1 a run failed, 2 a user mistake: one clear message, never a stack trace).</summary>
public static class Program
{
    /// <summary>A config file's text, or why it cannot be read.</summary>
    static FSharpResult<string, string> ReadConfig(string path)
    {
        try { return FSharpResult<string, string>.NewOk(File.ReadAllText(path)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return FSharpResult<string, string>.NewError($"config {path}: cannot be read ({e.Message})");
        }
    }

    public static int Main(string[] args)
    {
        var parsed = GcnKd.CliConfig.parse(FuncConvert.FromFunc<string, FSharpResult<string, string>>(ReadConfig), args);
        try
        {
            if (parsed.Threads is { } threads) GcnKd.Threads.Count = threads.Value;
            switch (parsed.Command)
            {
                case GcnKd.Cli.Command.Usage usage:
                    (usage.isError ? Console.Error : Console.Out).WriteLine(usage.text);
                    return usage.isError ? 2 : 0;
                case GcnKd.Cli.Command.RunQuickstart quickstart:
                    Console.WriteLine(DeviceReport.Line());
                    return QuickstartCommand.Run(quickstart.Item);
                case GcnKd.Cli.Command.RunEval eval:
                    Console.WriteLine(DeviceReport.Line());
                    return EvalCommand.Run(eval.Item);
                case GcnKd.Cli.Command.RunBench bench:
                    Console.WriteLine(DeviceReport.Line());
                    return BenchRunner.Run(bench.Item);
                case GcnKd.Cli.Command.RunTrain train:
                    Console.WriteLine(DeviceReport.Line());
                    return TrainCommand.Run(train.Item);
                case GcnKd.Cli.Command.RunDistill distill:
                    Console.WriteLine(DeviceReport.Line());
                    return DistillCommand.Run(distill.Item);
                case GcnKd.Cli.Command.RunGfkd gfkd:
                    Console.WriteLine(DeviceReport.Line());
                    return GfkdCommand.Run(gfkd.Item);
                case GcnKd.Cli.Command.RunEvolve evolve:
                    Console.WriteLine(DeviceReport.Line());
                    return EvolveCommand.Run(evolve.Item);
                case GcnKd.Cli.Command.RunReport report:
                    Console.WriteLine($"wrote {new RunDirectory(report.Item.Dir).WriteReport()}");
                    return 0;
                case GcnKd.Cli.Command.RunReproduce reproduce:
                    Console.WriteLine(DeviceReport.Line());
                    return ReproduceCommand.Run(reproduce.Item);
                case GcnKd.Cli.Command.RunExport export:
                    return ExportCommand.Run(export.Item);
                case GcnKd.Cli.Command.RunDataList list:
                    return DataCommand.List(list.data, Console.Out);
                case GcnKd.Cli.Command.RunDataCheck check:
                    return DataCommand.Check(check.Item, Console.Out);
                case GcnKd.Cli.Command.RunDataFetch fetch:
                    return DataFetch.Run(fetch.Item, Console.Out);
                default:
                    Console.Error.WriteLine("error: unhandled command");
                    return 2;
            }
        }
        catch (GcnKdUserError e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
