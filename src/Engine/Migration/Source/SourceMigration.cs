using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>
/// Migrates one process tree to one target, phase after phase: pre-flight,
/// pre-copy, freeze, commit. Each phase takes the previous one's result and
/// returns its own; this class only chains them, settles the target after a
/// refusal, cleans the work directory and turns the last result into the report.
/// </summary>
public sealed class SourceMigration(SourceServices services, MigrationOptions options)
{
    private const string NeverFrozen = "running on the source, never frozen";
    private const string ChecksOnly = "running on the source, untouched (checks only)";

    /// <summary>A migration of this host's process <see cref="MigrationOptions.Pid"/> to <paramref name="target"/>.</summary>
    public static SourceMigration OnThisHost(
        ICriu criu, ITargetAgent target, MigrationOptions options, TimeProvider time, ILogger logger, IProgress<MigrationProgress>? progress = null) =>
        new(new SourceServices(criu, target, new LinuxSourceHost(criu, logger), new MigrationClock(time), logger, progress), options);

    public async Task<MigrationReport> RunAsync(CancellationToken cancellationToken)
    {
        var report = new SourceReport(services, options);
        var preflight = await new PreflightPhase(services, options).RunAsync(cancellationToken).ConfigureAwait(false);
        Preflighted passed;
        switch (preflight)
        {
            case Preflighted ok:
                passed = ok;
                break;
            case PreflightRefusal refusal:
                return await RefusedAsync(report, refusal, NeverFrozen).ConfigureAwait(false);
            default:
                throw new UnreachableException($"Unknown pre-flight outcome {preflight.GetType().Name}.");
        }
        var precopy = await new PrecopyPhase(services, options).RunAsync(passed, cancellationToken).ConfigureAwait(false);
        Precopied precopied;
        switch (precopy)
        {
            case Precopied ok:
                precopied = ok;
                break;
            case PrecopyRefusal refused:
                var reason = SourceFailures.Describe(refused.Cause);
                SourceLog.Refused(services.Logger, options.Pid, reason);
                await FreezePhase.AbortTargetAsync(services, passed.SessionId, reason).ConfigureAwait(false);
                SourceWorkDirectory.CleanUp(options.WorkDirectory, passed.SessionId, migrated: false, options.KeepImages);
                return report.Refused(refused, NeverFrozen);
            default:
                throw new UnreachableException($"Unknown pre-copy outcome {precopy.GetType().Name}.");
        }
        MigrationReport result;
        try
        {
            result = await new FreezePhase(services, options).RunAsync(precopied, cancellationToken).ConfigureAwait(false) switch
            {
                Frozen frozen => report.Ended(await new CommitPhase(services, options).RunAsync(frozen).ConfigureAwait(false)),
                FreezeRolledBack rolledBack => report.RolledBack(rolledBack),
                var other => throw new UnreachableException($"Unknown freeze outcome {other.GetType().Name}."),
            };
        }
        finally
        {
            (precopied.Tracker as IDisposable)?.Dispose();
        }
        SourceWorkDirectory.CleanUp(options.WorkDirectory, passed.SessionId, result.Outcome == MigrationOutcome.Migrated, options.KeepImages);
        return result;
    }

    /// <summary>Runs the pre-flight checks only (migrate check); freezes nothing and closes the session.</summary>
    public async Task<MigrationReport> CheckAsync(CancellationToken cancellationToken)
    {
        var report = new SourceReport(services, options);
        var preflight = await new PreflightPhase(services, options).RunAsync(cancellationToken).ConfigureAwait(false);
        switch (preflight)
        {
            case Preflighted passed:
                await FreezePhase.AbortTargetAsync(services, passed.SessionId, "checks only").ConfigureAwait(false);
                return report.Checked(passed, ChecksOnly);
            case PreflightRefusal refusal:
                if (refusal.SessionId is { } session)
                {
                    await FreezePhase.AbortTargetAsync(services, session, "checks only").ConfigureAwait(false);
                }
                return report.Refused(refusal, ChecksOnly);
            default:
                throw new UnreachableException($"Unknown pre-flight outcome {preflight.GetType().Name}.");
        }
    }

    private async Task<MigrationReport> RefusedAsync(SourceReport report, PreflightRefusal refusal, string processState)
    {
        var reason = SourceFailures.Describe(refusal.Cause);
        SourceLog.Refused(services.Logger, options.Pid, reason);
        if (refusal.SessionId is { } session)
        {
            await FreezePhase.AbortTargetAsync(services, session, reason).ConfigureAwait(false);
        }
        return report.Refused(refusal, processState);
    }
}
