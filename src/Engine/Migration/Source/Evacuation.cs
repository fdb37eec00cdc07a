using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Credentials;
using Migrate.Engine.Criu;
using Migrate.Engine.Protocol;
using Polly;
using Polly.Retry;

namespace Migrate.Engine.Migration.Source;

/// <summary>One process of an evacuation: where it goes, or why it cannot.</summary>
public sealed record EvacuationPlacement(int Pid, string? Command, TargetAddress? Target, string? Reason, IReadOnlyList<CheckResult> Checks);

/// <summary>A step of one process's migration in an evacuation, for a display of those in flight.</summary>
public readonly record struct EvacuationStep(int Pid, string? Command, TargetAddress Target, MigrationProgress Progress);

/// <summary>One row of the evacuation report.</summary>
public sealed record EvacuationRow
{
    public required int Pid { get; init; }
    public string? Command { get; init; }
    public string? Target { get; init; }

    /// <summary>migrated, refused, rolledBack or failed, as for one migration; planned (dry run) or skipped (interrupted before it began).</summary>
    public required string Outcome { get; init; }
    public double? FrozenMs { get; init; }
    public long BytesOnWire { get; init; }
    public string? SessionId { get; init; }
    public required string ProcessState { get; init; }
    public string? Error { get; init; }

    /// <summary>Tries it took; transient transport failures before the commit point are tried again.</summary>
    public int Attempts { get; init; }
}

public sealed record EvacuationReport
{
    /// <summary>evacuated (every process moved), partial (some did not) or planned (dry run).</summary>
    public required string Outcome { get; init; }
    public bool DryRun { get; init; }

    /// <summary>Ctrl-C stopped new migrations from starting.</summary>
    public bool Interrupted { get; init; }
    public required IReadOnlyList<EvacuationRow> Processes { get; init; }
    public double TotalMs { get; init; }

    public string ToJson() => ReportJson.Write(this, EvacuationJsonContext.Default.EvacuationReport);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(EvacuationReport))]
internal sealed partial class EvacuationJsonContext : JsonSerializerContext;

/// <summary>How an evacuation runs.</summary>
public sealed record EvacuationOptions
{
    public required IReadOnlyList<TargetAddress> Targets { get; init; }
    /// <summary>What every target shares: the token file's contents, and how to recognise them.</summary>
    public required TargetCredentials Credentials { get; init; }

    /// <summary>How the processes migrate; the PID is set for each.</summary>
    public required MigrationOptions Migration { get; init; }
    public int Parallel { get; init; } = 2;

    /// <summary>How often a migration that failed on the way to the target, before its commit point, is tried in all.</summary>
    public int MaxAttempts { get; init; } = 3;
}

