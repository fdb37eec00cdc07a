using Microsoft.Extensions.Logging;
using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>What every session of a target agent works with.</summary>
public sealed record TargetServices(Criu.ICriu Criu, Criu.CriuFeatureSet Features, ITargetHost Host, TargetOptions Options, TimeProvider Time, ILogger Logger)
{
    /// <summary>The PIDs restores under way are creating, shared by the agent's sessions.</summary>
    public PidClaims RestoringPids { get; } = new();
}

/// <summary>
/// The target's side of one migration, as a state machine:
/// Open → Restoring → RestoredStopped → Resumed, and Aborted from any state
/// before Resumed. Calls are serialised; the restored tasks are only ever
/// resumed by <see cref="CommitAsync"/>.
/// </summary>
public sealed class TargetSession : IAsyncDisposable
{
    /// <summary>The most files, PIDs or uprobe sites one pre-flight request may list.</summary>
    private const int MaxPreflightItems = 100_000;

    private readonly TargetServices _services;
    private readonly SessionStore _store;
    private readonly SessionRestorer _restorer;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Restored? _restored;
    private CommitResult? _commit;
    private DateTimeOffset? _resumedAt;
    private Task _settled = Task.CompletedTask;

    /// <param name="storage">The agent's allowance, from which the session's is drawn.</param>
    public TargetSession(string id, HostFacts source, TargetServices services, StorageAllowance storage)
    {
        Id = id;
        Source = source;
        _services = services;
        _store = new SessionStore(Path.Combine(services.Options.WorkDirectory, id), services.Options, storage);
        _restorer = new SessionRestorer(services.Criu, services.Features, services.Host, services.Options, services.RestoringPids, services.Time);
        LastActivity = services.Time.GetUtcNow();
    }

    public string Id { get; }

    public HostFacts Source { get; }

    public string WorkDirectory => _store.Directory;

    public TargetSessionState State { get; private set; } = TargetSessionState.Open;

    public DateTimeOffset LastActivity { get; private set; }

    /// <summary>Nothing of the session is still at work (a lazy-pages daemon serving a resumed process).</summary>
    public bool IsSettled => _settled.IsCompleted;

    /// <summary>The target's pre-flight checks: CPU, files, PIDs and uprobe sites. Freezes nothing.</summary>
    public async Task<IReadOnlyList<CheckResult>> PreflightAsync(PreflightQuery query, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (query.Files.Count > MaxPreflightItems || query.Pids.Count > MaxPreflightItems || query.UprobeSites.Count > MaxPreflightItems)
        {
            throw new TransferRejectedException(TransferRejection.TooLarge, $"a pre-flight request lists more than {MaxPreflightItems} items");
        }
        var host = _services.Host;
        return
        [
            await host.CheckCpuAsync(Source.CpuinfoImage, cancellationToken).ConfigureAwait(false),
            host.CheckFiles(query.Files, _services.Options.MaxPreflightHashBytes, cancellationToken),
            host.CheckFileLocks(query.Files, Source.BootId),
            host.CheckPids(query.Pids, "pre-flight"),
            host.CheckUprobeSites(query.UprobeSites, strip: query.UprobeMode == UprobeMode.Strip),
        ];
    }

