using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GcnKd.Host.Runtime;

/// <summary>The one-line description of the machine a run used: CPU, SIMD width, kernel threads.</summary>
public static class DeviceReport
{
    public static string Simd()
    {
        if (Vector512.IsHardwareAccelerated) return Avx512F.IsSupported ? "Vector512 (AVX-512F)" : "Vector512";
        if (Vector256.IsHardwareAccelerated) return Avx2.IsSupported ? "Vector256 (AVX2)" : "Vector256";
        if (Vector128.IsHardwareAccelerated) return "Vector128";
        return "scalar";
    }

    public static string CpuName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    public static string Line() =>
        $"device: CPU {CpuName()} ({Environment.ProcessorCount} logical cores), SIMD {Simd()}, " +
        $"threads {GcnKd.Threads.Count}, .NET {Environment.Version}";
}
