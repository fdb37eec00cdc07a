using Migrate.Engine.Compat;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>When the commit's steps happened, on the migration's clock; null for steps not reached.</summary>
public sealed record CommitTimes(double? Commit, double? Resume, double? LastPage, double? RollBack);

/// <summary>How the migration ended once the tree was frozen and restored: where the process is, and why.</summary>
public sealed record CommitOutcome(
    Frozen Frozen,
    MigrationOutcome Outcome,
    string ProcessState,
    Exception? Cause,
    string? Error,
    CommitTimes Times,
    CommitResult? Committed,
    IReadOnlyList<CheckResult> Checks);

/// <summary>
/// The last phase. Killing the stopped source copy is the commit point: from
/// then on the target's copy is the only one, so nothing may be cancelled or
/// rolled back, and every failure is reported with where the process is and
/// the session ID that settles it by hand.
/// </summary>
public sealed class CommitPhase(SourceServices services, MigrationOptions options)
{
    private const string NetworkLockCheck = "network-lock";
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    public async Task<CommitOutcome> RunAsync(Frozen frozen)
    {
        services.Report(MigrationStage.Committing);
        var session = frozen.Precopy.Preflight.SessionId;
        IReadOnlyList<int> dumped;
        try
        {
            dumped = services.Host.DumpedPids(frozen.Images);
            SourceLog.DumpedTasks(services.Logger, session, options.Pid, dumped.Count);
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            return await RollBackAsync(frozen, e).ConfigureAwait(false);
        }

        IStoppedTasks stopped;
        try
        {
            stopped = services.Host.Pin(dumped);
            SourceLog.Pinned(services.Logger, session, dumped.Count);
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            return InDoubt(frozen, e);
        }
        using (stopped)
        {
            try
            {
                stopped.SendKill();
            }
            catch (Exception e) when (SourceFailures.WhileFrozen(e))
            {
                return InDoubt(frozen, e);
            }
            double commitAt = services.Clock.Now();
            SourceLog.CommitPoint(services.Logger, options.Pid, session);
            var outcome = await ResumeOnTargetAsync(frozen, commitAt).ConfigureAwait(false);
            try
            {
                // Only now: the target resumed its copy without waiting for the kernel to free this one's memory.
                stopped.WaitGone(KillTimeout);
            }
            catch (IOException e)
            {
                // SIGKILL reached every task; one that lingers cannot run again.
                SourceLog.SlowKill(services.Logger, e.Message);
            }
            return outcome;
        }
    }

    private CommitOutcome InDoubt(Frozen frozen, Exception cause)
    {
        var session = frozen.Precopy.Preflight.SessionId;
        var address = services.Target.Address;
        return Failed(frozen, cause, new CommitTimes(null, null, null, null),
            $"in doubt: the source copy (PID {options.Pid}) is stopped or partly killed, and the target's copy waits stopped for session {session}. " +
            $"If any task of the source tree is left (ps -p {options.Pid}), kill it, then resume the target's copy with: " +
            $"migrate commit --to {address} --session {session}");
    }

