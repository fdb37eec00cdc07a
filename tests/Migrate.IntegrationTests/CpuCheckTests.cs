using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.IntegrationTests.Infrastructure;
using Migrate.IntegrationTests.Protos;

namespace Migrate.IntegrationTests;

/// <summary>CRIU's own CPU check, as the target runs it on the source's CPU description.</summary>
[Collection(CriuCollection.Name)]
public sealed class CpuCheckTests
{
    private const uint CpuinfoMagic = 0x61404013;
    private readonly CriuClient _criu = new(new CriuSettings(), TimeProvider.System);

    [Fact]
    public async Task This_cpu_passes_its_own_description()
    {
        var description = await CpuCheck.DescribeAsync(_criu, CancellationToken.None);

        var check = await CpuCheck.VerifyAsync(_criu, description, CancellationToken.None);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
    }

    [Fact]
    public async Task A_cpu_with_features_this_one_lacks_is_refused()
    {
        var description = await CpuCheck.DescribeAsync(_criu, CancellationToken.None);
        var reader = ImageReader.Open(description, CpuinfoMagic, "cpuinfo.img");
        Assert.True(reader.TryRead(CpuinfoEntry.Parser, out var cpu));
        // A CPU with every feature there is.
        foreach (var x86 in cpu.X86Entry)
        {
            for (int word = 0; word < x86.Capability.Count; word++)
            {
                x86.Capability[word] = uint.MaxValue;
            }
        }

        var check = await CpuCheck.VerifyAsync(_criu, ImageWriter.Write(CpuinfoMagic, [cpu]), CancellationToken.None);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        // The user reads CRIU's own reason, not only ours.
        Assert.Contains("lacks instructions", check.Detail, StringComparison.Ordinal);
        Assert.Contains("CRIU: cpu: CPU instruction capabilities do not match", check.Detail, StringComparison.Ordinal);
    }
}
