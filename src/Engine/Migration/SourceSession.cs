using Grpc.Core;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
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
    public int ChunkBytes { get; init; } = 1 << 20;
    public TimeSpan RestoreTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

public enum MigrationStage
{
    Preflight,
    Dumping,
    Transferring,
    Restoring,
    Committing,
    Resumed,
    RollingBack,
}

/// <summary>A step of the migration, for a progress display.</summary>
public readonly record struct MigrationProgress(MigrationStage Stage, long BytesDone = 0, long BytesTotal = 0);

/// <summary>
/// Migrates one process tree to one target. The process is frozen by the dump
/// and stays stopped on the source until the target holds a restored, stopped
/// copy; only then is the source copy killed (the commit point) and the
/// target told to resume. Every failure before that point resumes the source.
/// </summary>
public sealed partial class SourceSession(
    CriuClient criu, TargetClient target, MigrationOptions options, TimeProvider time, ILogger logger)
{
    private const string FinalSet = "final";
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(15);

    private readonly long _started = time.GetTimestamp();
    private readonly MigrationTimeline _timeline = new();

    public IProgress<MigrationProgress>? Progress { get; init; }

    public async Task<MigrationReport> RunAsync(CancellationToken cancellationToken)
    {
        var context = new RunContext();
        try
        {
            await PreflightAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MigrationRefusedException or RpcException or CriuException or OperationCanceledException or IOException)
        {
            LogRefused(logger, options.Pid, e.Message);
            return Report(context, MigrationOutcome.Refused, "running on the source, untouched", target.Explain(e));
        }
        var sessionDirectory = Path.Combine(options.WorkDirectory, context.SessionId!);
        try
        {
            return await FreezeAndMoveAsync(context, sessionDirectory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CleanUp(sessionDirectory, context.Outcome);
        }
    }

    private async Task PreflightAsync(RunContext context, CancellationToken cancellationToken)
    {
        Progress?.Report(new MigrationProgress(MigrationStage.Preflight));
        context.Tree = ProcessTree.Discover(options.Pid);
        var sourceFacts = await HostFactsProbe.CollectAsync(criu, cancellationToken).ConfigureAwait(false);
        context.Source = HostSummary.From(sourceFacts);
        var handshake = await target.HandshakeAsync(sourceFacts, cancellationToken).ConfigureAwait(false);
        context.SessionId = handshake.SessionId;
        context.Target = HostSummary.From(handshake.Target);
        if (handshake.ProtocolVersion != TargetClient.ProtocolVersion)
        {
            throw new MigrationRefusedException(
                $"the target speaks protocol {handshake.ProtocolVersion}, this migrate speaks {TargetClient.ProtocolVersion}");
        }
        if (CompatibilityCheck.FindProblem(sourceFacts, handshake.Target) is { } problem)
        {
            await AbortTargetAsync(context, "incompatible").ConfigureAwait(false);
            throw new MigrationRefusedException(problem);
        }
        // A process that exited during the checks is caught by the dump.
        _timeline.PreflightEnd = Now();
    }

    private async Task<MigrationReport> FreezeAndMoveAsync(RunContext context, string sessionDirectory, CancellationToken cancellationToken)
    {
        var images = Path.Combine(sessionDirectory, "images");
        Directory.CreateDirectory(images);

        Progress?.Report(new MigrationProgress(MigrationStage.Dumping));
        _timeline.FreezeStart = Now();
        try
        {
            await criu.DumpAsync(
                new CriuDump
                {
                    Pid = options.Pid,
                    ImagesDirectory = images,
                    WorkDirectory = sessionDirectory,
                    ShellJob = options.ShellJob,
                    TcpEstablished = options.TcpEstablished,
                    LeaveStopped = true,
                },
                onNotify: null,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is CriuException or TimeoutException or OperationCanceledException)
        {
            // A failed dump lets the tasks go on as they were (criu/cr-dump.c,
            // cr_dump_finish), so there is nothing to resume here.
            await AbortTargetAsync(context, "dump failed").ConfigureAwait(false);
            _timeline.RollBack = Now();
            return Report(context, MigrationOutcome.RolledBack, "running on the source: CRIU resumed it after the failed dump", e.Message);
        }
        _timeline.DumpEnd = Now();

        using var stopped = PinDumpedTasks(context, images, out var unreadableTree);
        try
        {
            if (unreadableTree is not null)
            {
                throw unreadableTree;
            }
            await MoveToTargetAsync(context, images, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return await RollBackAsync(context, stopped, e).ConfigureAwait(false);
        }
        return await CommitAsync(context, stopped).ConfigureAwait(false);
    }

    /// <summary>
    /// The tasks CRIU dumped and left stopped, as pstree.img lists them. If the
    /// image cannot be read, the tree seen before the freeze is pinned so that
    /// the roll-back can still resume it.
    /// </summary>
    private static StoppedTasks PinDumpedTasks(RunContext context, string images, out Exception? unreadableTree)
    {
        try
        {
            unreadableTree = null;
            return StoppedTasks.Pin(ProcessTreeImage.Pids(images));
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            unreadableTree = e;
            return StoppedTasks.Pin(context.Tree!.Pids);
        }
    }

    private async Task MoveToTargetAsync(RunContext context, string images, CancellationToken cancellationToken)
    {
        long total = new DirectoryInfo(images).EnumerateFiles().Sum(file => file.Length);
        Progress?.Report(new MigrationProgress(MigrationStage.Transferring, 0, total));
        var sent = new Progress<long>(bytes => Progress?.Report(new MigrationProgress(MigrationStage.Transferring, bytes, total)));
        var stats = await target.SendImagesAsync(context.SessionId!, FinalSet, images, options.ChunkBytes, sent, cancellationToken)
            .ConfigureAwait(false);
        context.BytesRaw += stats.BytesRaw;
        context.BytesOnWire += stats.BytesOnWire;
        _timeline.TransferEnd = Now();

        Progress?.Report(new MigrationProgress(MigrationStage.Restoring));
        var restore = await target.RestoreAsync(
            new RestoreRequest
            {
                SessionId = context.SessionId,
                Set = FinalSet,
                Options = new RestoreOptions { ShellJob = options.ShellJob, TcpEstablished = options.TcpEstablished },
            },
            options.RestoreTimeout,
            cancellationToken).ConfigureAwait(false);
        context.RestoredPid = restore.RootPid;
        _timeline.RestoreEnd = Now();
    }

    private async Task<MigrationReport> RollBackAsync(RunContext context, StoppedTasks stopped, Exception cause)
    {
        Progress?.Report(new MigrationProgress(MigrationStage.RollingBack));
        LogRollingBack(logger, options.Pid, cause.Message);
        // The target never resumes without Commit, so the source can run again
        // at once; the Abort only spares the target's resources.
        int resumed = stopped.Resume();
        _timeline.RollBack = Now();
        await AbortTargetAsync(context, cause.Message).ConfigureAwait(false);
        return resumed == stopped.Pids.Count
            ? Report(context, MigrationOutcome.RolledBack, $"running on the source as PID {options.Pid}", target.Explain(cause))
            : Report(context, MigrationOutcome.Failed,
                $"{stopped.Pids.Count - resumed} of {stopped.Pids.Count} tasks vanished while stopped on the source",
                target.Explain(cause));
    }

    private async Task<MigrationReport> CommitAsync(RunContext context, StoppedTasks stopped)
    {
        // The commit point. From here on the target's copy is the only one,
        // so nothing below may be cancelled or rolled back.
        Progress?.Report(new MigrationProgress(MigrationStage.Committing));
        try
        {
            stopped.Kill(KillTimeout);
        }
        catch (IOException e)
        {
            // SIGKILL was sent to every task; one that lingers cannot run again.
            LogSlowKill(logger, e.Message);
        }
        _timeline.Commit = Now();
        try
        {
            var reply = await target.CommitAsync(context.SessionId!, CancellationToken.None).ConfigureAwait(false);
            _timeline.Resume = Now();
            context.RestoredPid = reply.RootPid;
            Progress?.Report(new MigrationProgress(MigrationStage.Resumed));
            return Report(context, MigrationOutcome.Migrated, $"running on the target {target.Address} as PID {reply.RootPid} in its namespace");
        }
        catch (RpcException e)
        {
            LogCommitLost(logger, context.SessionId!, e.Status.Detail);
            return Report(context, MigrationOutcome.Failed,
                $"stopped on the target {target.Address}, waiting for the commit of session {context.SessionId}; " +
                $"the source copy is gone. Resume it with: migrate commit --to {target.Address} --session {context.SessionId}",
                target.Explain(e));
        }
    }

    private async Task AbortTargetAsync(RunContext context, string reason)
    {
        if (context.SessionId is null)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(AbortTimeout);
        try
        {
            await target.AbortAsync(context.SessionId, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            // The target keeps a copy stopped until told, and drops idle sessions itself.
            LogAbortNotDelivered(logger, context.SessionId, e.Message);
        }
    }

    private void CleanUp(string sessionDirectory, MigrationOutcome? outcome)
    {
        if (options.KeepImages || !Directory.Exists(sessionDirectory))
        {
            return;
        }
        if (outcome == MigrationOutcome.Migrated)
        {
            Directory.Delete(sessionDirectory, recursive: true);
        }
        else
        {
            // CRIU's logs explain a failure; the images are not needed.
            var images = Path.Combine(sessionDirectory, "images");
            if (Directory.Exists(images))
            {
                Directory.Delete(images, recursive: true);
            }
        }
    }

    private double Now() => time.GetElapsedTime(_started).TotalMilliseconds;

    private MigrationReport Report(RunContext context, MigrationOutcome outcome, string processState, string? error = null)
    {
        context.Outcome = outcome;
        return new MigrationReport
        {
            Outcome = outcome,
            SessionId = context.SessionId,
            Pid = options.Pid,
            Command = context.Tree?.Command,
            TargetAddress = target.Address.ToString(),
            Source = context.Source,
            Target = context.Target,
            BytesRaw = context.BytesRaw,
            BytesOnWire = context.BytesOnWire,
            FrozenMs = _timeline.FreezeStart is { } start && _timeline.Resume is { } resume ? resume - start : null,
            TotalMs = Now(),
            Timeline = _timeline,
            RestoredPid = outcome == MigrationOutcome.Migrated ? context.RestoredPid : null,
            ProcessState = processState,
            Error = error,
        };
    }

    private sealed class RunContext
    {
        public ProcessTree? Tree { get; set; }
        public string? SessionId { get; set; }
        public HostSummary? Source { get; set; }
        public HostSummary? Target { get; set; }
        public long BytesRaw { get; set; }
        public long BytesOnWire { get; set; }
        public int? RestoredPid { get; set; }
        public MigrationOutcome? Outcome { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration of {Pid} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rolling back the migration of {Pid}: {Reason}")]
    private static partial void LogRollingBack(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Commit of session {SessionId} did not reach the target: {Reason}")]
    private static partial void LogCommitLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source copy killed but not yet gone: {Reason}")]
    private static partial void LogSlowKill(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Abort of session {SessionId} not delivered: {Reason}")]
    private static partial void LogAbortNotDelivered(ILogger logger, string sessionId, string reason);
}