/// <summary>
/// Moves a set of processes off this host: each is checked against every
/// target and placed on the passing one with the most free memory, then they
/// migrate a few at a time. One failure stops nothing else, and a process that
/// does not move keeps running here.
/// </summary>
public sealed partial class Evacuation(ICriu criu, EvacuationOptions options, TimeProvider time, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger<Evacuation>();

    /// <summary>Reports each process as it finishes.</summary>
    public IProgress<EvacuationRow>? Progress { get; init; }

    /// <summary>Reports each target that is down, and so skipped, before any process is checked.</summary>
    public IProgress<TargetHealth>? TargetDown { get; init; }

    /// <summary>Reports every step of the migrations in flight.</summary>
    public IProgress<EvacuationStep>? Steps { get; init; }

    /// <summary>
    /// Checks every process against every target, freezing nothing, and places
    /// it. Free memory as each target reports it is reduced by what is placed
    /// there, so processes spread.
    /// </summary>
    public async Task<IReadOnlyList<EvacuationPlacement>> PlanAsync(IReadOnlyList<int> pids, CancellationToken cancellationToken)
    {
        // One health check a target, all at once: a target that is down costs
        // seconds once, not a connect timeout for every process.
        var health = await Task.WhenAll(options.Targets.Select(async target =>
        {
            using var agent = new GrpcTargetAgent(target, options.Credentials, time);
            return await agent.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);
        foreach (var down in health.Where(h => !h.IsUp))
        {
            TargetDown?.Report(down);
        }
        var targets = health.Where(h => h.IsUp).Select(h => h.Target).ToList();
        var downReasons = health.Where(h => !h.IsUp).Select(h => $"{h.Target}: down: {h.Detail}").ToList();

        var checks = new ConcurrentDictionary<(int Pid, TargetAddress Target), MigrationReport>();
        using var gate = new SemaphoreSlim(options.Parallel);
        await Task.WhenAll(pids.SelectMany(pid => targets.Select(async target =>
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var agent = new GrpcTargetAgent(target, options.Credentials, time);
                checks[(pid, target)] = await Migration(agent, pid).CheckAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }))).ConfigureAwait(false);

        var free = targets.ToDictionary(
            target => target,
            target => pids.Select(pid => checks[(pid, target)].Target?.MemoryAvailableBytes ?? 0).DefaultIfEmpty().Max());
        var plan = new List<EvacuationPlacement>();
        foreach (var pid in pids)
        {
            var passing = targets.Where(target => checks[(pid, target)].Error is null).ToList();
            var any = targets.Count > 0 ? checks[(pid, targets[0])] : null;
            if (passing.Count == 0)
            {
                var reasons = targets.Select(target => $"{target}: {checks[(pid, target)].Error}").Concat(downReasons);
                plan.Add(new EvacuationPlacement(pid, any?.Command ?? ProcessTree.CommandOf(pid), null, string.Join("; ", reasons), any?.Checks ?? []));
                continue;
            }
            var chosen = passing.OrderByDescending(target => free[target]).First();
            free[chosen] -= Math.Min(free[chosen], ProcessTree.ResidentBytes(pid));
            plan.Add(new EvacuationPlacement(pid, checks[(pid, chosen)].Command, chosen, null, checks[(pid, chosen)].Checks));
        }
        return plan;
    }

    /// <summary>A report of the plan alone, for --dry-run.</summary>
    public EvacuationReport Describe(IReadOnlyList<EvacuationPlacement> plan, long started) => new()
    {
        Outcome = "planned",
        DryRun = true,
        Processes = plan.Select(p => p.Target is null
            ? Row(p, "refused", "running here, untouched: no target passes its checks", p.Reason, 0)
            : Row(p, "planned", "running here, untouched (dry run)", null, 0)).ToList(),
        TotalMs = time.GetElapsedTime(started).TotalMilliseconds,
    };

    /// <summary>
    /// Migrates the placed processes, <see cref="EvacuationOptions.Parallel"/>
    /// at a time. <paramref name="stopStarting"/> keeps new migrations from
    /// starting and lets those in flight finish; <paramref name="abortInFlight"/>
    /// rolls those back too (past their commit point they finish anyway).
    /// </summary>
    public async Task<EvacuationReport> RunAsync(
        IReadOnlyList<EvacuationPlacement> plan, long started, CancellationToken stopStarting, CancellationToken abortInFlight)
    {
        var rows = new ConcurrentDictionary<int, EvacuationRow>();
        foreach (var refused in plan.Where(p => p.Target is null))
        {
            rows[refused.Pid] = Report(Row(refused, "refused", "running here, untouched: no target passes its checks", refused.Reason, 0));
        }
        bool interrupted = false;
        try
        {
            await Parallel.ForEachAsync(
                plan.Where(p => p.Target is not null),
                new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = stopStarting },
                async (placement, _) => rows[placement.Pid] = Report(await MigrateAsync(placement, abortInFlight).ConfigureAwait(false)))
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopStarting.IsCancellationRequested)
        {
            interrupted = true;
        }
        foreach (var skipped in plan.Where(p => !rows.ContainsKey(p.Pid)))
        {
            rows[skipped.Pid] = Report(Row(skipped, "skipped", "running here, untouched: interrupted before its turn", null, 0));
        }
        var ordered = plan.Select(p => rows[p.Pid]).ToList();
        return new EvacuationReport
        {
            Outcome = ordered.All(row => row.Outcome == "migrated") ? "evacuated" : "partial",
            Interrupted = interrupted,
            Processes = ordered,
            TotalMs = time.GetElapsedTime(started).TotalMilliseconds,
        };
    }

    private async Task<EvacuationRow> MigrateAsync(EvacuationPlacement placement, CancellationToken abortInFlight)
    {
        int attempts = 0;
        // Only failures on the way to the target before the commit point are
        // retried: then the process still runs here, untouched or resumed.
        var retry = new ResiliencePipelineBuilder<MigrationReport>()
            .AddRetry(new RetryStrategyOptions<MigrationReport>
            {
                ShouldHandle = new PredicateBuilder<MigrationReport>().HandleResult(report => report.TransientFailure),
                MaxRetryAttempts = Math.Max(0, options.MaxAttempts - 1),
                BackoffType = DelayBackoffType.Exponential,
                Delay = TimeSpan.FromSeconds(1),
                UseJitter = true,
                OnRetry = arguments =>
                {
                    LogRetry(_logger, placement.Pid, arguments.Outcome.Result?.Error ?? "", arguments.RetryDelay.TotalSeconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        var report = await retry.ExecuteAsync(async token =>
        {
            attempts++;
            using var agent = new GrpcTargetAgent(placement.Target!, options.Credentials, time);
            var steps = Steps is { } report
                ? new SynchronousProgress<MigrationProgress>(step => report.Report(new EvacuationStep(placement.Pid, placement.Command, placement.Target!, step)))
                : null;
            return await Migration(agent, placement.Pid, steps).RunAsync(token).ConfigureAwait(false);
        }, abortInFlight).ConfigureAwait(false);
        return new EvacuationRow
        {
            Pid = placement.Pid,
            Command = report.Command ?? placement.Command,
            Target = placement.Target!.ToString(),
            Outcome = JsonNamingPolicy.CamelCase.ConvertName(report.Outcome.ToString()),
            FrozenMs = report.FrozenMs,
            BytesOnWire = report.BytesOnWire,
            SessionId = report.SessionId,
            ProcessState = report.ProcessState,
            Error = report.Error,
            Attempts = attempts,
        };
    }

    private SourceMigration Migration(ITargetAgent agent, int pid, IProgress<MigrationProgress>? progress = null) =>
        SourceMigration.OnThisHost(criu, agent, options.Migration with { Pid = pid }, time, loggers.CreateLogger<SourceMigration>(), progress);

    private EvacuationRow Report(EvacuationRow row)
    {
        Progress?.Report(row);
        return row;
    }

    private static EvacuationRow Row(EvacuationPlacement placement, string outcome, string state, string? error, int attempts) => new()
    {
        Pid = placement.Pid,
        Command = placement.Command,
        Target = placement.Target?.ToString(),
        Outcome = outcome,
        ProcessState = state,
        Error = error,
        Attempts = attempts,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration of {Pid} failed on the way ({Reason}); trying again in {Seconds:0.0} s")]
    private static partial void LogRetry(ILogger logger, int pid, string reason, double seconds);
}

/// <summary>Exit codes of an evacuation (README, "Exit codes").</summary>
public static class EvacuationOutcome
{
    /// <summary>0 when every process moved (or, in a dry run, has a target); 4 when some did not and all of those run here; 1 otherwise.</summary>
    public static int ExitCode(EvacuationReport report) =>
        report.Processes.All(row => row.Outcome is "migrated" or "planned") ? 0
        : report.Processes.Any(row => row.Outcome == "failed") ? 1
        : report.DryRun ? 3
        : 4;

    public static string Summary(EvacuationRow row)
    {
        var frozen = row.FrozenMs is { } ms ? FormattableString.Invariant($", frozen {ms:0} ms") : "";
        var error = row.Error is { } text ? $": {text}" : "";
        var tries = row.Attempts > 1 ? FormattableString.Invariant($" (after {row.Attempts} tries)") : "";
        return FormattableString.Invariant($"{row.Pid} ({row.Command}) -> {row.Target ?? "nowhere"}: {row.Outcome}{frozen}{error}{tries}");
    }
}
