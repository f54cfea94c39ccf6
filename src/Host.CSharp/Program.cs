using GcnKd.Host.Runtime;

namespace GcnKd.Host;

public static class Program
{
    public static int Main(string[] args)
    {
        var parsed = GcnKd.Cli.parse(args);
        if (parsed.Threads is { } threads) GcnKd.Threads.Count = threads.Value;
        switch (parsed.Command)
        {
            case GcnKd.Cli.Command.Usage usage:
                (usage.isError ? Console.Error : Console.Out).WriteLine(usage.text);
                return usage.isError ? 2 : 0;
            case GcnKd.Cli.Command.RunBench bench:
                Console.WriteLine(DeviceReport.Line());
                return 0;
            default:
                Console.Error.WriteLine("error: unhandled command");
                return 2;
        }
    }
}
