using System.Text.RegularExpressions;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

[Collection(CriuCollection.Name)]
public sealed class DemoTests
{
    /// <summary>
    /// The README's demo command, run from a fresh clone of the committed
    /// tree: everything it needs must come from its own scripts.
    /// </summary>
    [Fact]
    public async Task The_demo_migrates_its_workload_from_a_fresh_clone()
    {
        using var clone = new TempDirectory("clone");
        var cloned = await ChildProcess.RunAsync("git", ["clone", "--quiet", "--no-hardlinks", Repository.Root, clone.Path], TimeSpan.FromMinutes(1));
        Assert.True(cloned.ExitCode == 0, cloned.ToString());

        var demo = await ChildProcess.RunAsync(Path.Combine(clone.Path, "scripts", "demo.sh"), [], TimeSpan.FromMinutes(10));
        var output = demo.Stdout + demo.Stderr;

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("migrate: migrated PID", output, StringComparison.Ordinal);
        Assert.Contains("\"outcome\": \"migrated\"", output, StringComparison.Ordinal);
        Assert.Contains("checksum=ok", output[output.IndexOf("after the migration", StringComparison.Ordinal)..], StringComparison.Ordinal);
        // The shell's job notice for the source copy the commit killed says nothing the demo means to say.
        Assert.DoesNotContain("Killed", output, StringComparison.Ordinal);
        var demoDirectory = Regex.Match(output, @"report \((/tmp/migrate-demo\.[^/]+)/report\.json\)").Groups[1].Value;
        Assert.NotEmpty(demoDirectory);
        Assert.False(Directory.Exists(demoDirectory), "the demo left its directory behind");
    }
}
