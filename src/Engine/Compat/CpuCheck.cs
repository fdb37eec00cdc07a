using Migrate.Engine.Criu;

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
    public static async Task<byte[]> DescribeAsync(ICriu criu, CancellationToken cancellationToken)
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

    /// <summary>
    /// On the target: whether this CPU can run what <paramref name="sourceCpu"/>
    /// describes. Two of CRIU's checks (criu/arch/x86/cpu.c): the instruction
    /// features, which the target must have at least (otherwise SIGILL); then
    /// the FPU's. A larger xsave area only warns: a process is at risk only if
    /// glibc's lazy binder saves an xsave frame sized on the old CPU.
    /// </summary>
    public static async Task<CheckResult> VerifyAsync(ICriu criu, byte[] sourceCpu, CancellationToken cancellationToken)
    {
        if (sourceCpu.Length == 0)
        {
            return Checks.Warn(CheckName, "the source sent no CPU description");
        }
        var directory = Directory.CreateTempSubdirectory("migrate-cpuinfo-");
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(directory.FullName, ImageName), sourceCpu, cancellationToken).ConfigureAwait(false);
            if (await CriuRefusesAsync(criu, directory.FullName, CriuCpuInfo.CheckInstructions, cancellationToken).ConfigureAwait(false) is { } instructions)
            {
                return instructions.ComparedCpus
                    ? Checks.Fail(CheckName, $"this CPU lacks instructions the source's CPU has (CRIU: {instructions.Reason})",
                        "migrate to a host with at least the source's CPU features; with --ignore-check cpu only if the process is known not to use them")
                    : CouldNotRun(instructions.Reason);
            }
            if (await CriuRefusesAsync(criu, directory.FullName, CriuCpuInfo.CheckFpu, cancellationToken).ConfigureAwait(false) is { Reason: var fpu } refusal)
            {
                if (!refusal.ComparedCpus)
                {
                    return CouldNotRun(fpu);
                }
                return fpu.Contains("xsave size", StringComparison.Ordinal)
                    ? Checks.Warn(CheckName, $"the FPU's xsave area differs ({fpu}): a process that binds a library function lazily after the move " +
                                             "may overrun the frame glibc sized on the source's CPU",
                        "processes linked with -z now, or started with LD_BIND_NOW=1, are not at risk")
                    : Checks.Fail(CheckName, $"this CPU's FPU cannot take the source's state (CRIU: {fpu})", "migrate to a host with the same CPU features");
            }
            return Checks.Pass(CheckName, "CRIU's cpuinfo check passes: this CPU has the source's instructions and FPU");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>CRIU failed before it compared anything: the check cannot tell, and says so rather than blame the CPU.</summary>
    private static CheckResult CouldNotRun(string reason) => Checks.Fail(CheckName, $"CRIU's cpuinfo check could not run on the target (CRIU: {reason})",
        "see why in the target agent's log: CRIU runs there as root and needs ptrace; the CPUs were not compared");

    /// <summary>Why CRIU refused, or null if it passed.</summary>
    /// <param name="ComparedCpus">
    /// The refusal came from CRIU's CPU comparison (criu/arch/*/cpu.c), not from
    /// CRIU failing to start, which also fails the check (its kerndat probes, say).
    /// </param>
    private sealed record Refusal(string Reason, bool ComparedCpus);

    private static async Task<Refusal?> CriuRefusesAsync(ICriu criu, string directory, uint capabilities, CancellationToken cancellationToken)
    {
        try
        {
            await criu.CheckCpuInfoAsync(
                new CriuCpuInfo { ImagesDirectory = directory, WorkDirectory = directory, Capabilities = capabilities }, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (CriuException e)
        {
            return new Refusal(
                string.Join("; ", e.ErrorLines.Select(line => line.Contains("): ", StringComparison.Ordinal) ? line[(line.IndexOf("): ", StringComparison.Ordinal) + 3)..] : line)),
                e.ErrorLines.Any(line => line.Contains("/cpu.c:", StringComparison.Ordinal)));
        }
    }
}
