using System.Diagnostics;
using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Bench;

/// <summary>
/// A workload (heapfill or dirtier) this tool started as its child, so that
/// its PID stays its own until this tool has collected it: after the commit
/// kills the source copy, nothing else can take the PID while it is a zombie.
/// </summary>
internal sealed class BenchWorkload : IDisposable
{
    private readonly Process _process;

    private BenchWorkload(string name, Process process, StatusFile status)
    {
        Name = name;
        _process = process;
        Status = status;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public StatusFile Status { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts BINARY STATUS_FILE ARGUMENTS... and waits until its memory is filled and verified once.</summary>
    public static async Task<BenchWorkload> StartAsync(
        string name, string binary, string directory, IEnumerable<object> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var status = new StatusFile(Path.Combine(directory, name + ".status"));
        File.Delete(status.Path);
        var process = ChildProcess.Start(binary, [status.Path, .. arguments.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture)!)], redirect: false);
        var workload = new BenchWorkload(name, process, status);
        if (!await Poll.UntilAsync(() => process.HasExited || status.HasPasses(1), timeout, cancellationToken) || process.HasExited)
        {
            workload.Dispose();
            throw new LabException($"workload {name} was not ready within {timeout.TotalSeconds:F0} s: {status.Describe()}");
        }
        return workload;
    }

    /// <summary>Waits until the commit's SIGKILL has ended the source copy, and collects it.</summary>
    public Task<bool> EndedAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Poll.UntilAsync(() => _process.HasExited, timeout, cancellationToken);

    /// <summary>Ends it if it still runs here (not migrated, or rolled back).</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
