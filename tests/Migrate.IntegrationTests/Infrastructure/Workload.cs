using System.Diagnostics;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// Where a workload runs from, when not from the compiled binaries and a
/// directory of its own: for example a directory another host shares.
/// <paramref name="Launcher"/> is a command that execs the workload in place
/// (setpriv, to run it as another user), so its PID stays the workload's.
/// <paramref name="NotOurChild"/> starts it through <c>setsid --fork</c>, so that
/// this process is not its parent: a test that traces it (userfaultfd
/// injection) must not be, as migrate never is, since waitpid reports a traced
/// child's stops to every thread of its parent and the runtime's SIGCHLD
/// handling would take them from the tracer.
/// </summary>
internal sealed record WorkloadPlacement(
    string? Binary = null, string? Directory = null, IReadOnlyDictionary<string, string>? Environment = null, IReadOnlyList<string>? Launcher = null,
    bool NotOurChild = false)
{
    /// <summary>Runs the workload as <paramref name="user"/> (user and group ID, no capabilities), in <paramref name="directory"/>, which it may then write to.</summary>
    public static WorkloadPlacement AsUser(int user, TempDirectory directory)
    {
        File.SetUnixFileMode(directory.Path, (UnixFileMode)0x1ff);
        return new WorkloadPlacement(Directory: directory.Path,
            Launcher: ["setpriv", $"--reuid={user}", $"--regid={user}", "--clear-groups", "--inh-caps=-all"]);
    }
}

/// <summary>
/// A workload of tests/workloads, started by this test and ended by its own
/// PID. It reports through a status file of key=value tokens that it rewrites
/// in place, and that follows it wherever it is restored.
/// </summary>
internal abstract class Workload : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory? _ownDirectory;
    private readonly bool _notOurChild;
    private int? _pid;

    protected Workload(Workloads workloads, string name, Func<string, IEnumerable<string>> arguments, WorkloadPlacement? placement = null)
    {
        if (placement?.Directory is { } directory)
        {
            Directory = directory;
        }
        else
        {
            _ownDirectory = new TempDirectory(name);
            Directory = _ownDirectory.Path;
        }
        var binary = placement?.Binary ?? workloads.Binary(name);
        _notOurChild = placement?.NotOurChild ?? false;
        IReadOnlyList<string> launcher = [.. _notOurChild ? ["setsid", "--fork"] : Array.Empty<string>(), .. placement?.Launcher ?? []];
        var start = new ProcessStartInfo(launcher.Count > 0 ? launcher[0] : binary);
        foreach (var argument in launcher.Count > 0 ? [.. launcher.Skip(1), binary] : Array.Empty<string>())
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var argument in arguments(Directory))
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (variable, value) in placement?.Environment ?? new Dictionary<string, string>())
        {
            start.Environment[variable] = value;
        }
        _process = Process.Start(start)!;
    }

    /// <summary>The PID on the source, which is also its PID inside the target's namespace after a migration.</summary>
    public int Pid => _notOurChild ? _pid ??= (int)Number("pid") : _process.Id;

    /// <summary>Where the status file is.</summary>
    public string Directory { get; }

    protected virtual string StatusFileName => "status";

    public IReadOnlyDictionary<string, string>? Status() => StatusFile.Read(Path.Combine(Directory, StatusFileName));

    protected ulong Number(string key) => StatusFile.Number(Path.Combine(Directory, StatusFileName), key);

    /// <summary>Waits until <paramref name="key"/> exceeds <paramref name="value"/>.</summary>
    protected Task WaitBeyondAsync(string key, ulong value, string what) =>
        StatusFile.WaitBeyondAsync(Path.Combine(Directory, StatusFileName), key, value, what);

    /// <summary>Releases what a workload holds besides its process.</summary>
    protected virtual void Release()
    {
    }

    public void Dispose()
    {
        if (_notOurChild)
        {
            // Its own PID, from its own status file (read before Release, which
            // may remove the directory it lives in); setsid, our child, has long exited.
            var pid = _pid ?? (int)Number("pid");
            if (pid > 0 && ProcFs.Exists(pid))
            {
                ProcFs.Kill(pid);
            }
        }
        else if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        Release();
        _process.Dispose();
        _ownDirectory?.Dispose();
    }
}
