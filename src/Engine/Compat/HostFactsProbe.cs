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
        // Three separate CRIU runs that do not depend on each other.
        var version = criu.GetVersionAsync(cancellationToken);
        var features = criu.CheckFeaturesAsync(cancellationToken);
        var cpu = CpuCheck.DescribeAsync(criu, cancellationToken);
        await Task.WhenAll(version, features, cpu).ConfigureAwait(false);
        return new HostFacts
        {
            Hostname = Environment.MachineName,
            KernelRelease = KernelRelease(),
            CriuVersion = (await version.ConfigureAwait(false)).ToString(),
            Architecture = Architecture(),
            CriuFeatures = new CriuFeatures
            {
                MemoryTracking = (await features.ConfigureAwait(false)).MemoryTracking,
                LazyPages = (await features.ConfigureAwait(false)).LazyPages,
            },
            CpuinfoImage = Google.Protobuf.ByteString.CopyFrom(await cpu.ConfigureAwait(false)),
            Vdso = VdsoLayouts.ReadOwn(),
            UprobesSupported = File.Exists("/sys/kernel/tracing/uprobe_events"),
            CapabilityBoundingSet = Capabilities.BoundingSet(),
            MemoryAvailableBytes = MemoryAvailable(),
            MigrateVersion = BuildInfo.Version,
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
