using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// Whether CRIU can read the resource limits of every task it is to dump. It
/// reads them with prlimit(2), which needs CAP_SYS_RESOURCE for a task of another
/// user; root lacks it on many hosts (this one, microVMs, containers). Without
/// it an unpatched CRIU fails the dump ("Can't get rlimit 0: Operation not
/// permitted") once the tree is frozen, so the check refuses first. The project's
/// CRIU reads /proc/PID/limits instead (scripts/criu, patch 0002).
/// </summary>
public static class LimitsAccess
{
    public const string CheckName = "resource-limits";

    /// <param name="criuReadsProcLimits">The CRIU in use falls back to /proc/PID/limits (<see cref="Criu.CriuFeatureSet.ReadsProcLimits"/>).</param>
    /// <param name="canRead">Whether prlimit(2) may read a task's limits; <see cref="ResourceLimits.CanRead"/> on a real host.</param>
    public static CheckResult Check(IReadOnlyList<int> pids, bool criuReadsProcLimits, Func<int, bool> canRead)
    {
        var refused = pids.Where(pid => !canRead(pid)).ToList();
        if (refused.Count == 0)
        {
            return Checks.Pass(CheckName, $"prlimit(2) reads the limits of all {Checks.Count(pids.Count, "task")}");
        }
        var tasks = string.Join(", ", refused.Take(5)) + (refused.Count > 5 ? ", ..." : "");
        if (criuReadsProcLimits)
        {
            return Checks.Pass(CheckName,
                $"prlimit(2) may not read the limits of {Checks.Count(refused.Count, "task")} of another user ({tasks}): CRIU reads them from /proc/PID/limits");
        }
        return Checks.Fail(CheckName,
            $"CRIU cannot read the resource limits of {Checks.Count(refused.Count, "task")} ({tasks}): they belong to another user, and prlimit(2) on them needs CAP_SYS_RESOURCE, which migrate lacks here",
            "use the CRIU that scripts/setup.sh or the migrate package installs (its patch 0002 reads /proc/PID/limits), or run migrate with CAP_SYS_RESOURCE");
    }
}
