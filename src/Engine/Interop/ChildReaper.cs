using System.Collections.Concurrent;
using System.Globalization;

namespace Migrate.Engine.Interop;

/// <summary>
/// Reaps children this process adopted: restored process trees (restored as
/// our siblings' children, or reparented to us as subreaper or PID-namespace
/// init). Children started through <see cref="System.Diagnostics.Process"/>
/// are left alone, since the runtime waits for those itself.
/// </summary>
public static class ChildReaper
{
    private static readonly ConcurrentDictionary<int, byte> Spawned = new();

    /// <summary>Marks a child the runtime's Process class will reap.</summary>
    internal static void TrackSpawned(int pid) => Spawned[pid] = 0;

    internal static void ForgetSpawned(int pid) => Spawned.TryRemove(pid, out _);

    /// <summary>A child this process started itself (CRIU, a lazy-pages daemon), not a restored task.</summary>
    internal static bool IsSpawned(int pid) => Spawned.ContainsKey(pid);

    /// <summary>
    /// Makes orphaned descendants reparent to this process, unless it already
    /// is its PID namespace's init, which adopts them anyway.
    /// </summary>
    public static void AdoptOrphans()
    {
        if (Environment.ProcessId != 1)
        {
            Linux.BecomeChildSubreaper();
        }
    }

    /// <summary>Reaps every adopted child that has exited. Returns how many.</summary>
    public static int ReapExited()
    {
        // Holding the spawn gate means no child is between Process.Start and
        // TrackSpawned while we look.
        CriuSpawnGate.Wait();
        try
        {
            int reaped = 0;
            foreach (int pid in Children().Where(pid => !Spawned.ContainsKey(pid) && IsZombie(pid)))
            {
                if (Linux.TryReap(pid))
                {
                    reaped++;
                }
            }
            return reaped;
        }
        finally
        {
            CriuSpawnGate.Release();
        }
    }

    private static SemaphoreSlim CriuSpawnGate => Criu.CriuSwrk.SpawnGate;

    private static IEnumerable<int> Children()
    {
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string children;
            try
            {
                children = File.ReadAllText(Path.Combine(task, "children"));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                continue;
            }
            foreach (var word in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return int.Parse(word, CultureInfo.InvariantCulture);
            }
        }
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] == 'Z';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }
}
