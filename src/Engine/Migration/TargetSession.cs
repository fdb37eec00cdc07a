using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Engine.Migration;

/// <summary>How the target agent stores and limits sessions.</summary>
public sealed record TargetOptions
{
    public required string WorkDirectory { get; init; }
    public bool KeepImages { get; init; }
    public int MaxChunkBytes { get; init; } = 1 << 20;
    public int MaxFilesPerSet { get; init; } = 100_000;
    public long MaxSessionBytes { get; init; } = 64L << 30;

    /// <summary>A session that has restored nothing and hears nothing for this long is dropped.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

public enum TargetSessionState
{
    /// <summary>Receiving images; nothing restored.</summary>
    Open,

    /// <summary>The restored tasks exist, stopped, waiting for Commit or Abort.</summary>
    RestoredStopped,

    /// <summary>Committed: the restored tasks run. Final.</summary>
    Resumed,

    /// <summary>Aborted or expired: restored tasks killed, images removed. Final.</summary>
    Aborted,
}

/// <summary>
/// The target's side of one migration. Operations are serialised; the restored
/// tasks are only ever resumed by <see cref="CommitAsync"/>.
/// </summary>
public sealed partial class TargetSession : IDisposable
{
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    private readonly CriuClient _criu;
    private readonly TargetOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _receivedSets = new(StringComparer.Ordinal);
    private StoppedTasks? _restored;
    private CommitReply? _commit;
    private long _bytesStored;

    public TargetSession(string id, HostFacts source, CriuClient criu, TargetOptions options, TimeProvider time, ILogger logger)
    {
        Id = id;
        Source = source;
        _criu = criu;
        _options = options;
        _time = time;
        _logger = logger;
        Directory = Path.Combine(options.WorkDirectory, id);
        LastActivity = time.GetUtcNow();
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Id { get; }

    public HostFacts Source { get; }

    public string Directory { get; }

    public TargetSessionState State { get; private set; } = TargetSessionState.Open;

    public DateTimeOffset LastActivity { get; private set; }

    public async Task<TransferStats> ReceiveImagesAsync(
        string set, IAsyncEnumerable<ImageStreamMessage> messages, CancellationToken cancellationToken)
    {
        using var _ = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "receive images");
        if (!ImageNames.IsValidSetName(set))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "refused image set name");
        }
        var limits = new ImageSetLimits(_options.MaxChunkBytes, _options.MaxFilesPerSet, _options.MaxSessionBytes - _bytesStored);
        var stats = await ImageSetReceiver.ReceiveAsync(messages, SetDirectory(set), limits, cancellationToken).ConfigureAwait(false);
        _bytesStored += stats.BytesRaw;
        _receivedSets.Add(set);
        LogReceived(_logger, Id, set, stats.Files, stats.BytesRaw);
        return stats;
    }

    public async Task<RestoreReply> RestoreAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        using var _ = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "restore");
        if (!_receivedSets.Contains(request.Set))
        {
            throw new InvalidSessionStateException($"image set '{request.Set}' has not been received");
        }
        var images = SetDirectory(request.Set);
        var restore = new CriuRestore
        {
            ImagesDirectory = images,
            WorkDirectory = Directory,
            ShellJob = request.Options?.ShellJob ?? false,
            TcpEstablished = request.Options?.TcpEstablished ?? false,
            LeaveStopped = true,
        };
        var clock = Stopwatch.StartNew();
        int rootPid = await _criu.RestoreAsync(restore, onNotify: null, cancellationToken).ConfigureAwait(false);
        double restoreMs = clock.Elapsed.TotalMilliseconds;

        // CRIU restores the PIDs its images name; pin them while they are stopped.
        var restored = StoppedTasks.Pin(ProcessTreeImage.Pids(images));
        if (FindRunningTask(restored) is { } running)
        {
            // Only a stopped copy may wait for the commit: a running one would
            // be a duplicate of the source's.
            restored.Kill(KillTimeout);
            restored.Dispose();
            throw new InvalidSessionStateException($"restored task {running} is running, not stopped; the copy was killed");
        }
        _restored = restored;
        State = TargetSessionState.RestoredStopped;
        LogRestored(_logger, Id, rootPid, restored.Pids.Count);
        var reply = new RestoreReply { RootPid = rootPid };
        reply.Pids.AddRange(restored.Pids);
        reply.Timings.Add(new StageTiming { Stage = "restore", Milliseconds = restoreMs });
        return reply;
    }

    /// <summary>Resumes the restored tasks. Repeating a Commit returns the first answer.</summary>
    public async Task<CommitReply> CommitAsync(CancellationToken cancellationToken)
    {
        using var _ = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (_commit is not null)
        {
            return _commit;
        }
        RequireState(TargetSessionState.RestoredStopped, "commit");
        var clock = Stopwatch.StartNew();
        _restored!.Resume();
        _commit = new CommitReply { RootPid = _restored.Pids[0], ResumeMs = clock.Elapsed.TotalMilliseconds };
        State = TargetSessionState.Resumed;
        LogCommitted(_logger, Id, _commit.RootPid);
        RemoveImages();
        return _commit;
    }

    /// <summary>Kills any restored tasks and removes the images. Returns how many tasks it killed.</summary>
    public async Task<int> AbortAsync(string reason, CancellationToken cancellationToken)
    {
        using var _ = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (State == TargetSessionState.Resumed)
        {
            throw new InvalidSessionStateException("the session was committed; its process runs and cannot be aborted");
        }
        int killed = 0;
        if (State == TargetSessionState.RestoredStopped)
        {
            killed = _restored!.Kill(KillTimeout);
        }
        if (State != TargetSessionState.Aborted)
        {
            State = TargetSessionState.Aborted;
            LogAborted(_logger, Id, reason, killed);
            RemoveImages();
        }
        return killed;
    }

    private static int? FindRunningTask(StoppedTasks tasks)
    {
        foreach (var pid in tasks.Pids)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            char state = stat[stat.LastIndexOf(')') + 2];
            if (state is not ('T' or 't'))
            {
                return pid;
            }
        }
        return null;
    }

    private string SetDirectory(string set) => Path.Combine(Directory, "images", set);

    private void RemoveImages()
    {
        if (_options.KeepImages)
        {
            return;
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private void RequireState(TargetSessionState expected, string action)
    {
        if (State != expected)
        {
            throw new InvalidSessionStateException($"cannot {action}: the session is {State}");
        }
    }

    private async Task<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        LastActivity = _time.GetUtcNow();
        return new Releaser(_gate);
    }

    public void Dispose()
    {
        _restored?.Dispose();
        _gate.Dispose();
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: received set {Set}, {Files} files, {Bytes} bytes")]
    private static partial void LogReceived(ILogger logger, string sessionId, string set, int files, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: restored root {Pid} and {Count} tasks, stopped")]
    private static partial void LogRestored(ILogger logger, string sessionId, int pid, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: committed, {Pid} resumed")]
    private static partial void LogCommitted(ILogger logger, string sessionId, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: aborted ({Reason}), {Killed} restored tasks killed")]
    private static partial void LogAborted(ILogger logger, string sessionId, string reason, int killed);
}

/// <summary>A call came in a state of the session where it makes no sense.</summary>
public sealed class InvalidSessionStateException(string message) : Exception(message);

/// <summary>No session has that ID (never opened, or expired).</summary>
public sealed class SessionNotFoundException(string id) : Exception($"no session {id} (never opened, or expired)");
