using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Memory;
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

    /// <summary>How long restored tasks may take to reach the stopped state CRIU leaves them in.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

public enum TargetSessionState
{
    /// <summary>Receiving pages and images; nothing restored.</summary>
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
public sealed partial class TargetSession : IAsyncDisposable
{
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The most files, PIDs or uprobe sites one pre-flight request may list.</summary>
    private const int MaxPreflightItems = 100_000;

    private readonly CriuClient _criu;
    private readonly CriuFeatureSet _features;
    private readonly TargetOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _receivedSets = new(StringComparer.Ordinal);
    private PageStore? _pages;
    private bool _pagesIncomplete;
    private StoppedTasks? _restored;
    private CriuLazyPages? _lazyPages;
    private RestoreOptions? _restoreOptions;
    private string? _images;
    private DateTimeOffset? _resumedAt;
    private CommitReply? _commit;
    private long _bytesStored;

    public TargetSession(
        string id, HostFacts source, CriuClient criu, CriuFeatureSet features, TargetOptions options, TimeProvider time, ILogger logger)
    {
        Id = id;
        Source = source;
        _criu = criu;
        _features = features;
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

    /// <summary>Nothing of the session is still at work (a lazy-pages daemon serving a resumed process).</summary>
    public bool IsSettled => _lazyPages is null || _lazyPages.Completion.IsCompleted;

    private long RemainingBytes => _options.MaxSessionBytes - _bytesStored - (_pages?.BytesStored ?? 0);

    /// <summary>The target's pre-flight checks: CPU, files, PIDs and uprobe sites. Freezes nothing.</summary>
    public async Task<PreflightReply> PreflightAsync(PreflightRequest request, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (request.Files.Count > MaxPreflightItems || request.Pids.Count > MaxPreflightItems || request.UprobeSites.Count > MaxPreflightItems)
        {
            throw new TransferRejectedException(TransferRejection.TooLarge, $"a pre-flight request lists more than {MaxPreflightItems} items");
        }
        var reply = new PreflightReply();
        reply.Checks.Add(await CpuCheck.VerifyAsync(_criu, Source.CpuinfoImage.ToByteArray(), cancellationToken).ConfigureAwait(false));
        reply.Checks.Add(ProcessFiles.Verify(request.Files));
        reply.Checks.Add(PidCheck.Verify(request.Pids, "pre-flight"));
        reply.Checks.Add(UprobeSites.Verify(request.UprobeSites, strip: request.UprobeMode == "strip"));
        return reply;
    }

    public async Task<PageStreamSummary> ReceivePagesAsync(IAsyncEnumerable<PageStreamMessage> messages, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "receive pages");
        _pages ??= new PageStore(Path.Combine(Directory, "pages.store"), _options.MaxSessionBytes - _bytesStored);
        try
        {
            return await PageStreamReceiver.ReceiveAsync(messages, _pages, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Part of a round arrived: the store no longer mirrors the source's view.
            _pagesIncomplete = true;
            throw;
        }
    }

    public async Task<TransferStats> ReceiveImagesAsync(
        string set, string parent, IAsyncEnumerable<ImageStreamMessage> messages, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "receive images");
        if (!ImageNames.IsValidSetName(set))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "refused image set name");
        }
        if (parent.Length > 0 && !_receivedSets.Contains(parent))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"parent image set '{parent}' has not been received");
        }
        var limits = new ImageSetLimits(_options.MaxChunkBytes, _options.MaxFilesPerSet, RemainingBytes);
        var directory = SetDirectory(set);
        var stats = await ImageSetReceiver.ReceiveAsync(messages, directory, limits, cancellationToken).ConfigureAwait(false);
        if (parent.Length > 0)
        {
            // CRIU follows "parent" to the previous pre-dump's images (criu/image.c).
            try
            {
                File.CreateSymbolicLink(Path.Combine(directory, "parent"), Path.Combine("..", parent));
            }
            catch (IOException e)
            {
                System.IO.Directory.Delete(directory, recursive: true);
                throw new TransferRejectedException(TransferRejection.Malformed, $"image set {set} cannot name a parent: {e.Message}", e);
            }
        }
        _bytesStored += stats.BytesRaw;
        _receivedSets.Add(set);
        LogReceived(_logger, Id, set, stats.Files, stats.BytesRaw);
        return stats;
    }

    public async Task<RestoreReply> RestoreAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "restore");
        if (!_receivedSets.Contains(request.Set))
        {
            throw new InvalidSessionStateException($"image set '{request.Set}' has not been received");
        }
        var images = SetDirectory(request.Set);
        var reply = new RestoreReply();

        var clock = Stopwatch.StartNew();
        RebuildPages(images, request.Rebuild);
        reply.Timings.Add(new StageTiming { Stage = "rebuild", Milliseconds = clock.Elapsed.TotalMilliseconds });

        // The images, checked before CRIU is asked to restore them.
        reply.Checks.Add(Require(PidCheck.Verify(ProcessTreeImage.Pids(images), "at restore")));
        if (request.StripSites.Count > 0)
        {
            UprobeStrip.Apply(images, request.StripSites);
        }

        bool lazy = request.Options?.LazyPages == true && _features.LazyPages;
        if (request.Options?.LazyPages == true && !lazy)
        {
            reply.LazyPagesNote = "this target's kernel or CRIU cannot restore lazily (userfaultfd), so memory was loaded before the resume";
        }
        _restoreOptions = request.Options ?? new RestoreOptions();
        _images = images;
        var (rootPid, restored) = await RestoreStoppedAsync(lazy, reply.Timings, cancellationToken).ConfigureAwait(false);
        // The final go or no-go, while the restored tasks are still stopped.
        if (request.StripSites.Count > 0 && UprobeSites.VerifyStripped(request.StripSites) is var stripped)
        {
            if (stripped.Failed())
            {
                restored.Kill(KillTimeout);
                restored.Dispose();
                await StopLazyPagesAsync().ConfigureAwait(false);
                throw new CheckFailedException(stripped);
            }
            reply.Checks.Add(stripped);
        }
        reply.Checks.Add(Checks.Pass("restored", $"{Checks.Count(restored.Pids.Count, "task")} restored {(lazy ? "lazily" : "eagerly")} and stopped, waiting for the commit"));
        _restored = restored;
        State = TargetSessionState.RestoredStopped;
        reply.RootPid = rootPid;
        reply.Pids.AddRange(restored.Pids);
        reply.LazyPages = lazy;
        LogRestored(_logger, Id, rootPid, restored.Pids.Count, lazy ? "lazily" : "eagerly");
        return reply;
    }

    /// <summary>
    /// Restores the received images with the tasks left stopped, and checks
    /// they are. With <paramref name="lazy"/>, a lazy-pages daemon serves the
    /// memory. Times the restore and the check into <paramref name="timings"/>.
    /// </summary>
    private async Task<(int RootPid, StoppedTasks Tasks)> RestoreStoppedAsync(
        bool lazy, Google.Protobuf.Collections.RepeatedField<StageTiming> timings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        if (lazy)
        {
            _lazyPages = await CriuLazyPages.StartAsync(_criu.Settings, _images!, Directory, _time, cancellationToken).ConfigureAwait(false);
        }
        var restore = new CriuRestore
        {
            ImagesDirectory = _images!,
            WorkDirectory = Directory,
            ShellJob = _restoreOptions!.ShellJob,
            TcpEstablished = _restoreOptions.TcpEstablished,
            AllowUprobes = _restoreOptions.AllowUprobes,
            LazyPages = lazy,
            LeaveStopped = true,
        };
        int rootPid;
        try
        {
            rootPid = await _criu.RestoreAsync(restore, onNotify: null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await StopLazyPagesAsync().ConfigureAwait(false);
            throw;
        }
        timings.Add(new StageTiming { Stage = "restore", Milliseconds = clock.Elapsed.TotalMilliseconds });

        clock.Restart();
        // CRIU restores the PIDs its images name; pin them while they are stopped.
        var restored = StoppedTasks.Pin(ProcessTreeImage.Pids(_images!));
        try
        {
            await VerifyStoppedAsync(restored, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            restored.Kill(KillTimeout);
            restored.Dispose();
            await StopLazyPagesAsync().ConfigureAwait(false);
            throw;
        }
        timings.Add(new StageTiming { Stage = "verify", Milliseconds = clock.Elapsed.TotalMilliseconds });
        return (rootPid, restored);
    }

    /// <summary>Resumes the restored tasks. Repeating a Commit returns the first answer.</summary>
    public async Task<CommitReply> CommitAsync(CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (_commit is not null)
        {
            return _commit;
        }
        RequireState(TargetSessionState.RestoredStopped, "commit");
        var clock = Stopwatch.StartNew();
        string restoredAgain = "";
        if (_lazyPages is { HasFailed: true } failed)
        {
            await RestoreAgainEagerlyAsync(await failed.Completion.ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            restoredAgain = "the lazy-pages daemon died before the resume, so the target restored again with all memory loaded";
        }
        _restored!.Resume();
        _resumedAt = _time.GetUtcNow();
        _commit = new CommitReply { RootPid = _restored.Pids[0], ResumeMs = clock.Elapsed.TotalMilliseconds, RestoredAgain = restoredAgain };
        State = TargetSessionState.Resumed;
        LogCommitted(_logger, Id, _commit.RootPid);
        if (_lazyPages is { } lazy)
        {
            // The daemon reads the images until the last page is in.
            _ = lazy.Completion.ContinueWith(outcome => Finish(outcome.Result), TaskScheduler.Default);
        }
        else
        {
            RemoveImages();
        }
        return _commit;
    }

    /// <summary>Waits until the resumed process has every page.</summary>
    public async Task<AwaitPagesReply> AwaitPagesAsync(CancellationToken cancellationToken)
    {
        if (_resumedAt is not { } resumedAt)
        {
            throw new InvalidSessionStateException("the session has not been committed");
        }
        if (_lazyPages is null)
        {
            return new AwaitPagesReply { Complete = true, LastPageAfterResumeMs = -1 };
        }
        var outcome = await _lazyPages.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new AwaitPagesReply
        {
            Complete = outcome.Complete,
            LastPageAfterResumeMs = (outcome.EndedAt - resumedAt).TotalMilliseconds,
            Error = outcome.Complete ? "" : "criu lazy-pages failed: " + string.Join("; ", outcome.Errors),
        };
    }

    /// <summary>Kills any restored tasks and removes the images. Returns how many tasks it killed.</summary>
    public async Task<int> AbortAsync(string reason, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (State == TargetSessionState.Resumed)
        {
            throw new InvalidSessionStateException("the session was committed; its process runs and cannot be aborted");
        }
        int killed = 0;
        if (State == TargetSessionState.RestoredStopped)
        {
            killed = _restored!.Kill(KillTimeout);
        }
        await StopLazyPagesAsync().ConfigureAwait(false);
        if (State != TargetSessionState.Aborted)
        {
            State = TargetSessionState.Aborted;
            LogAborted(_logger, Id, reason, killed);
            RemoveImages();
        }
        return killed;
    }

    /// <summary>
    /// The lazy-pages daemon died while the copy waited for its commit: pages it
    /// had not copied yet would read as zeros once the process ran (the kernel
    /// drops a userfaultfd's ranges with its last owner). The source copy is
    /// already gone, but the images are whole: kill the copy and restore them
    /// again with all memory loaded.
    /// </summary>
    private async Task RestoreAgainEagerlyAsync(LazyPagesOutcome failure, CancellationToken cancellationToken)
    {
        LogLazyPagesDiedBeforeResume(_logger, Id, string.Join("; ", failure.Errors));
        _restored!.Kill(KillTimeout);
        _restored.Dispose();
        _restored = null;
        // The killed tasks hold their PIDs until reaped, and the restore needs them.
        Linux.ChildReaper.ReapExited();
        await StopLazyPagesAsync().ConfigureAwait(false);
        (_, _restored) = await RestoreStoppedAsync(lazy: false, new Google.Protobuf.Collections.RepeatedField<StageTiming>(), cancellationToken).ConfigureAwait(false);
    }

    private static CheckResult Require(CheckResult check) => check.Failed() ? throw new CheckFailedException(check) : check;

    private void RebuildPages(string images, IEnumerable<PagesRebuild> rebuilds)
    {
        foreach (var rebuild in rebuilds)
        {
            if (rebuild.Pid <= 0 || !ImageNames.IsValidFileName(rebuild.PagemapFile) || !ImageNames.IsValidFileName(rebuild.PagesFile))
            {
                throw new TransferRejectedException(TransferRejection.Malformed, "refused pages rebuild instruction");
            }
            if (_pages is null || _pagesIncomplete)
            {
                throw new InvalidSessionStateException("the pages to rebuild from are missing or incomplete");
            }
            var pagemap = PagemapImage.Read(Path.Combine(images, rebuild.PagemapFile));
            if (pagemap.PagesFileName != rebuild.PagesFile)
            {
                throw new TransferRejectedException(TransferRejection.Malformed,
                    $"{rebuild.PagemapFile} names {pagemap.PagesFileName}, not {rebuild.PagesFile}");
            }
            PagesImageRebuilder.Rebuild(_pages, rebuild.Pid, pagemap, Path.Combine(images, rebuild.PagesFile));
        }
    }

    /// <summary>
    /// Only a stopped copy may wait for the commit: a running one would be a
    /// duplicate of the source's. CRIU's SIGSTOP may still be pending when the
    /// restore returns, so the check waits a little before it judges.
    /// </summary>
    private async Task VerifyStoppedAsync(StoppedTasks restored, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.StopTimeout;
        while (restored.Pids.FirstOrDefault(pid => ProcessTree.State(pid) is not ('T' or 't')) is var running && running != 0)
        {
            if (_time.GetUtcNow() > deadline)
            {
                throw new InvalidSessionStateException(
                    $"restored task {running} is in state {ProcessTree.State(running)}, not stopped, after {_options.StopTimeout.TotalSeconds:0} s; the copy was killed");
            }
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Finish(LazyPagesOutcome outcome)
    {
        if (outcome.Complete)
        {
            RemoveImages();
        }
        else
        {
            LogLazyPagesFailed(_logger, Id, Directory, string.Join("; ", outcome.Errors));
        }
    }

    private async Task StopLazyPagesAsync()
    {
        if (_lazyPages is { } lazy)
        {
            _lazyPages = null;
            await lazy.DisposeAsync().ConfigureAwait(false);
        }
    }

    private string SetDirectory(string set) => Path.Combine(Directory, "images", set);

    private void RemoveImages()
    {
        _pages?.Dispose();
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

    public async ValueTask DisposeAsync()
    {
        await StopLazyPagesAsync().ConfigureAwait(false);
        _restored?.Dispose();
        _pages?.Dispose();
        _gate.Dispose();
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: received set {Set}, {Files} files, {Bytes} bytes")]
    private static partial void LogReceived(ILogger logger, string sessionId, string set, int files, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: restored root {Pid} and {Count} tasks {How}, stopped")]
    private static partial void LogRestored(ILogger logger, string sessionId, int pid, int count, string how);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: committed, {Pid} resumed")]
    private static partial void LogCommitted(ILogger logger, string sessionId, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: aborted ({Reason}), {Killed} restored tasks killed")]
    private static partial void LogAborted(ILogger logger, string sessionId, string reason, int killed);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Session {SessionId}: the lazy-pages daemon failed after the resume, before every page arrived: pages it had not copied read as zeros, so the process's memory may be corrupt. Its images stay in {Directory}. {Errors}")]
    private static partial void LogLazyPagesFailed(ILogger logger, string sessionId, string directory, string errors);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Session {SessionId}: the lazy-pages daemon died before the resume ({Errors}); restoring again with all memory loaded")]
    private static partial void LogLazyPagesDiedBeforeResume(ILogger logger, string sessionId, string errors);
}

/// <summary>A call came in a state of the session where it makes no sense.</summary>
public sealed class InvalidSessionStateException(string message) : Exception(message);

/// <summary>No session has that ID (never opened, or expired).</summary>
public sealed class SessionNotFoundException(string id)
    : Exception(SessionIds.IsValid(id) ? $"no session {id} (never opened, or expired)" : "no session has that ID: it is malformed");
