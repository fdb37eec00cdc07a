using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// CRIU restores a tree with the PIDs it had, in the target agent's PID
/// namespace: each must be free there.
/// </summary>
public static class PidCheck
{
    public const string CheckName = "pids";

    /// <param name="when">When the check is made, for the report: in the pre-flight from the
    /// live tree, and again at restore from the dumped one, which may have grown since.</param>
    public static CheckResult Verify(IEnumerable<int> pids, string when)
    {
        var list = pids.ToList();
        foreach (var pid in list)
        {
            if (pid <= 0)
            {
                return Checks.Fail(CheckName, $"PID {pid} cannot be restored", "check the source's report");
            }
            if (ProcFs.Exists(pid))
            {
                // Which process holds it is the target's business, not the caller's.
                return Checks.Fail(CheckName, $"{when}: PID {pid} is taken on the target",
                    "run the target agent in a PID namespace of its own (unshare --pid --fork --mount-proc), or free the PID");
            }
        }
        return Checks.Pass(CheckName, $"{when}: {Checks.Count(list.Count, "PID")} of the tree free in the target's PID namespace");
    }
}
