using Migrate.Engine.Compat;

namespace Migrate.Engine.Tests.Compat;

public sealed class LimitsAccessTests
{
    private static readonly int[] Tree = [10, 11, 12];

    [Fact]
    public void A_tree_whose_limits_prlimit_reads_passes_with_any_CRIU()
    {
        var check = LimitsAccess.Check(Tree, criuReadsProcLimits: false, canRead: _ => true);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("prlimit(2) reads the limits of all 3 tasks", check.Detail);
    }

    [Fact]
    public void Tasks_of_another_user_fail_before_the_freeze_when_CRIU_knows_only_prlimit()
    {
        var check = LimitsAccess.Check(Tree, criuReadsProcLimits: false, canRead: pid => pid == 10);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal(LimitsAccess.CheckName, check.Name);
        Assert.Equal("CRIU cannot read the resource limits of 2 tasks (11, 12): they belong to another user, and prlimit(2) on them needs CAP_SYS_RESOURCE, which migrate lacks here", check.Detail);
        Assert.Contains("patch 0002", check.Remedy, StringComparison.Ordinal);
        Assert.Contains("CAP_SYS_RESOURCE", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void Tasks_of_another_user_pass_when_CRIU_reads_proc_limits()
    {
        var check = LimitsAccess.Check(Tree, criuReadsProcLimits: true, canRead: pid => pid == 10);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("prlimit(2) may not read the limits of 2 tasks of another user (11, 12): CRIU reads them from /proc/PID/limits", check.Detail);
    }

    [Fact]
    public void A_long_list_of_tasks_is_cut_after_five()
    {
        var check = LimitsAccess.Check(Enumerable.Range(100, 8).ToList(), criuReadsProcLimits: false, canRead: _ => false);

        Assert.StartsWith("CRIU cannot read the resource limits of 8 tasks (100, 101, 102, 103, 104, ...)", check.Detail, StringComparison.Ordinal);
    }
}
