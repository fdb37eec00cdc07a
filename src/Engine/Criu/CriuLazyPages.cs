using System.Diagnostics;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Criu;

/// <summary>How a lazy-pages daemon ended.</summary>
public sealed record LazyPagesOutcome(bool Complete, DateTimeOffset EndedAt, IReadOnlyList<string> Errors);

/// <summary>A daemon that serves a lazily restored process's memory until every page is in.</summary>
public interface ILazyPagesDaemon : IAsyncDisposable
{
    /// <summary>Ends when the daemon exits; says whether every page was served.</summary>
    Task<LazyPagesOutcome> Completion { get; }

    /// <summary>
    /// The daemon has exited without serving every page. Asks the kernel now,
    /// rather than waiting for <see cref="Completion"/> to be scheduled.
    /// </summary>
    bool HasFailed { get; }
}

/// <summary>
/// A supervised <c>criu lazy-pages</c> daemon: it serves a lazily restored
/// process's memory from local images through userfaultfd, copies the rest in
/// the background, and exits 0 once every page is in (criu/uffd.c). The
/// restore finds it through lazy-pages.socket in the shared work directory.
/// </summary>
internal sealed class CriuLazyPages : ILazyPagesDaemon
{
    private const string SocketName = "lazy-pages.socket";
    private const string LogName = "criu-lazy-pages.log";

    private readonly Process _process;
    private readonly string _logPath;
    private readonly TimeProvider _time;

    private CriuLazyPages(Process process, string logPath, TimeProvider time)
    {
        _process = process;
        _logPath = logPath;
        _time = time;
        Completion = WatchAsync();
    }

    public Task<LazyPagesOutcome> Completion { get; }

    public bool HasFailed => _process.HasExited && _process.ExitCode != 0;

    /// <summary>Starts the daemon and returns once it accepts restores.</summary>
    public static async Task<CriuLazyPages> StartAsync(
        CriuSettings settings, string imagesDirectory, string workDirectory, TimeProvider time, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(workDirectory);
        var socket = Path.Combine(workDirectory, SocketName);
        File.Delete(socket);
        var start = new ProcessStartInfo(settings.CriuPath)
        {
            ArgumentList = { "lazy-pages", "--images-dir", imagesDirectory, "--work-dir", workDirectory, "--log-file", LogName, "-v4" },
            UseShellExecute = false,
        };
        foreach (var (name, value) in settings.Environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var process = await ChildReaper.StartAsync(start, cancellationToken).ConfigureAwait(false);

        var daemon = new CriuLazyPages(process, Path.Combine(workDirectory, LogName), time);
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        while (!File.Exists(socket))
        {
            if (daemon.Completion.IsCompleted || time.GetUtcNow() > deadline)
            {
                await daemon.DisposeAsync().ConfigureAwait(false);
                var errors = CriuLog.ErrorLines(daemon._logPath);
                throw new CriuException("lazy-pages", "the daemon did not start listening", errors, daemon._logPath);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(5), time, cancellationToken).ConfigureAwait(false);
        }
        return daemon;
    }

    private async Task<LazyPagesOutcome> WatchAsync()
    {
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        ChildReaper.ForgetSpawned(_process.Id);
        bool complete = _process.ExitCode == 0;
        return new LazyPagesOutcome(complete, _time.GetUtcNow(), complete ? [] : CriuLog.ErrorLines(_logPath));
    }

    /// <summary>Stops the daemon if it still runs (the restore failed or was aborted).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
        await Completion.ConfigureAwait(false);
        _process.Dispose();
    }
}
