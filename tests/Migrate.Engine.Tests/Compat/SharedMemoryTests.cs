using Migrate.Engine.Compat;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Compat;

public sealed class SharedMemoryTests
{
    internal static readonly DeviceNumber Shm = new(0, 1);
    private static readonly DeviceNumber Tmpfs = new(0, 0x1a);

    [Fact]
    public void Memory_shared_within_the_tree_passes()
    {
        var anonymous = Area(Shm, 40, "/dev/zero (deleted)", writable: true);
        var tree = Tree((10, [anonymous, Private()]), (11, [anonymous]));

        var check = SharedMemory.Compare(tree, [Process(20, Private())]);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("1 shared memory object, shared within the tree only", check.Detail);
    }

    [Fact]
    public void Memory_a_process_outside_the_tree_maps_too_fails_and_names_both()
    {
        var tree = Tree((10, [Private(), Area(Tmpfs, 7, "/dev/shm/cache", writable: true)]));

        var check = SharedMemory.Compare(tree, [Process(20, Area(Tmpfs, 7, "/dev/shm/cache", writable: false))]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("task 10 shares the mapping of /dev/shm/cache with PID 20, which is not in the tree: after the move each would write its own copy", check.Detail);
        Assert.Contains("stop PID 20", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void Processes_whose_maps_could_not_be_read_are_named()
    {
        var anonymous = Area(Shm, 40, "/dev/zero (deleted)", writable: true);

        var check = SharedMemory.Compare(Tree((10, [anonymous])), [], hidden: [1]);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("1 shared memory object, shared within the tree only; the maps of 1 process could not be read (PID 1)", check.Detail);
    }

    [Theory]
    [InlineData("/SYSV0000beef (deleted)", "SysV shared memory segment key 0x0000beef")]
    [InlineData("/memfd:pool (deleted)", "memfd pool")]
    [InlineData("/dev/zero (deleted)", "anonymous shared memory")]
    public void The_kind_of_shared_memory_is_named(string path, string kind)
    {
        var area = Area(Shm, 9, path, writable: true);

        var check = SharedMemory.Compare(Tree((10, [area])), [Process(20, area)]);

        Assert.StartsWith($"task 10 shares {kind} with PID 20", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_first_SysV_segment_whose_shmid_and_inode_are_0_is_compared_too()
    {
        var segment = Area(Shm, 0, "/SYSV00000000 (deleted)", writable: true);

        var check = SharedMemory.Compare(Tree((10, [segment])), [Process(20, segment)]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.StartsWith("task 10 shares SysV shared memory segment key 0x00000000 with PID 20", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_both_map_read_only_cannot_diverge_and_passes()
    {
        var font = Area(new DeviceNumber(0xfd, 0), 123, "/usr/share/fonts/cache", writable: false);

        var check = SharedMemory.Compare(Tree((10, [font])), [Process(20, font)]);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
    }

    [Fact]
    public void Another_object_with_the_same_inode_on_another_device_is_not_the_same()
    {
        var check = SharedMemory.Compare(
            Tree((10, [Area(Shm, 5, "/dev/zero (deleted)", writable: true)])),
            [Process(20, Area(Tmpfs, 5, "/dev/shm/x", writable: true))]);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
    }

    [Fact]
    public void Private_mappings_of_one_file_are_not_shared()
    {
        var library = Area(new DeviceNumber(0xfd, 0), 77, "/usr/lib/libc.so.6", writable: false) with { Private = true };

        var check = SharedMemory.Compare(Tree((10, [library])), [Process(20, library)]);

        Assert.Equal("the tree maps no shared memory", check.Detail);
    }

    internal static Dictionary<int, IReadOnlyList<MemoryArea>> Tree(params (int Pid, MemoryArea[] Areas)[] tasks) =>
        tasks.ToDictionary(task => task.Pid, task => (IReadOnlyList<MemoryArea>)task.Areas);

    private static KeyValuePair<int, IReadOnlyList<MemoryArea>> Process(int pid, params MemoryArea[] areas) => new(pid, areas);

    internal static MemoryArea Area(DeviceNumber device, ulong inode, string path, bool writable) =>
        new(0x7f0000000000, 0x7f0000100000, Readable: true, writable, Executable: false, Private: false, 0, device, inode, path);

    internal static MemoryArea Private() =>
        new(0x600000, 0x700000, Readable: true, Writable: true, Executable: false, Private: true, 0, default, 0, "");
}
