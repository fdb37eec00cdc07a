using System.Text.Json;

namespace Migrate.IntegrationTests.Infrastructure;

internal sealed record MigrateResult(int ExitCode, string Stdout, string Stderr, JsonElement? Report)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";

    /// <summary>The report's check of that name: a report holds one of each.</summary>
    public JsonElement Check(string name) =>
        Report!.Value.GetProperty("checks").EnumerateArray().Single(check => check.GetProperty("name").GetString() == name);
}

/// <summary>Runs the published migrate CLI as an operator would.</summary>
internal static class MigrateCli
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    /// <summary>Runs migrate with <paramref name="arguments"/> plus a --report file, and parses that report.</summary>
    public static Task<MigrateResult> RunAsync(params string[] arguments) => RunAsync(null, arguments);

    /// <param name="environment">Extra environment for migrate, which passes it on to CRIU.</param>
    public static async Task<MigrateResult> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        using var directory = new TempDirectory("report");
        var reportPath = directory.Combine("report.json");
        var result = await RunRawAsync(environment, [.. arguments, "--report", reportPath]);
        JsonElement? report = File.Exists(reportPath)
            ? JsonDocument.Parse(await File.ReadAllTextAsync(reportPath)).RootElement.Clone()
            : null;
        return result with { Report = report };
    }

    public static async Task<MigrateResult> RunRawAsync(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var run = await ChildProcess.RunAsync(Repository.Migrate, arguments, Timeout, environment);
        return new MigrateResult(run.ExitCode, run.Stdout, run.Stderr, null);
    }
}
