using GcnKd.Host.Bench;
using GcnKd.Host.Checkpoints;
using GcnKd.Host.Data;
using GcnKd.Host.Errors;
using GcnKd.Host.Experiments;
using GcnKd.Host.Runtime;
using Microsoft.FSharp.Core;

namespace GcnKd.Host;

/// <summary>The `gcnkd` executable: parse (pure, GcnKd.Cli), report the device, dispatch, map errors to exit codes
/// (0 success, 1 a run failed, 2 a user mistake: one clear message, never a stack trace, 130 stopped by Ctrl-C after
/// the current epoch, everything written so far complete: see <see cref="Interrupt"/>).</summary>
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

    /// <summary>Where a command leaves its finished parts, for the line printed when it is interrupted (null: it
    /// saves nothing before it ends).</summary>
    static string? OutputOf(GcnKd.Cli.Command c) => c switch
    {
        GcnKd.Cli.Command.RunTrain t => t.Item.Out,
        GcnKd.Cli.Command.RunDistill d => d.Item.Out,
        GcnKd.Cli.Command.RunGfkd g => g.Item.Out,
        GcnKd.Cli.Command.RunEvolve e => e.Item.Out,
        GcnKd.Cli.Command.RunReproduce r => r.Item.Out,
        _ => null,
    };

    public static int Main(string[] args)
    {
        Interrupt.InstallConsoleHandler();
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
        catch (OperationCanceledException) when (Interrupt.Requested)
        {
            Console.Out.Flush();
            Console.Error.WriteLine(Interrupt.StoppedLine(OutputOf(parsed.Command)));
            return 130;
        }
    }
}
