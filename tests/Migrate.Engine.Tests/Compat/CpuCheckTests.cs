using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Tests.Migration.Fakes;

namespace Migrate.Engine.Tests.Compat;

public sealed class CpuCheckTests
{
    private static readonly byte[] SourceCpu = [1, 2, 3];

    [Fact]
    public async Task A_refusal_from_CRIUs_CPU_comparison_blames_the_CPU()
    {
        var check = await VerifyWhenCriuSays("Error (criu/arch/x86/cpu.c:223): cpu: CPU instruction capabilities do not match run time");

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("this CPU lacks instructions the source's CPU has (CRIU: cpu: CPU instruction capabilities do not match run time)", check.Detail);
    }

    [Fact]
    public async Task CRIU_failing_before_it_compares_fails_the_check_without_blaming_the_CPU()
    {
        // As when something else traces the agent: CRIU's kernel probes cannot ptrace their child.
        var check = await VerifyWhenCriuSays(
            "Error (compel/src/lib/infect.c:1513): ptrace(PTRACE_TRACEME): Operation not permitted",
            "Error (criu/kerndat.c:1969): kerndat_breakpoints has failed when initializing kerndat.");

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("CRIU's cpuinfo check could not run on the target (CRIU: ptrace(PTRACE_TRACEME): Operation not permitted; kerndat_breakpoints has failed when initializing kerndat.)",
            check.Detail);
        Assert.Contains("the CPUs were not compared", check.Remedy, StringComparison.Ordinal);
    }

    private static Task<CheckResult> VerifyWhenCriuSays(params string[] errorLines)
    {
        var criu = new FakeCriu(new Journal(), new FakeTimeProvider())
        {
            CpuInfoCheckFailure = new CriuException("cpuinfo-check", "criu exited with 1", errorLines, logPath: null),
        };
        return CpuCheck.VerifyAsync(criu, SourceCpu, CancellationToken.None);
    }
}
