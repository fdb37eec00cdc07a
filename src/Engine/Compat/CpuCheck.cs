using Migrate.Engine.Criu;
using Migrate.Protocol;

namespace Migrate.Engine.Compat;

/// <summary>
/// The CPU check CRIU itself makes: the source describes its CPU
/// (cpuinfo dump), the target checks it can run what that describes
/// (cpuinfo check), so a process never lands where an instruction it uses
/// does not exist.
/// </summary>
public static class CpuCheck
{
    public const string CheckName = "cpu";
    private const string ImageName = "cpuinfo.img";

    /// <summary>On the source: this CPU's description, as CRIU writes it.</summary>
    public static async Task<byte[]> DescribeAsync(CriuClient criu, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("migrate-cpuinfo-");
        try
        {
            await criu.DumpCpuInfoAsync(
                new CriuCpuInfo { ImagesDirectory = directory.FullName, WorkDirectory = directory.FullName }, cancellationToken).ConfigureAwait(false);
            return await File.ReadAllBytesAsync(Path.Combine(directory.FullName, ImageName), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>On the target: whether this CPU can run what <paramref name="sourceCpu"/> describes.</summary>
    public static async Task<CheckResult> VerifyAsync(CriuClient criu, byte[] sourceCpu, CancellationToken cancellationToken)
    {
        if (sourceCpu.Length == 0)
        {
            return Checks.Warn(CheckName, "the source sent no CPU description; CRIU checks the CPU again at restore");
        }
        var directory = Directory.CreateTempSubdirectory("migrate-cpuinfo-");
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(directory.FullName, ImageName), sourceCpu, cancellationToken).ConfigureAwait(false);
            await criu.CheckCpuInfoAsync(
                new CriuCpuInfo { ImagesDirectory = directory.FullName, WorkDirectory = directory.FullName }, cancellationToken).ConfigureAwait(false);
            return Checks.Pass(CheckName, "CRIU's cpuinfo check passes: this CPU has every feature the source's has");
        }
        catch (CriuException e)
        {
            return Checks.Fail(CheckName, $"CRIU's cpuinfo check fails: {string.Join("; ", e.ErrorLines)}",
                "migrate to a host with the same CPU features");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
