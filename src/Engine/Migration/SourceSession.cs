using Grpc.Core;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Memory;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Engine.Migration;

/// <summary>What the operator asked for.</summary>
public sealed record MigrationOptions
{
    public required int Pid { get; init; }
    public required string WorkDirectory { get; init; }
    public bool ShellJob { get; init; }
    public bool TcpEstablished { get; init; }
    public bool KeepImages { get; init; }
    public PrecopyChoice Precopy { get; init; } = PrecopyChoice.Auto;
    public int MaxRounds { get; init; } = 8;
    public TimeSpan DowntimeTarget { get; init; } = TimeSpan.FromMilliseconds(300);
    public bool RequireConvergence { get; init; }
    public bool LazyRestore { get; init; } = true;
    public UprobePolicy Uprobes { get; init; } = UprobePolicy.Refuse;

    /// <summary>Pre-flight checks whose failure only warns (--ignore-check).</summary>
    public IReadOnlySet<string> IgnoredChecks { get; init; } = new HashSet<string>();

    /// <summary>How many times a freeze that caught a thread in a dangerous spot is tried.</summary>
    public int MaxFreezeAttempts { get; init; } = 6;
    public int ChunkBytes { get; init; } = 1 << 20;
    public TimeSpan RestoreTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

public enum PrecopyChoice
{
    Auto,
    SoftDirty,
    ContentHash,
    Off,
}

public enum MigrationStage
{
    Preflight,
    Precopy,
    Dumping,
    Transferring,
    Restoring,
    Committing,
    Resumed,
    RollingBack,
}

/// <summary>A step of the migration, for a progress display: <paramref name="Round"/> when a pre-copy round ends, <paramref name="Scan"/> while it runs.</summary>
public readonly record struct MigrationProgress(
    MigrationStage Stage, long BytesDone = 0, long BytesTotal = 0, RoundStats? Round = null, RoundProgress? Scan = null);

/// <summary>
/// Migrates one process tree to one target. Pre-copy rounds move memory while
/// the process runs. Then the final dump freezes it, and from CRIU's
/// post-dump notification, while CRIU still holds the tasks frozen, the rest
/// is sent and restored on the target, stopped. If any of that fails, the
/// notification is answered "no" and CRIU rolls back by itself: it unlocks
/// the network, takes sockets out of repair mode and resumes the tasks
/// (criu/cr-dump.c, cr_dump_finish). If it succeeds, CRIU leaves the tasks
/// stopped, the source kills them (the commit point) and tells the target to
/// resume. Should this process die in between, CRIU sees its socket close and
/// rolls back the same way.
/// </summary>
public sealed partial class SourceSession(
    CriuClient criu, TargetClient target, MigrationOptions options, TimeProvider time, ILogger logger)
{
    private const string FinalSet = "final";
    private const string FreezeCheck = "freeze";

    /// <summary>The trailer in which the target names the check that refused a restore.</summary>
    public const string CheckTrailer = "migrate-check-bin";
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(15);

    private readonly long _started = time.GetTimestamp();
    private readonly MigrationTimeline _timeline = new();
    private readonly RunContext _context = new();

    public IProgress<MigrationProgress>? Progress { get; init; }

    public async Task<MigrationReport> RunAsync(CancellationToken cancellationToken)
    {
        IMemoryTracker tracker;
        try
        {
            await PreflightAsync(cancellationToken).ConfigureAwait(false);
            tracker = ChooseTracker();
            await PrecopyAsync(tracker, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MigrationRefusedException or RpcException or CriuException or CriuNotFoundException
                                      or OperationCanceledException or IOException or InvalidDataException or TransferRejectedException)
        {
            LogRefused(logger, options.Pid, e.Message);
            await AbortTargetAsync(e.Message).ConfigureAwait(false);
            return Report(MigrationOutcome.Refused, "running on the source, never frozen", target.Explain(e), e);
        }
        try
        {
            return await FreezeAndMoveAsync(tracker, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CleanUp();
        }
    }

    private string SessionDirectory => Path.Combine(options.WorkDirectory, _context.SessionId!);

    private async Task PreflightAsync(CancellationToken cancellationToken)
    {
        Progress?.Report(new MigrationProgress(MigrationStage.Preflight));
        _context.Tree = ProcessTree.Discover(options.Pid);
        // Before three CRIU runs and a handshake with its 10 s connect timeout.
        await target.RequireUpAsync(cancellationToken).ConfigureAwait(false);
        var sourceFacts = await HostFactsProbe.CollectAsync(criu, cancellationToken).ConfigureAwait(false);
        _context.SourceFacts = sourceFacts;
        _context.Source = HostSummary.From(sourceFacts);
        var handshake = await target.HandshakeAsync(sourceFacts, cancellationToken).ConfigureAwait(false);
        _context.SessionId = handshake.SessionId;
        _context.Target = HostSummary.From(handshake.Target);
        if (ProtocolVersions.Refusal("source", "target", handshake.ProtocolVersion, handshake.Target.MigrateVersion) is { } refusal)
        {
            throw new MigrationRefusedException(refusal);
        }
        _context.Preflight = await SourcePreflight.RunAsync(
            _context.Tree, sourceFacts, handshake.Target, target, handshake.SessionId, options.Uprobes, options.IgnoredChecks, cancellationToken)
            .ConfigureAwait(false);
        _context.Checks.AddRange(_context.Preflight.Checks);
        if (_context.Preflight.FirstFailure is { } failure)
        {
            throw new MigrationRefusedException($"the {failure.Name} check failed: {failure.Detail}. {failure.Remedy}");
        }
        _timeline.PreflightEnd = Now();
    }

    /// <summary>Runs the pre-flight checks only (migrate check); freezes nothing and closes the session.</summary>
    public async Task<MigrationReport> CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            await PreflightAsync(cancellationToken).ConfigureAwait(false);
            return Report(MigrationOutcome.Refused, "running on the source, untouched (checks only)");
        }
        catch (Exception e) when (e is MigrationRefusedException or RpcException or CriuException or CriuNotFoundException
                                      or OperationCanceledException or IOException or InvalidDataException)
        {
            return Report(MigrationOutcome.Refused, "running on the source, untouched (checks only)", target.Explain(e));
        }
        finally
        {
            await AbortTargetAsync("checks only").ConfigureAwait(false);
        }
    }

    private async Task<MigrationReport> FreezeAndMoveAsync(IMemoryTracker tracker, CancellationToken cancellationToken)
    {
        var images = Path.Combine(SessionDirectory, "images", FinalSet);
        var retries = new List<FreezeHazard>();
        for (int attempt = 1; ; attempt++)
        {
            var outcome = await FreezeOnceAsync(tracker, images, cancellationToken).ConfigureAwait(false);
            if (outcome.Hazards.Count == 0)
            {
                if (retries.Count > 0)
                {
                    _context.Checks.Add(Checks.Warn(FreezeCheck, $"frozen {attempt} times: {Describe(retries)}"));
                }
                else if (ChecksFreezeHazards)
                {
                    _context.Checks.Add(Checks.Pass(FreezeCheck, "no thread stood in a pending return probe or in the vDSO bytes CRIU's proxy overwrites"));
                }
                return outcome.Report ?? await CommitAsync(images).ConfigureAwait(false);
            }
            retries.AddRange(outcome.Hazards);
            if (attempt == options.MaxFreezeAttempts)
            {
                var last = outcome.Hazards[0];
                _context.Checks.Add(Checks.Fail(last.Check, $"still after {attempt} freezes: {Describe(outcome.Hazards)}",
                    "migrate again later, when the process is not inside the probed function or the vDSO"));
                return await RolledBackAsync(new MigrationRefusedException($"the {last.Check} check failed after {attempt} freezes: {last.Detail}"))
                    .ConfigureAwait(false);
            }
            // CRIU resumed the process; let it leave the dangerous spot, a little longer each time.
            await Task.Delay(TimeSpan.FromMilliseconds(50 << Math.Min(attempt - 1, 5)), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>One freeze: a finished migration or roll-back, or the hazards that call for another try.</summary>
    private sealed record FreezeOutcome(MigrationReport? Report, IReadOnlyList<FreezeHazard> Hazards);

    private async Task<FreezeOutcome> FreezeOnceAsync(IMemoryTracker tracker, string images, CancellationToken cancellationToken)
    {
        if (Directory.Exists(images))
        {
            Directory.Delete(images, recursive: true);
        }
        Directory.CreateDirectory(images);
        var dump = tracker.FinalDump(new CriuDump
        {
            Pid = options.Pid,
            ImagesDirectory = images,
            WorkDirectory = SessionDirectory,
            ShellJob = options.ShellJob,
            TcpEstablished = options.TcpEstablished,
            AllowUprobes = HasUprobes,
            LeaveStopped = true,
        });

        Progress?.Report(new MigrationProgress(MigrationStage.Dumping));
        Exception? moveFailure = null;
        IReadOnlyList<FreezeHazard> hazards = [];
        _timeline.FreezeStart = Now();
        try
        {
            await criu.DumpAsync(dump, async (script, _) =>
            {
                switch (script)
                {
                    case "pre-dump":
                        // CRIU freezes the tasks right after this notification.
                        _timeline.FreezeStart = Now();
                        return true;
                    case "post-dump":
                        _timeline.DumpEnd = Now();
                        hazards = FindHazards(images);
                        if (hazards.Count > 0)
                        {
                            LogFreezeAgain(logger, options.Pid, hazards[0].Detail);
                            return false;
                        }
                        try
                        {
                            await MoveToTargetAsync(tracker, images, cancellationToken).ConfigureAwait(false);
                            return true;
                        }
                        catch (Exception e) when (e is not OutOfMemoryException)
                        {
                            moveFailure = e;
                            Progress?.Report(new MigrationProgress(MigrationStage.RollingBack));
                            LogRollingBack(logger, options.Pid, e.Message);
                            return false;
                        }
                    default:
                        return true;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is CriuException or CriuProcessExitedException or TimeoutException or OperationCanceledException)
        {
            return hazards.Count > 0 && moveFailure is null
                ? new FreezeOutcome(null, hazards)
                : new FreezeOutcome(await RolledBackAsync(moveFailure ?? e).ConfigureAwait(false), []);
        }
        return new FreezeOutcome(null, []);
    }

    private bool HasUprobes => _context.Preflight?.UprobeSites.Count > 0 || (_context.Tree?.Pids.Any(UprobeSites.HasUprobesArea) ?? false);

    /// <summary>
    /// The checks that need the frozen tasks. A process without uprobes whose
    /// vDSO needs no proxy skips them: they cost it nothing.
    /// </summary>
    private IReadOnlyList<FreezeHazard> FindHazards(string images) =>
        ChecksFreezeHazards ? FreezeHazards.Find(images, _context.Preflight?.ProxifiedVdso) : [];

    private bool ChecksFreezeHazards => HasUprobes || _context.Preflight?.ProxifiedVdso is not null;

    private static string Describe(IEnumerable<FreezeHazard> hazards) => string.Join("; ", hazards.Select(h => $"{h.Check}: {h.Detail}"));

    private async Task MoveToTargetAsync(IMemoryTracker tracker, string images, CancellationToken cancellationToken)
    {
        var clock = time.GetTimestamp();
        var pages = await tracker.SendFinalPagesAsync(images, BytesProgress(MigrationStage.Transferring, 0), cancellationToken)
            .ConfigureAwait(false);
        _context.Final.DiffMs = time.GetElapsedTime(clock).TotalMilliseconds;
        _context.Final.Pages = pages;

        clock = time.GetTimestamp();
        var files = new DirectoryInfo(images).EnumerateFiles().Where(f => !pages.RebuiltFiles.Contains(f.Name)).ToList();
        long total = files.Sum(f => f.Length);
        _context.Final.ImagePages = files.Where(f => f.Name.StartsWith("pages-", StringComparison.Ordinal)).Sum(f => f.Length) / PageSize.Bytes;
        var sent = await target.SendImagesAsync(
            _context.SessionId!, FinalSet, pages.ParentSet, images, pages.RebuiltFiles, options.ChunkBytes,
            BytesProgress(MigrationStage.Transferring, total), cancellationToken).ConfigureAwait(false);
        _context.Final.Images = sent;
        _context.Final.TransferMs = time.GetElapsedTime(clock).TotalMilliseconds;
        _timeline.TransferEnd = Now();

        Progress?.Report(new MigrationProgress(MigrationStage.Restoring));
        clock = time.GetTimestamp();
        var request = new RestoreRequest
        {
            SessionId = _context.SessionId,
            Set = FinalSet,
            Options = new RestoreOptions
            {
                ShellJob = options.ShellJob,
                TcpEstablished = options.TcpEstablished,
                LazyPages = options.LazyRestore,
                AllowUprobes = HasUprobes,
            },
        };
        request.Rebuild.AddRange(pages.Rebuild);
        if (options.Uprobes.Mode == UprobeMode.Strip)
        {
            request.StripSites.AddRange(_context.Preflight?.UprobeSites ?? []);
        }
        RestoreReply restored;
        try
        {
            restored = await target.RestoreAsync(request, options.RestoreTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.Trailers.GetValueBytes(CheckTrailer) is { } failed)
        {
            _context.Checks.Add(CheckResult.Parser.ParseFrom(failed));
            throw;
        }
        _context.Checks.AddRange(restored.Checks);
        _context.Final.RestoreCallMs = time.GetElapsedTime(clock).TotalMilliseconds;
        _context.Final.TargetTimings = restored.Timings.ToDictionary(t => t.Stage, t => t.Milliseconds);
        _context.RestoredPid = restored.RootPid;
        _context.LazyRestore = restored.LazyPages;
        _context.RestoreNote = restored.LazyPagesNote;
        _timeline.RestoreEnd = Now();
    }

    private async Task<MigrationReport> RolledBackAsync(Exception cause)
    {
        // CRIU resumed the tasks when it rolled back; a task left stopped
        // (CRIU itself failed) is resumed here, so none stays frozen.
        using var tasks = StoppedTasks.Pin(_context.Tree!.Pids);
        tasks.ResumeStopped();
        _timeline.RollBack = Now();
        await AbortTargetAsync(cause.Message).ConfigureAwait(false);
        return ProcessTree.IsRunning(options.Pid)
            ? Report(MigrationOutcome.RolledBack, $"running on the source as PID {options.Pid}", target.Explain(cause), cause)
            : Report(MigrationOutcome.Failed, $"not running on the source after the roll-back (state {ProcessTree.State(options.Pid)})",
                target.Explain(cause));
    }

    private async Task<MigrationReport> CommitAsync(string images)
    {
        // The commit point. From here on the target's copy is the only one,
        // so nothing below may be cancelled or rolled back.
        Progress?.Report(new MigrationProgress(MigrationStage.Committing));
        using (var stopped = StoppedTasks.Pin(ProcessTreeImage.Pids(images)))
        {
            try
            {
                stopped.Kill(KillTimeout);
            }
            catch (IOException e)
            {
                // SIGKILL was sent to every task; one that lingers cannot run again.
                LogSlowKill(logger, e.Message);
            }
        }
        _timeline.Commit = Now();
        if (options.TcpEstablished)
        {
            await NetworkLock.RemoveAsync(images, logger).ConfigureAwait(false);
        }
        try
        {
            var reply = await target.CommitAsync(_context.SessionId!, CancellationToken.None).ConfigureAwait(false);
            _timeline.Resume = Now();
            _context.Final.ResumeMs = _timeline.Resume.Value - _timeline.RestoreEnd!.Value;
            _context.RestoredPid = reply.RootPid;
            if (reply.RestoredAgain.Length > 0)
            {
                _context.LazyRestore = false;
                _context.RestoreNote = reply.RestoredAgain;
            }
            Progress?.Report(new MigrationProgress(MigrationStage.Resumed));
        }
        catch (RpcException e)
        {
            LogCommitLost(logger, _context.SessionId!, e.Status.Detail);
            return Report(MigrationOutcome.Failed,
                $"stopped on the target {target.Address}, waiting for the commit of session {_context.SessionId}; " +
                $"the source copy is gone. Resume it with: migrate commit --to {target.Address} --session {_context.SessionId}",
                target.Explain(e));
        }
        var running = $"running on the target {target.Address} as PID {_context.RestoredPid} in its namespace";
        if (_context.LazyRestore)
        {
            var pages = await AwaitLazyPagesAsync().ConfigureAwait(false);
            if (!pages.Complete)
            {
                return Report(MigrationOutcome.Failed,
                    running + ", but its lazy-pages daemon failed after the resume, before every page arrived: pages not yet copied " +
                    "read as zeros, so its memory may be corrupt; the target keeps the images to restore it again",
                    pages.Error);
            }
        }
        return Report(MigrationOutcome.Migrated, running);
    }

    private async Task<AwaitPagesReply> AwaitLazyPagesAsync()
    {
        try
        {
            var reply = await target.AwaitPagesAsync(_context.SessionId!, CancellationToken.None).ConfigureAwait(false);
            if (reply.Complete)
            {
                _timeline.LastPage = _timeline.Resume + Math.Max(0, reply.LastPageAfterResumeMs);
            }
            return reply;
        }
        catch (RpcException e)
        {
            return new AwaitPagesReply { Complete = false, Error = target.Explain(e) };
        }
    }

    private async Task AbortTargetAsync(string reason)
    {
        if (_context.SessionId is null)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(AbortTimeout);
        try
        {
            await target.AbortAsync(_context.SessionId, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            // The target keeps a copy stopped until told, and drops idle sessions itself.
            LogAbortNotDelivered(logger, _context.SessionId, e.Message);
        }
    }

    private void CleanUp()
    {
        if (options.KeepImages || _context.SessionId is null || !Directory.Exists(SessionDirectory))
        {
            return;
        }
        if (_context.Outcome == MigrationOutcome.Migrated)
        {
            Directory.Delete(SessionDirectory, recursive: true);
            return;
        }
        // CRIU's logs explain a failure; the images are not needed.
        var images = Path.Combine(SessionDirectory, "images");
        if (Directory.Exists(images))
        {
            Directory.Delete(images, recursive: true);
        }
    }

    private SynchronousProgress<long> BytesProgress(MigrationStage stage, long total) =>
        new SynchronousProgress<long>(bytes => Progress?.Report(new MigrationProgress(stage, bytes, total)));

    private double Now() => time.GetElapsedTime(_started).TotalMilliseconds;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration of {Pid} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Freezing {Pid} again: {Hazards}")]
    private static partial void LogFreezeAgain(ILogger logger, int pid, string hazards);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rolling back the migration of {Pid}: {Reason}")]
    private static partial void LogRollingBack(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Commit of session {SessionId} did not reach the target: {Reason}")]
    private static partial void LogCommitLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source copy killed but not yet gone: {Reason}")]
    private static partial void LogSlowKill(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Abort of session {SessionId} not delivered: {Reason}")]
    private static partial void LogAbortNotDelivered(ILogger logger, string sessionId, string reason);
}

/// <summary>Reports on the caller's thread, unlike Progress&lt;T&gt;, so updates keep their order.</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
