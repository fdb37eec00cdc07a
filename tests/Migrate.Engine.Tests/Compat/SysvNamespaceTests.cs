using Migrate.Engine.Compat;
using Migrate.Engine.Linux;
using static Migrate.Engine.Tests.Compat.SharedMemoryTests;

namespace Migrate.Engine.Tests.Compat;

public sealed class SysvNamespaceTests
{
    private static readonly MemoryArea Segment = Area(Shm, 0, "/SYSV0000beef (deleted)", writable: true);

    [Fact]
    public void A_tree_without_SysV_segments_passes_in_any_IPC_namespace()
    {
        var check = SysvNamespace.Compare(Tree((10, [Private(), Area(Shm, 4, "/dev/zero (deleted)", writable: true)])), ownNamespace: false);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("the tree has no SysV shared memory attached", check.Detail);
    }

    [Fact]
    public void A_segment_attached_in_the_hosts_IPC_namespace_fails_before_the_freeze_and_names_the_fix()
    {
        var check = SysvNamespace.Compare(Tree((10, [Private()]), (11, [Segment])), ownNamespace: false);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal(SysvNamespace.CheckName, check.Name);
        Assert.Equal("task 11 has SysV shared memory segment key 0x0000beef attached and shares this host's IPC namespace: CRIU dumps SysV segments only with an IPC namespace of the tree's own", check.Detail);
        Assert.Contains("PrivateIPC=yes", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void Segments_in_the_trees_own_IPC_namespace_pass_counted_once_each()
    {
        var check = SysvNamespace.Compare(Tree((10, [Segment]), (11, [Segment, Segment with { Inode = 1, Start = 0x7f1000000000 }])), ownNamespace: true);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("2 SysV segments attached, in the tree's own IPC namespace: CRIU moves them with the namespace", check.Detail);
    }
}
