using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

using Migrate.Engine.Linux;

namespace Migrate.Engine.Migration.Source;

/// <summary>When the steps of the last freeze ended, on the migration's clock.</summary>
public sealed record FreezeTimes(double FreezeStart, double? DumpEnd, double? TransferEnd, double? RestoreEnd);

/// <summary>What moved while the process was frozen, and how long each part took.</summary>
/// <param name="ImagePages">Pages inside the pages images that travelled as files (no pre-copy, or soft-dirty).</param>
public sealed record FinalTransfer(FinalPages Pages, TransferStats Images, long ImagePages, double DiffMs, double TransferMs);

/// <summary>How the freeze ended: <see cref="Frozen"/> or <see cref="FreezeRolledBack"/>.</summary>
public abstract record FreezeOutcome;

/// <summary>
/// The tree is dumped and stopped here, and restored and stopped on the target:
/// everything is ready for the commit point.
/// </summary>
/// <param name="RestoreCallMs">The Restore call as the source timed it, network and CRIU included.</param>
public sealed record Frozen(
    Precopied Precopy, string Images, FinalTransfer Transfer, RestoreResult Restored, double RestoreCallMs,
    IReadOnlyList<CheckResult> Checks, FreezeTimes Times) : FreezeOutcome;

/// <summary>The freeze failed and the process was resumed here (or not: <see cref="SourceRunning"/> says).</summary>
public sealed record FreezeRolledBack(
    Precopied Precopy, IReadOnlyList<CheckResult> Checks, FreezeTimes? Times, FinalTransfer? Transfer, double RolledBackAt,
    bool SourceRunning, char? SourceState, Exception Cause) : FreezeOutcome;

/// <summary>
/// The third phase: the final dump. From CRIU's post-dump notification, while
/// CRIU still holds the tasks frozen, the rest of the memory and the images go
/// to the target, which restores them stopped. Any failure answers CRIU "no",
/// and CRIU resumes the process. A freeze that caught a thread where the
/// restore would hurt it is tried again, a little later each time.
/// </summary>
public sealed class FreezePhase(SourceServices services, MigrationOptions options)
{
    public const string FinalSet = "final";
    private const string FreezeCheck = "freeze";
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(15);

    public async Task<FreezeOutcome> RunAsync(Precopied precopy, CancellationToken cancellationToken)
    {
        var preflight = precopy.Preflight;
        var images = SourceWorkDirectory.Images(options.WorkDirectory, preflight.SessionId, FinalSet);
        bool hasUprobes = preflight.UprobeSites.Count > 0 || services.Host.HasUprobesArea(preflight.Tree.Pids);
        bool checksHazards = hasUprobes || preflight.ProxifiedVdso is not null;
        var retries = new List<FreezeHazard>();
        for (int attempt = 1; ; attempt++)
        {
            var result = await FreezeOnceAsync(precopy, images, hasUprobes, checksHazards, cancellationToken).ConfigureAwait(false);
            switch (result)
            {
                case AttemptMoved moved:
                    var freezeCheck = retries.Count > 0
                        ? Checks.Warn(FreezeCheck, $"frozen {attempt} times: {Describe(retries)}")
                        : checksHazards ? Checks.Pass(FreezeCheck, "no thread stood in a pending return probe or in the vDSO bytes CRIU's proxy overwrites") : null;
                    IReadOnlyList<CheckResult> checks = freezeCheck is null ? moved.Restored.Checks : [.. moved.Restored.Checks, freezeCheck];
                    return new Frozen(precopy, images, moved.Transfer, moved.Restored, moved.RestoreCallMs, checks, moved.Times);
                case AttemptFailed failed:
                    return await RollBackAsync(precopy, failed.Checks, failed.Times, failed.Transfer, failed.Cause).ConfigureAwait(false);
                case AttemptHazards hazards when attempt == options.MaxFreezeAttempts:
                    var last = hazards.Found[0];
                    var refused = Checks.Fail(last.Check, $"still after {attempt} freezes: {Describe(hazards.Found)}",
                        "migrate again later, when the process is not inside the probed function or the vDSO");
                    return await RollBackAsync(precopy, [refused], hazards.Times, null,
                        new MigrationRefusedException($"the {last.Check} check failed after {attempt} freezes: {last.Detail}")).ConfigureAwait(false);
                case AttemptHazards hazards:
                    retries.AddRange(hazards.Found);
                    SourceLog.FreezeAgain(services.Logger, options.Pid, hazards.Found[0].Detail);
                    // CRIU resumed the process; let it leave the dangerous spot, a little longer each time.
                    await Task.Delay(TimeSpan.FromMilliseconds(50 << Math.Min(attempt - 1, 5)), services.Clock.Time, CancellationToken.None)
                        .ConfigureAwait(false);
                    break;
            }
        }
    }

