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
        return new HostFacts
        {
            Hostname = Environment.MachineName,
            KernelRelease = KernelRelease(),
            CriuVersion = version.ToString(),
            Architecture = Architecture(),
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
}
