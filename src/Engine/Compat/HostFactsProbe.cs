using System.Globalization;
using System.Runtime.InteropServices;
using Migrate.Engine.Criu;
using Migrate.Protocol;

namespace Migrate.Engine.Compat;

/// <summary>Collects the facts about this host that the peer needs to judge compatibility.</summary>
public static class HostFactsProbe
{
    public static async Task<HostFacts> CollectAsync(CriuClient criu, CancellationToken cancellationToken)
    {
        var version = await criu.GetVersionAsync(cancellationToken).ConfigureAwait(false);
        var features = await criu.CheckFeaturesAsync(cancellationToken).ConfigureAwait(false);
        return new HostFacts
        {
            Hostname = Environment.MachineName,
            KernelRelease = KernelRelease(),
            CriuVersion = version.ToString(),
            Architecture = Architecture(),
            CriuFeatures = new CriuFeatures { MemoryTracking = features.MemoryTracking, LazyPages = features.LazyPages },
            CpuinfoImage = Google.Protobuf.ByteString.CopyFrom(await CpuCheck.DescribeAsync(criu, cancellationToken).ConfigureAwait(false)),
            Vdso = VdsoLayouts.ReadOwn(),
            UprobesSupported = File.Exists("/sys/kernel/tracing/uprobe_events"),
            CapabilityBoundingSet = Capabilities.BoundingSet(),
            MemoryAvailableBytes = MemoryAvailable(),
        };
    }

    public static string KernelRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    /// <summary>The architecture as uname -m names it.</summary>
    public static string Architecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var other => other.ToString().ToLowerInvariant(),
    };

    // /proc/meminfo: "MemAvailable:   24307524 kB" (proc(5)).
    private static ulong MemoryAvailable()
    {
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return line is null ? 0 : ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