    private abstract record Attempt;

    private sealed record AttemptMoved(FinalTransfer Transfer, RestoreResult Restored, double RestoreCallMs, FreezeTimes Times) : Attempt;

    private sealed record AttemptHazards(IReadOnlyList<FreezeHazard> Found, FreezeTimes Times) : Attempt;

    private sealed record AttemptFailed(IReadOnlyList<CheckResult> Checks, FreezeTimes Times, FinalTransfer? Transfer, Exception Cause) : Attempt;

    private async Task<Attempt> FreezeOnceAsync(Precopied precopy, string images, bool hasUprobes, bool checksHazards, CancellationToken cancellationToken)
    {
        var preflight = precopy.Preflight;
        var sessionDirectory = SourceWorkDirectory.Session(options.WorkDirectory, preflight.SessionId);
        if (Directory.Exists(images))
        {
            Directory.Delete(images, recursive: true);
        }
        Directory.CreateDirectory(images);

        ImageParsers.WarmUp();
        services.Report(MigrationStage.Dumping);
        var clock = services.Clock;
        double freezeStart = clock.Now();
        var dump = FrozenDump.Start(services.Criu, precopy.Tracker.FinalDump(new CriuDump
        {
            Pid = options.Pid,
            ImagesDirectory = images,
            WorkDirectory = sessionDirectory,
            ShellJob = options.ShellJob,
            TcpEstablished = options.TcpEstablished,
            TcpClose = options.TcpClose,
            SkipInFlight = options.SkipInFlight,
            FileLocks = options.FileLocks,
            LinkRemap = options.LinkRemap,
            ExternalUnixSockets = options.ExternalUnixSockets,
            GhostLimit = options.GhostLimit,
            AllowUprobes = hasUprobes,
        }), clock.Time, cancellationToken);
        double dumpEnd;
        try
        {
            dumpEnd = clock.At(await dump.WaitDumpedAsync().ConfigureAwait(false));
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            // CRIU failed before the tree was dumped, and has resumed it.
            return new AttemptFailed([], new FreezeTimes(Started(dump, freezeStart), null, null, null), null, e);
        }
        freezeStart = Started(dump, freezeStart);
        SourceLog.Dumped(services.Logger, options.Pid, dumpEnd - freezeStart);

        var hazards = checksHazards ? services.Host.FindFreezeHazards(images, preflight.ProxifiedVdso) : [];
        if (hazards.Count > 0)
        {
            await dump.ResumeAsync().ConfigureAwait(false);
            return new AttemptHazards(hazards, new FreezeTimes(freezeStart, dumpEnd, null, null));
        }

        FinalTransfer? transfer = null;
        double? transferEnd = null;
        try
        {
            transfer = await TransferAsync(precopy, images, cancellationToken).ConfigureAwait(false);
            transferEnd = clock.Now();
            services.Report(MigrationStage.Restoring);
            var restoreStart = clock.Timestamp();
            var restored = await services.Target.RestoreAsync(preflight.SessionId, Order(preflight, transfer.Pages, hasUprobes), options.RestoreTimeout,
                cancellationToken).ConfigureAwait(false);
            double restoreCallMs = clock.Since(restoreStart);
            var times = new FreezeTimes(freezeStart, dumpEnd, transferEnd, clock.Now());
            SourceLog.Restored(services.Logger, options.Pid, restoreCallMs);
            await dump.KeepStoppedAsync().ConfigureAwait(false);
            return new AttemptMoved(transfer, restored, restoreCallMs, times);
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            services.Report(MigrationStage.RollingBack);
            SourceLog.RollingBack(services.Logger, options.Pid, SourceFailures.Describe(e));
            await dump.ResumeAsync().ConfigureAwait(false);
            IReadOnlyList<CheckResult> refusedBy = e is TargetException { FailedCheck: { } check } ? [check] : [];
            return new AttemptFailed(refusedBy, new FreezeTimes(freezeStart, dumpEnd, transferEnd, null), transfer, e);
        }
    }

