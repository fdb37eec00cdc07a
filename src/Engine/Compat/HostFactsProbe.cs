using System.Runtime.InteropServices;
using Migrate.Engine.Criu;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>Collects the facts about this host that the peer needs to judge compatibility.</summary>
public static class HostFactsProbe
{
    public static async Task<HostFacts> CollectAsync(ICriu criu, CancellationToken cancellationToken)
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
            CriuFeatures = await features.ConfigureAwait(false),
            CpuinfoImage = await cpu.ConfigureAwait(false),
            Vdso = VdsoLayouts.ReadOwn(),
            UprobesSupported = File.Exists("/sys/kernel/tracing/uprobe_events"),
            CapabilityBoundingSet = Capabilities.BoundingSet(),
            MemoryAvailableBytes = ProcFs.MemoryAvailableBytes(),
            MigrateVersion = BuildInfo.Version,
            BootId = ProcFs.BootId(),
        };
    }

    public static string KernelRelease() => ProcFs.KernelRelease();

    /// <summary>The architecture as uname -m names it.</summary>
    public static string Architecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
