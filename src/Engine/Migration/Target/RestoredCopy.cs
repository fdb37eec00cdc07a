using Migrate.Engine.Criu;
using Migrate.Engine.Images;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// A restored tree, stopped, and the lazy-pages daemon that serves its memory
/// when it was restored lazily. Only <see cref="Resume"/> lets it run.
/// </summary>
/// <param name="dumpedStates">Tasks that were stopped on the source (the resume leaves them stopped), and zombies there.</param>
internal sealed class RestoredCopy(IStoppedTasks tasks, DumpedTaskStates dumpedStates, ILazyPagesDaemon? lazyPages) : IAsyncDisposable
{
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);
    private bool _lazyPagesStopped;

    public IReadOnlyList<int> Pids => tasks.Pids;

    public int RootPid => tasks.Pids[0];

    public ILazyPagesDaemon? LazyPages => lazyPages;

    public DumpedTaskStates DumpedStates => dumpedStates;

    public void Resume() => tasks.Resume(dumpedStates.Stopped);

    /// <summary>Kills the tasks and stops the daemon; returns how many tasks it killed.</summary>
    public async Task<int> KillAsync()
    {
        int killed = tasks.Kill(KillTimeout);
        await StopLazyPagesAsync().ConfigureAwait(false);
        return killed;
    }

    /// <summary>Stops the daemon if it still runs; once.</summary>
    private async Task StopLazyPagesAsync()
    {
        if (lazyPages is not null && !_lazyPagesStopped)
        {
            _lazyPagesStopped = true;
            await lazyPages.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopLazyPagesAsync().ConfigureAwait(false);
        tasks.Dispose();
    }
}
