using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration.Source;

/// <summary>How pre-copy ended: <see cref="Precopied"/> or <see cref="PrecopyRefusal"/>.</summary>
public abstract record PrecopyOutcome;

/// <summary>Pre-copy is done: the rounds that ran, and the tracker that knows what the target holds.</summary>
public sealed record Precopied(Preflighted Preflight, IMemoryTracker Tracker, PrecopyReport Report, IReadOnlyList<RoundStats> Rounds)
    : PrecopyOutcome;

/// <summary>Pre-copy stopped the migration before anything was frozen.</summary>
public sealed record PrecopyRefusal(Preflighted Preflight, PrecopyReport? Report, IReadOnlyList<RoundStats> Rounds, Exception Cause)
    : PrecopyOutcome;

/// <summary>
/// The second phase: copies memory while the process runs, round after round,
/// until the convergence policy says stop.
/// </summary>
public sealed class PrecopyPhase(SourceServices services, MigrationOptions options)
{
    public async Task<PrecopyOutcome> RunAsync(Preflighted preflight, CancellationToken cancellationToken)
    {
        var rounds = new List<RoundStats>();
        PrecopyReport? report = null;
        try
        {
            var (mode, reason) = ChooseMode(options.Precopy, preflight.SourceFacts.CriuFeatures);
            report = new PrecopyReport(mode, reason);
            SourceLog.PrecopyModeChosen(services.Logger, options.Pid, mode, reason);
            var sessionDirectory = SourceWorkDirectory.Session(options.WorkDirectory, preflight.SessionId);
            var tracker = services.Host.CreateTracker(mode, options.Pid, sessionDirectory);
            if (mode == PrecopyMode.Off)
            {
                return new Precopied(preflight, tracker, report with { StopReason = PrecopyStop.Off }, rounds);
            }
            var target = new SessionPrecopyTarget(services.Target, preflight.SessionId);
            var policy = new ConvergencePolicy(options.MaxRounds, options.DowntimeTarget);
            PrecopyStop? stop = null;
            for (int round = 1; stop is null; round++)
            {
                services.Report(MigrationStage.Precopy);
                var stats = await tracker.CopyRoundAsync(round, target, services.Rounds(), cancellationToken)
                    .ConfigureAwait(false);
                rounds.Add(stats);
                services.Progress?.Report(new MigrationProgress(MigrationStage.Precopy, Round: stats));
                stop = policy.Decide(rounds);
                SourceLog.Round(services.Logger, round, stats.DirtyPages, stats.DurationMs, stop);
            }
            report = report with { StopReason = stop };
            if (stop == PrecopyStop.NotConverging && options.RequireConvergence)
            {
                var last = rounds[^1];
                throw new MigrationRefusedException(
                    $"pre-copy did not converge: round {last.Round} still found {last.DirtyPages} dirty pages, " +
                    $"less than {ConvergencePolicy.MinimumShrink:P0} fewer than the round before (--require-convergence)");
            }
            return new Precopied(preflight, tracker, report, rounds);
        }
        catch (Exception e) when (SourceFailures.BeforeFreeze(e))
        {
            return new PrecopyRefusal(preflight, report, rounds, e);
        }
    }

    /// <summary>The mode the operator asked for, or the best this kernel supports, and why.</summary>
    public static (PrecopyMode Mode, string Reason) ChooseMode(PrecopyChoice choice, Criu.CriuFeatureSet features) => choice switch
    {
        PrecopyChoice.Off => (PrecopyMode.Off, "--precopy off"),
        PrecopyChoice.ContentHash => (PrecopyMode.ContentHash, "--precopy content-hash"),
        PrecopyChoice.SoftDirty when features.MemoryTracking => (PrecopyMode.SoftDirty, "--precopy soft-dirty"),
        PrecopyChoice.WriteProtect when features.WriteTracking => (PrecopyMode.WriteProtect, "--precopy write-protect"),
        PrecopyChoice.WriteProtect => throw new MigrationRefusedException(
            "write-protect tracking is not available here: it needs Linux 6.7 or newer (asynchronous userfaultfd write-protect and PAGEMAP_SCAN) " +
            "and CRIU with the project's --track-mem-wp patch (scripts/setup.sh builds it); use --precopy content-hash or auto"),
        PrecopyChoice.SoftDirty => throw new MigrationRefusedException(
            "soft-dirty memory tracking is not available here (the kernel lacks CONFIG_MEM_SOFT_DIRTY, says CRIU's feature check); " +
            "use --precopy content-hash or auto"),
        _ when features.MemoryTracking => (PrecopyMode.SoftDirty, "auto: CRIU reports soft-dirty memory tracking"),
        _ when features.WriteTracking => (PrecopyMode.WriteProtect,
            "auto: no soft-dirty on this kernel; userfaultfd write-protect tracks the written pages exactly and CRIU dumps only those (--track-mem-wp)"),
        _ => (PrecopyMode.ContentHash,
            "auto: neither soft-dirty nor userfaultfd write-protect tracking on this kernel, so pages are compared by content hash"),
    };
}
