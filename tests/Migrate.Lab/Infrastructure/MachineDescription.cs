namespace Migrate.Lab.Infrastructure;

/// <summary>What a result was measured with: cores, kernel, CRIU, and migrate's commit.</summary>
internal static class MachineDescription
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(30);

    /// <summary>"2 cores, Linux R, CRIU V, migrate at REV" (+uncommitted src when src/ differs from the commit).</summary>
    public static async Task<string> DescribeAsync(CancellationToken cancellationToken)
    {
        var criu = await ChildProcess.RunAsync(Repository.Criu, ["--version"], Quick, cancellationToken);
        var criuVersion = criu.Stdout.Split('\n').FirstOrDefault(line => line.StartsWith("Version: ", StringComparison.Ordinal))?["Version: ".Length..].Trim() ?? "?";
        var revision = await ChildProcess.RunAsync("git", ["-C", Repository.Root, "rev-parse", "--short", "HEAD"], Quick, cancellationToken);
        var changed = await ChildProcess.RunAsync("git", ["-C", Repository.Root, "diff", "--quiet", "HEAD", "--", "src"], Quick, cancellationToken);
        var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        return $"{Environment.ProcessorCount} cores, Linux {kernel}, CRIU {criuVersion}, migrate at {revision.Stdout.Trim()}{(changed.Succeeded ? "" : "+uncommitted src")}";
    }
}