    /// <summary>After the commit point: the connections, the target's resume, the last pages.</summary>
    private async Task<CommitOutcome> ResumeOnTargetAsync(Frozen frozen, double commitAt)
    {
        var session = frozen.Precopy.Preflight.SessionId;
        var address = services.Target.Address;
        var clock = services.Clock;

        var checks = new List<CheckResult>();
        if (options.TcpEstablished)
        {
            try
            {
                await services.Host.QuarantineConnectionsAsync(frozen.Images, CancellationToken.None).ConfigureAwait(false);
                SourceLog.Quarantined(services.Logger, session);
            }
            catch (Exception e) when (SourceFailures.WhileFrozen(e))
            {
                checks.Add(NetworkLockStays(e, "delete it once the service address has moved"));
            }
        }

        CommitResult committed;
        SourceLog.Committing(services.Logger, session, address);
        try
        {
            committed = await services.Target.CommitAsync(session, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            SourceLog.CommitLost(services.Logger, session, e.Message);
            return Failed(frozen, e, new CommitTimes(commitAt, null, null, null),
                $"stopped on the target {address}, waiting for the commit of session {session}; " +
                $"the source copy is gone. Resume it with: migrate commit --to {address} --session {session}", checks);
        }
        double resumeAt = clock.Now();
        services.Report(MigrationStage.Resumed);
        SourceLog.Resumed(services.Logger, session, committed.RootPid, resumeAt - commitAt);

        var running = $"running on the target {address} as PID {committed.RootPid} in its namespace";
        bool lazy = frozen.Restored.LazyPages && committed.RestoredAgain is null;
        if (!lazy)
        {
            return new CommitOutcome(frozen, MigrationOutcome.Migrated, running, null, null,
                new CommitTimes(commitAt, resumeAt, null, null), committed, checks);
        }
        var pages = await AwaitPagesAsync(session).ConfigureAwait(false);
        SourceLog.PagesArrived(services.Logger, session, pages.Complete ? "copied every page" : $"stopped short: {pages.Error}", pages.LastPageAfterResumeMs);
        double? lastPage = pages.Complete ? resumeAt + Math.Max(0, pages.LastPageAfterResumeMs) : null;
        var times = new CommitTimes(commitAt, resumeAt, lastPage, null);
        return pages.Complete
            ? new CommitOutcome(frozen, MigrationOutcome.Migrated, running, null, null, times, committed, checks)
            : new CommitOutcome(frozen, MigrationOutcome.Failed,
                running + ", but its lazy-pages daemon failed after the resume, before every page arrived: pages not yet copied " +
                $"read as zeros, so its memory may be corrupt; the target keeps the images of session {session} to restore it again",
                null, pages.Error, times, committed, checks);
    }

    private async Task<PagesArrival> AwaitPagesAsync(string session)
    {
        try
        {
            return await services.Target.AwaitPagesAsync(session, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (SourceFailures.WhileFrozen(e))
        {
            return new PagesArrival(false, 0, e.Message);
        }
    }

    /// <summary>
    /// Before the commit point, after CRIU left the tree stopped: nothing is
    /// killed yet, so the source copy is resumed, its network unlocked, and the
    /// target's copy dropped.
    /// </summary>
    private async Task<CommitOutcome> RollBackAsync(Frozen frozen, Exception cause)
    {
        var preflight = frozen.Precopy.Preflight;
        SourceLog.RollingBack(services.Logger, options.Pid, cause.Message);
        var pids = preflight.Tree.Pids.Union(Rediscover()).ToList();
        using (var tasks = services.Host.Pin(pids))
        {
            tasks.ResumeStopped(preflight.Tree.Stopped);
        }
        SourceLog.ResumedHere(services.Logger, preflight.SessionId, options.Pid, pids.Count);
        var checks = new List<CheckResult>();
        if (options.TcpEstablished)
        {
            try
            {
                await services.Host.UnlockConnectionsAsync(frozen.Images, CancellationToken.None).ConfigureAwait(false);
                SourceLog.Unlocked(services.Logger, preflight.SessionId);
            }
            catch (Exception e) when (SourceFailures.WhileFrozen(e))
            {
                // The process runs here again, but the lock still drops its connections' packets: the report must say so.
                SourceLog.NetworkLockStays(services.Logger, e.Message);
                checks.Add(NetworkLockStays(e, "the process's connections stay blocked until it is deleted"));
            }
        }
        double rolledBackAt = services.Clock.Now();
        await FreezePhase.AbortTargetAsync(services, preflight.SessionId, cause.Message).ConfigureAwait(false);
        var state = services.Host.State(options.Pid);
        var times = new CommitTimes(null, null, null, rolledBackAt);
        return state.IsRunning()
            ? new CommitOutcome(frozen, MigrationOutcome.RolledBack, $"running on the source as PID {options.Pid}", cause, cause.Message, times, null, checks)
            : Failed(frozen, cause, times, $"not running on the source after the roll-back (state {state?.ToString() ?? "gone"}); " +
                $"the target's copy of session {preflight.SessionId} was aborted", checks);
    }

    private static CheckResult NetworkLockStays(Exception cause, string why) =>
        Checks.Warn(NetworkLockCheck, $"CRIU's network-lock table stays on this host: {cause.Message}",
            $"{why}: nft list tables, then nft delete table inet CRIU-...");

    private IReadOnlyList<int> Rediscover()
    {
        try
        {
            return services.Host.Discover(options.Pid).Pids;
        }
        catch (MigrationRefusedException)
        {
            return [];
        }
    }

    private static CommitOutcome Failed(
        Frozen frozen, Exception cause, CommitTimes times, string processState, IReadOnlyList<CheckResult>? checks = null) =>
        new(frozen, MigrationOutcome.Failed, processState, cause, cause.Message, times, null, checks ?? []);
}