    /// <summary>
    /// Receives a page stream: into the page store (content-hash pre-copy), or
    /// as the next CRIU image set of the chain (write-protect pre-copy).
    /// </summary>
    public async Task<T> ReceivePagesAsync<T>(PageRound round, Func<IPageSink, CancellationToken, Task<T>> receive, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "receive pages");
        if (!round.ImageChain)
        {
            try
            {
                return await receive(_store.Pages, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _store.MarkPagesIncomplete();
                throw;
            }
        }
        if (round.Number <= 0)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"an image chain has no round {round.Number}");
        }
        using var chainRound = _store.Chain.BeginRound(round.Number);
        var result = await receive(chainRound, cancellationToken).ConfigureAwait(false);
        chainRound.Complete();
        _store.AddSet(chainRound.Name);
        return result;
    }

    /// <summary>Receives an image set into a new directory of the session; <paramref name="parent"/> names a set received before, or is empty.</summary>
    public async Task<TransferStats> ReceiveImagesAsync(
        string set, string parent, Func<string, ImageSetLimits, CancellationToken, Task<TransferStats>> receive, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "receive images");
        if (!ImageNames.IsValidSetName(set))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, "refused image set name");
        }
        if (parent.Length > 0 && !_store.HasSet(parent))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"parent image set '{parent}' has not been received");
        }
        var options = _services.Options;
        var directory = _store.SetDirectory(set);
        var stats = await receive(directory, new ImageSetLimits(options.MaxChunkBytes, options.MaxFilesPerSet, _store.Allowance), cancellationToken)
            .ConfigureAwait(false);
        if (parent.Length > 0)
        {
            // CRIU follows "parent" to the previous pre-dump's images (criu/image.c).
            try
            {
                File.CreateSymbolicLink(Path.Combine(directory, "parent"), Path.Combine("..", parent));
            }
            catch (IOException e)
            {
                Directory.Delete(directory, recursive: true);
                _store.Allowance.Refund(stats.BytesRaw);
                throw new TransferRejectedException(TransferRejection.Malformed, $"image set {set} cannot name a parent: {e.Message}", e);
            }
        }
        _store.AddSet(set);
        TargetLog.Received(_services.Logger, Id, set, stats.Files, stats.BytesRaw);
        return stats;
    }

    /// <summary>
    /// Restores an image set with the tasks left stopped. The caller's
    /// cancellation stops nothing once CRIU runs: a restore cut in the middle
    /// could leave tasks nobody tracks.
    /// </summary>
    public async Task<RestoreResult> RestoreAsync(RestoreOrder order, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        RequireState(TargetSessionState.Open, "restore");
        MoveTo(TargetSessionState.Restoring);
        try
        {
            var (result, copy) = await _restorer.RestoreAsync(_store, order, CancellationToken.None).ConfigureAwait(false);
            _restored = new Restored(order, copy);
            MoveTo(TargetSessionState.RestoredStopped);
            TargetLog.Restored(_services.Logger, Id, result.RootPid, result.Pids.Count, result.LazyPages ? "lazily" : "eagerly");
            return result;
        }
        catch
        {
            MoveTo(TargetSessionState.Open);
            throw;
        }
        finally
        {
            // The restore's own duration does not count as silence.
            LastActivity = _services.Time.GetUtcNow();
        }
    }

    /// <summary>Resumes the restored tasks. Repeating a Commit returns the first answer.</summary>
    public async Task<CommitResult> CommitAsync(CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        if (_commit is not null)
        {
            return _commit;
        }
        RequireState(TargetSessionState.RestoredStopped, "commit");
        var (order, copy) = _restored ?? throw new InvalidSessionStateException("the session has no restored copy");
        var started = _services.Time.GetTimestamp();
        string? restoredAgain = null;
        if (copy.LazyPages is { HasFailed: true } died)
        {
            var failure = await died.Completion.ConfigureAwait(false);
            TargetLog.LazyPagesDiedBeforeResume(_services.Logger, Id, string.Join("; ", failure.Errors));
            copy = await _restorer.RestoreAgainEagerlyAsync(copy, _store, order, CancellationToken.None).ConfigureAwait(false);
            _restored = new Restored(order, copy);
            restoredAgain = "the lazy-pages daemon died before the resume, so the target restored again with all memory loaded";
        }
        copy.Resume();
        _resumedAt = _services.Time.GetUtcNow();
        _commit = new CommitResult(copy.RootPid, _services.Time.GetElapsedTime(started).TotalMilliseconds, restoredAgain);
        MoveTo(TargetSessionState.Resumed);
        TargetLog.Committed(_services.Logger, Id, copy.RootPid);
        if (copy.LazyPages is { } lazy)
        {
            _settled = RemoveImagesWhenPagesInAsync(lazy);
        }
        else
        {
            _store.Remove();
        }
        return _commit;
    }

    /// <summary>Waits until the resumed process has every page.</summary>
    public async Task<PagesArrival> AwaitPagesAsync(CancellationToken cancellationToken)
    {
        if (_resumedAt is not { } resumedAt || _restored is not { Copy: var copy })
        {
            throw new InvalidSessionStateException("the session has not been committed");
        }
        if (copy.LazyPages is not { } lazy)
        {
            return new PagesArrival(true, -1, null);
        }
        var outcome = await lazy.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new PagesArrival(outcome.Complete, (outcome.EndedAt - resumedAt).TotalMilliseconds,
            outcome.Complete ? null : "criu lazy-pages failed: " + string.Join("; ", outcome.Errors));
    }

    /// <summary>Kills any restored tasks and removes the images. Returns how many tasks it killed.</summary>
    public async Task<int> AbortAsync(string reason, CancellationToken cancellationToken)
    {
        using var entered = await EnterAsync(cancellationToken).ConfigureAwait(false);
        return await AbortEnteredAsync(reason).ConfigureAwait(false);
    }

    /// <summary>
    /// The janitor's call: drops the session if it restored nothing and has
    /// been silent for the idle limit, judged again once the session's lock is
    /// held, so that a call that just arrived or a restore under way keeps it.
    /// </summary>
    public async Task<bool> ExpireIfIdleAsync(CancellationToken cancellationToken)
    {
        if (!await _gate.WaitAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
        {
            return false; // a call is in progress: not idle
        }
        try
        {
            if (State != TargetSessionState.Open || _services.Time.GetUtcNow() - LastActivity <= _services.Options.IdleTimeout)
            {
                return false;
            }
            await AbortEnteredAsync("idle timeout").ConfigureAwait(false);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<int> AbortEnteredAsync(string reason)
    {
        if (State == TargetSessionState.Resumed)
        {
            throw new InvalidSessionStateException("the session was committed; its process runs and cannot be aborted");
        }
        int killed = 0;
        if (_restored is { Copy: var copy })
        {
            killed = await copy.KillAsync().ConfigureAwait(false);
            await copy.DisposeAsync().ConfigureAwait(false);
            _restored = null;
        }
        if (State != TargetSessionState.Aborted)
        {
            MoveTo(TargetSessionState.Aborted);
            TargetLog.Aborted(_services.Logger, Id, reason, killed);
            _store.Remove();
        }
        return killed;
    }

    /// <summary>The daemon reads the images until the last page is in; then they go, unless it failed.</summary>
    private async Task RemoveImagesWhenPagesInAsync(Criu.ILazyPagesDaemon lazy)
    {
        var outcome = await lazy.Completion.ConfigureAwait(false);
        if (outcome.Complete)
        {
            _store.Remove();
        }
        else
        {
            TargetLog.LazyPagesFailed(_services.Logger, Id, _store.Keep(), string.Join("; ", outcome.Errors));
        }
    }

    private void MoveTo(TargetSessionState next)
    {
        TargetLog.StateChanged(_services.Logger, Id, State, next);
        State = next;
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
        LastActivity = _services.Time.GetUtcNow();
        return new Releaser(_gate);
    }

    public async ValueTask DisposeAsync()
    {
        if (_restored is { Copy: var copy })
        {
            await copy.DisposeAsync().ConfigureAwait(false);
        }
        await _settled.ConfigureAwait(false);
        _store.Dispose();
        _gate.Dispose();
    }

    /// <summary>The restored copy, and the order it was restored by (a new restore needs it).</summary>
    private sealed record Restored(RestoreOrder Order, RestoredCopy Copy);

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}