    /// <summary>The pages the target lacks, then the other image files.</summary>
    private async Task<FinalTransfer> TransferAsync(Precopied precopy, string images, CancellationToken cancellationToken)
    {
        var clock = services.Clock;
        var target = new SessionPrecopyTarget(services.Target, precopy.Preflight.SessionId);
        var started = clock.Timestamp();
        var pages = await precopy.Tracker.SendFinalPagesAsync(images, target, services.Bytes(MigrationStage.Transferring, 0), cancellationToken)
            .ConfigureAwait(false);
        double diffMs = clock.Since(started);

        started = clock.Timestamp();
        var files = new DirectoryInfo(images).EnumerateFiles().Where(f => !pages.RebuiltFiles.Contains(f.Name)).ToList();
        long imagePages = files.Where(f => f.Name.StartsWith("pages-", StringComparison.Ordinal)).Sum(f => f.Length) / PageSize.Bytes;
        var sent = await target.SendImagesAsync(new ImageSetUpload(FinalSet, pages.ParentSet, images, pages.RebuiltFiles),
            services.Bytes(MigrationStage.Transferring, files.Sum(f => f.Length)), cancellationToken).ConfigureAwait(false);
        return new FinalTransfer(pages, sent, imagePages, diffMs, clock.Since(started));
    }

    private RestoreOrder Order(Preflighted preflight, FinalPages pages, bool hasUprobes) => new(
        FinalSet,
        new RestoreOptions(options.ShellJob, options.TcpEstablished, options.FileLocks, options.LinkRemap, options.LazyRestore, hasUprobes, options.TcpClose,
            options.ExternalUnixSockets),
        pages.Rebuild,
        options.Uprobes.Mode == UprobeMode.Strip ? preflight.UprobeSites : []);

    /// <summary>
    /// After a failed freeze: CRIU resumed the tasks when it rolled back; a task
    /// left stopped (CRIU itself failed) is resumed here, so none stays frozen.
    /// Then the target drops its copy.
    /// </summary>
    private async Task<FreezeRolledBack> RollBackAsync(
        Precopied precopy, IReadOnlyList<CheckResult> checks, FreezeTimes? times, FinalTransfer? transfer, Exception cause)
    {
        var preflight = precopy.Preflight;
        using (var tasks = services.Host.Pin(preflight.Tree.Pids))
        {
            tasks.ResumeStopped(preflight.Tree.Stopped);
        }
        double rolledBackAt = services.Clock.Now();
        await AbortTargetAsync(services, preflight.SessionId, SourceFailures.Describe(cause)).ConfigureAwait(false);
        var state = services.Host.State(options.Pid);
        return new FreezeRolledBack(precopy, checks, times, transfer, rolledBackAt, state.IsRunning(), state, cause);
    }

    /// <summary>Tells the target to drop the session; a target that cannot be told drops idle sessions itself.</summary>
    internal static async Task AbortTargetAsync(SourceServices services, string sessionId, string reason)
    {
        using var timeout = new CancellationTokenSource(AbortTimeout, services.Clock.Time);
        try
        {
            await services.Target.AbortAsync(sessionId, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TargetException or OperationCanceledException)
        {
            SourceLog.AbortNotDelivered(services.Logger, sessionId, e.Message);
        }
    }

    private double Started(FrozenDump dump, double fallback) => dump.FreezeTimestamp is { } at ? services.Clock.At(at) : fallback;

    private static string Describe(IEnumerable<FreezeHazard> hazards) => string.Join("; ", hazards.Select(h => $"{h.Check}: {h.Detail}"));
}
