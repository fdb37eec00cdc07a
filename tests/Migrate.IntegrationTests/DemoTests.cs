using System.Diagnostics;
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
        await RunAsync("git", ["clone", "--quiet", "--no-hardlinks", Repository.Root, clone.Path], TimeSpan.FromMinutes(1));

        var (exitCode, output) = await RunAsync(Path.Combine(clone.Path, "scripts", "demo.sh"), [], TimeSpan.FromMinutes(10));

        Assert.True(exitCode == 0, output);
        Assert.Contains("migrate: migrated PID", output, StringComparison.Ordinal);
        Assert.Contains("\"outcome\": \"migrated\"", output, StringComparison.Ordinal);
        Assert.Contains("checksum=ok", output[output.IndexOf("after the migration", StringComparison.Ordinal)..], StringComparison.Ordinal);
        var demoDirectory = Regex.Match(output, @"report \((/tmp/migrate-demo\.[^/]+)/report\.json\)").Groups[1].Value;
        Assert.NotEmpty(demoDirectory);
        Assert.False(Directory.Exists(demoDirectory), "the demo left its directory behind");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cancel.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
