using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Criu;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>
/// CRIU as the engine sees it, following CRIU's own rules: a dump sends
/// pre-dump, then post-dump, and fails when post-dump is answered "no" (CRIU
/// then resumes the tasks itself).
/// </summary>
internal sealed class FakeCriu(Journal journal, FakeTimeProvider time) : ICriu
{
    /// <summary>Thrown by the next dump before it reaches post-dump.</summary>
    public Exception? DumpFailure { get; set; }

    /// <summary>
    /// Thrown by the dump after post-dump was answered "go on", as a CRIU that
    /// fails on its way out would: it leaves the tasks stopped, and cannot roll back.
    /// </summary>
    public Exception? ExitFailure { get; set; }

    /// <summary>Runs when CRIU leaves the tasks stopped: the tree's tasks stop on the host.</summary>
    public Action? LeftStopped { get; set; }

    /// <summary>How long CRIU takes to dump, on the fake clock.</summary>
    public TimeSpan DumpTime { get; set; } = TimeSpan.FromMilliseconds(40);

    public FakeLazyPages? LazyPages { get; private set; }

    public bool LazyPagesFail { get; set; }

    public int RestoredRootPid { get; set; } = 100;

    public int Dumps { get; private set; }

    public CriuDump? LastDump { get; private set; }

    public async Task DumpAsync(CriuDump dump, CriuNotifyHandler? onNotify, CancellationToken cancellationToken)
    {
        Dumps++;
        LastDump = dump;
        journal.Add("criu dump");
        await Notify(onNotify, "pre-dump");
        time.Advance(DumpTime);
        if (DumpFailure is { } failure)
        {
            throw failure;
        }
        if (!await Notify(onNotify, "post-dump"))
        {
            journal.Add("criu resumes the tasks");
            throw new CriuException("dump", "post-dump script failed", [], null);
        }
        journal.Add("criu leaves the tasks stopped");
        LeftStopped?.Invoke();
        if (ExitFailure is { } exit)
        {
            throw exit;
        }
    }

    /// <summary>How long CRIU takes to restore, on the fake clock.</summary>
    public TimeSpan RestoreTime { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Runs while CRIU restores, before it returns: it may create tasks on the host.</summary>
    public Action? Restoring { get; set; }

    /// <summary>The restore waits for this before it returns.</summary>
    public Task RestoreReleased { get; set; } = Task.CompletedTask;

    /// <summary>Thrown by the next restore once <see cref="Restoring"/> ran, as CRIU killed or dead half-way would.</summary>
    public Exception? RestoreFailure { get; set; }

    public async Task<int> RestoreAsync(CriuRestore restore, CriuNotifyHandler? onNotify, CancellationToken cancellationToken)
    {
        journal.Add(restore.LazyPages ? "criu restore lazily" : "criu restore eagerly");
        Restoring?.Invoke();
        await RestoreReleased.WaitAsync(cancellationToken);
        time.Advance(RestoreTime);
        if (RestoreFailure is { } failure)
        {
            RestoreFailure = null;
            throw failure;
        }
        return RestoredRootPid;
    }

    public Task<ILazyPagesDaemon> StartLazyPagesAsync(string imagesDirectory, string workDirectory, CancellationToken cancellationToken)
    {
        LazyPages = new FakeLazyPages(journal, LazyPagesFail);
        return Task.FromResult<ILazyPagesDaemon>(LazyPages);
    }

    public Task<CriuFeatureSet> CheckFeaturesAsync(CancellationToken cancellationToken) => Task.FromResult(new CriuFeatureSet(false, true));

    public Task<CriuVersionInfo> GetVersionAsync(CancellationToken cancellationToken) => Task.FromResult(new CriuVersionInfo(4, 2, 1));

    public Task DumpCpuInfoAsync(CriuCpuInfo dump, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>What CRIU's cpuinfo check fails with, if it fails.</summary>
    public Exception? CpuInfoCheckFailure { get; set; }

    public Task CheckCpuInfoAsync(CriuCpuInfo check, CancellationToken cancellationToken) =>
        CpuInfoCheckFailure is { } failure ? Task.FromException(failure) : Task.CompletedTask;

    private static ValueTask<bool> Notify(CriuNotifyHandler? onNotify, string script) => onNotify?.Invoke(script, 0) ?? ValueTask.FromResult(true);
}

/// <summary>A lazy-pages daemon that has served every page, or has died (<c>failed</c>).</summary>
internal sealed class FakeLazyPages(Journal journal, bool failed) : ILazyPagesDaemon
{
    public Task<LazyPagesOutcome> Completion { get; } =
        Task.FromResult(new LazyPagesOutcome(!failed, DateTimeOffset.UnixEpoch, failed ? ["uffd: died"] : []));

    public bool HasFailed => failed;

    private bool _disposed;

    /// <summary>Like a Process, the real daemon cannot be disposed twice.</summary>
    public ValueTask DisposeAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _disposed = true;
        journal.Add("lazy-pages daemon stopped");
        return ValueTask.CompletedTask;
    }
}
