using Migrate.Protocol;

namespace Migrate.Engine.Compat;

/// <summary>
/// CRIU restores a tree with the PIDs it had, in the target agent's PID
/// namespace: each must be free there.
/// </summary>
public static class PidCheck
{
    public const string CheckName = "pids";

    public static CheckResult Verify(IEnumerable<int> pids)
    {
        var list = pids.ToList();
        foreach (var pid in list)
        {
            if (pid <= 0)
            {
                return Checks.Fail(CheckName, $"PID {pid} cannot be restored", "check the source's report");
            }
            if (Directory.Exists($"/proc/{pid}"))
            {
                return Checks.Fail(CheckName, $"PID {pid} is taken on the target by {Command(pid)}",
                    "run the target agent in a PID namespace of its own (unshare --pid --fork --mount-proc), or free the PID");
            }
        }
        return Checks.Pass(CheckName, $"the tree's {list.Count} PIDs are free in the target's PID namespace");
    }

    private static string Command(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return "a process that has just exited";
        }
    }
}
