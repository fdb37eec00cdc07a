namespace Migrate.Engine.Compat;

/// <summary>Makes the <see cref="CheckResult"/>s every check returns.</summary>
public static class Checks
{
    public static CheckResult Pass(string name, string detail) => new(name, CheckVerdict.Pass, detail);

    public static CheckResult Warn(string name, string detail, string? remedy = null) => new(name, CheckVerdict.Warn, detail, remedy);

    public static CheckResult Fail(string name, string detail, string remedy) => new(name, CheckVerdict.Fail, detail, remedy);

    /// <summary>"1 PID", "2 PIDs": a count for a check's detail.</summary>
    public static string Count(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";
}

/// <summary>A check refused to go on; the migration stops and the report names the check.</summary>
public sealed class CheckFailedException(CheckResult check) : Exception($"the {check.Name} check failed: {check.Detail}")
{
    public CheckResult Check { get; } = check;
}
