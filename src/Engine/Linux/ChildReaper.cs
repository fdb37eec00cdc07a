using System.Collections.Concurrent;

namespace Migrate.Engine.Linux;

/// <summary>
/// Reaps children this process adopted: restored process trees (restored as
/// our siblings' children, or reparented to us as subreaper or PID-namespace
/// init). Children started through <see cref="System.Diagnostics.Process"/>
/// are left alone, since the runtime waits for those itself.
/// </summary>
public static class ChildReaper
{
    private static readonly ConcurrentDictionary<int, byte> Spawned = new();

    /// <summary>
    /// Held by whoever starts a child, from before <see cref="System.Diagnostics.Process.Start()"/>
    /// until <see cref="TrackSpawned"/>, and by <see cref="ReapExited"/> while it
    /// looks: so no child is ever between the two when reaping. CRIU's launcher
    /// holds it longer, while its socket end is inheritable.
    /// </summary>
    internal static SemaphoreSlim SpawnGate { get; } = new(1, 1);

    /// <summary>Marks a child the runtime's Process class will reap.</summary>
    internal static void TrackSpawned(int pid) => Spawned[pid] = 0;

    internal static void ForgetSpawned(int pid) => Spawned.TryRemove(pid, out _);

    /// <summary>A child this process started itself (CRIU, a lazy-pages daemon), not a restored task.</summary>
    internal static bool IsSpawned(int pid) => Spawned.ContainsKey(pid);

    /// <summary>
    /// Starts a child the runtime's Process class waits for, marked so that
    /// <see cref="ReapExited"/> leaves it alone: reaped by us, its exit would
    /// never reach Process, and whoever waits for it would wait for ever.
    /// Call <see cref="ForgetSpawned"/> once it has exited.
    /// </summary>
    internal static async Task<System.Diagnostics.Process> StartAsync(System.Diagnostics.ProcessStartInfo start, CancellationToken cancellationToken)
    {
        await SpawnGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
            TrackSpawned(process.Id);
            return process;
        }
        finally
        {
            SpawnGate.Release();
        }
    }

    /// <summary>
    /// Makes orphaned descendants reparent to this process, unless it already
    /// is its PID namespace's init, which adopts them anyway (man 2 prctl,
    /// PR_SET_CHILD_SUBREAPER).
    /// </summary>
    public static void AdoptOrphans()
    {
        if (Environment.ProcessId != 1)
        {
            Interop.CheckIo(Interop.Prctl(Interop.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)");
        }
    }

    /// <summary>Reaps every adopted child that has exited. Returns how many.</summary>
    public static int ReapExited()
    {
        SpawnGate.Wait();
        try
        {
            int reaped = 0;
            foreach (int pid in ProcFs.Children.OfSelf().Where(pid => !Spawned.ContainsKey(pid) && ProcFs.Stat.Read(pid)?.State == 'Z'))
            {
                if (TryReap(pid))
                {
                    reaped++;
                }
            }
            return reaped;
        }
        finally
        {
            SpawnGate.Release();
        }
    }

    /// <summary>Reaps <paramref name="pid"/> if it has exited. Returns false if it has not, or is not our child (man 2 waitpid).</summary>
    private static unsafe bool TryReap(int pid)
    {
        int status;
        return Interop.WaitPid(pid, &status, Interop.WNOHANG) == pid;
    }
}
