using System.Text.Json;
using System.Text.Json.Serialization;
using Migrate.Engine.Compat;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration;

public enum MigrationOutcome
{
    /// <summary>The process runs on the target; the source copy is gone.</summary>
    [JsonStringEnumMemberName("migrated")]
    Migrated,

    /// <summary>Refused before anything was frozen; the process was not touched.</summary>
    [JsonStringEnumMemberName("refused")]
    Refused,

    /// <summary>Failed after the freeze; the process was resumed on the source.</summary>
    [JsonStringEnumMemberName("rolledBack")]
    RolledBack,

    /// <summary>Anything else; <see cref="MigrationReport.ProcessState"/> says where the process is.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}

public sealed record HostSummary(string Hostname, string KernelRelease, string CriuVersion, string Architecture, ulong MemoryAvailableBytes)
{
    public static HostSummary From(HostFacts facts) =>
        new(facts.Hostname, facts.KernelRelease, facts.CriuVersion, facts.Architecture, facts.MemoryAvailableBytes);
}

/// <summary>
/// When each step ended, in milliseconds on the source's monotonic clock since
/// the migration started. A step that was not reached is null.
/// </summary>
public sealed record MigrationTimeline
{
    public double? PreflightEnd { get; init; }
    public double? FreezeStart { get; init; }
    public double? DumpEnd { get; init; }
    public double? TransferEnd { get; init; }
    public double? RestoreEnd { get; init; }
    public double? Commit { get; init; }
    public double? Resume { get; init; }
    public double? RollBack { get; init; }

    /// <summary>After a lazy restore: when the last page reached the process.</summary>
    public double? LastPage { get; init; }
}

/// <summary>Which pre-copy ran, why it was chosen, and why it stopped.</summary>
public sealed record PrecopyReport(PrecopyMode Mode, string Reason, PrecopyStop? StopReason = null);

/// <summary>Where the frozen time went. The parts add up to <see cref="MigrationReport.FrozenMs"/>.</summary>
public sealed record FrozenBreakdown(
    double DumpMs, double DiffMs, double TransferMs, double RebuildMs, double RestoreMs, double VerifyMs, double ResumeMs);

/// <summary>What moved while the process was frozen.</summary>
/// <param name="BytesRead">What the source read after CRIU's dump: the image files it sent, and the pages it read to find what to send.</param>
/// <param name="BytesWritten">What the target wrote: the files and pages it received, and the pages images it rebuilt.</param>
public sealed record FinalReport(
    long PagesSent, long ZeroPages, long BytesRaw, long BytesOnWire, FrozenBreakdown Frozen, long BytesRead = 0, long BytesWritten = 0);

/// <summary>What happened to one process: printed for people, written as JSON for machines.</summary>
public sealed record MigrationReport
{
    public required MigrationOutcome Outcome { get; init; }
    public string? SessionId { get; init; }
    public required int Pid { get; init; }
    public string? Command { get; init; }
    public required string TargetAddress { get; init; }
    public HostSummary? Source { get; init; }
    public HostSummary? Target { get; init; }
    public long BytesRaw { get; init; }
    public long BytesOnWire { get; init; }

    /// <summary>
    /// From the freeze to the moment the source learnt that the target resumed
    /// the process: an upper bound on the downtime, by half a round trip.
    /// </summary>
    public double? FrozenMs { get; init; }

    public double TotalMs { get; init; }
    public required MigrationTimeline Timeline { get; init; }

    public PrecopyReport? Precopy { get; init; }

    /// <summary>The pre-copy rounds, in order.</summary>
    public IReadOnlyList<RoundStats> Rounds { get; init; } = [];

    public FinalReport? Final { get; init; }

    /// <summary>"lazy" (resumed before all memory was loaded) or "eager"; null if nothing was restored.</summary>
    public string? Restore { get; init; }

    /// <summary>Why the target restored eagerly although lazy was asked for.</summary>
    public string? RestoreNote { get; init; }

    /// <summary>The restored root task's PID, in the target's PID namespace.</summary>
    public int? RestoredPid { get; init; }

    /// <summary>Where the process is now, in words an operator can act on.</summary>
    public required string ProcessState { get; init; }

    public string? Error { get; init; }

    /// <summary>Failed on the way to the target (connect, stream reset) before the commit point: worth another try.</summary>
    [JsonIgnore]
    public bool TransientFailure { get; init; }

    /// <summary>Every check made, before the freeze, at it and on the target; a failed one says why the process did not move.</summary>
    public IReadOnlyList<CheckResult> Checks { get; init; } = [];

    public string ToJson() => ReportJson.Write(this, ReportJsonContext.Default.MigrationReport);

    private static readonly JsonSerializerOptions StrictReader = ReportJson.StrictReader(ReportJsonContext.Default);

    /// <summary>Reads a report as <see cref="ToJson"/> writes it.</summary>
    /// <exception cref="JsonException">It is not such a report: not JSON, a member missing, or null where the report has a value.</exception>
    public static MigrationReport FromJson(string json) => ReportJson.Read<MigrationReport>(json, StrictReader);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(MigrationReport))]
[JsonSerializable(typeof(List<MigrationReport>))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;
