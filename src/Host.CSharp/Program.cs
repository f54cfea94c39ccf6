namespace GcnKd.Host;

public static class Program
{
    // Temporary dispatch for the benchmark runner until the CLI is wired (the lead replaces this).
    public static int Main(string[] args) =>
        args.Length > 0 && args[0] == "bench" ? Bench.BenchRunner.Run(args[1..]) : 0;
}
