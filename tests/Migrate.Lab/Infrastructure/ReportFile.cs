using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Migrate.Engine.Migration;

namespace Migrate.Lab.Infrastructure;

/// <summary>migrate's JSON reports, read through the engine's own report types (README, "Report").</summary>
internal static class ReportFile
{
    /// <exception cref="LabException">The file is not a report as this source writes it: a member missing, null or of another type.</exception>
    public static MigrationReport Read(string path)
    {
        try
        {
            return MigrationReport.FromJson(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new LabException(
                $"{path} is not a report this tool can read ({e.Message}); was bin/migrate published from this source? (scripts/setup.sh)", e);
        }
    }

    /// <summary>A migrated report has what a migration measures: the freeze, its parts, the pre-copy and where the process went.</summary>
    /// <exception cref="LabException">One of them is null.</exception>
    public static void RequireMigrated(MigrationReport report, string path)
    {
        string? missing = report switch
        {
            { Outcome: not MigrationOutcome.Migrated } => $"outcome {JsonName(report.Outcome)}, not migrated",
            { FrozenMs: null } => "frozenMs is null",
            { Final: null } => "final is null",
            { Precopy: null } => "precopy is null",
            { Precopy.StopReason: null } => "precopy.stopReason is null",
            { RestoredPid: null } => "restoredPid is null",
            _ => null,
        };
        if (missing is not null)
        {
            throw new LabException($"{path}: migrate exited 0 but {missing}");
        }
    }

    /// <summary>An enum member's name in the report (converged, contentHash, ...).</summary>
    public static string JsonName<T>(T value) where T : struct, Enum =>
        typeof(T).GetField(value.ToString())?.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
        ?? throw new LabException($"{typeof(T).Name}.{value} has no name in the report");
}
