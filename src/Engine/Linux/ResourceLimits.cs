namespace Migrate.Engine.Linux;

/// <summary>Another process's resource limits, as CRIU's dump reads them: through prlimit(2).</summary>
public static class ResourceLimits
{
    /// <summary>
    /// Whether this process may read <paramref name="pid"/>'s limits with
    /// prlimit(2): it may when its real, effective and saved user IDs match the
    /// other's, or with CAP_SYS_RESOURCE (man 2 prlimit). A process that has gone
    /// has nothing left to read, and counts as readable.
    /// </summary>
    public static unsafe bool CanRead(int pid)
    {
        Interop.Rlimit limit;
        if (Interop.Prlimit(pid, Interop.RlimitNofile, null, &limit) == 0)
        {
            return true;
        }
        var error = LinuxException.FromLastError("prlimit", $"pid {pid}");
        return error.Errno switch
        {
            Errno.EPERM => false,
            Errno.ESRCH => true,
            _ => throw error,
        };
    }
}
