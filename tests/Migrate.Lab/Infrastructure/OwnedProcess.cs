using System.Diagnostics;

namespace Migrate.Lab.Infrastructure;

/// <summary>
/// A process this tool started, or found where it put one, known by its PID
/// and start time so that a reused PID is never signalled. Ended by its PID
/// only, never by name.
/// </summary>
internal sealed record OwnedProcess(int Pid, ulong StartTime)
{
    private static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(10);

    /// <exception cref="LabException">PID is gone already.</exception>
    public static OwnedProcess Of(int pid) => Find(pid) ?? throw new LabException($"PID {pid} is gone already");

    /// <summary>The process that is PID now, or null if there is none.</summary>
    public static OwnedProcess? Find(int pid) => ProcFs.StartTime(pid) is { } start ? new OwnedProcess(pid, start) : null;

    /// <summary>It exists, is the process recorded, and is not a zombie.</summary>
    public bool IsAlive => ProcFs.StartTime(Pid) == StartTime && ProcFs.State(Pid) is not (null or 'Z');

    /// <summary>SIGKILL, which a stopped process obeys too, then waits until it is gone.</summary>
    public async Task EndAsync()
    {
        if (!IsAlive)
        {
            return;
        }
        try
        {
            using var process = Process.GetProcessById(Pid);
            if (ProcFs.StartTime(Pid) == StartTime)
            {
                process.Kill();
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return; // gone in between
        }
        if (!await Poll.UntilAsync(() => !IsAlive, KillGrace, CancellationToken.None))
        {
            Log.Warning($"PID {Pid} survived SIGKILL");
        }
    }
}

/// <summary>Every process this tool owns at a time, ended together by their PIDs.</summary>
internal sealed class OwnedProcesses
{
    private readonly List<OwnedProcess> _processes = [];

    public OwnedProcess Add(OwnedProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public async Task EndAllAsync()
    {
        foreach (var process in _processes)
        {
            await process.EndAsync();
        }
        _processes.Clear();
    }
}
