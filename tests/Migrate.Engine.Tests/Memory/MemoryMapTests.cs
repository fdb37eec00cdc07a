using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Memory;

public sealed class MemoryMapTests
{
    [Fact]
    public void A_maps_line_with_spaces_in_its_path_parses_whole()
    {
        var area = ProcFs.Maps.ParseLine("7f12a0000000-7f12a0021000 rw-p 00001000 08:01 1234   /tmp/my data/file (deleted)");

        Assert.Equal(0x7f12a0000000ul, area.Start);
        Assert.Equal(0x21ul, area.Pages);
        Assert.True(area is { Readable: true, Writable: true, Executable: false, Private: true, IsFileBacked: true, HoldsProcessData: true });
        Assert.Equal(0x1000ul, area.Offset);
        Assert.Equal("/tmp/my data/file (deleted)", area.Path);
    }

    [Theory]
    [InlineData("7ffd1000-7ffd3000 r--p 00000000 00:00 0                          [vvar]")]
    [InlineData("7ffd3000-7ffd4000 r--p 00000000 00:00 0                          [vvar_vclock]")]
    [InlineData("7ffd4000-7ffd6000 r-xp 00000000 00:00 0                          [vdso]")]
    [InlineData("7fffffffe000-7ffffffff000 --xp 00000000 00:00 0                  [uprobes]")]
    [InlineData("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0          [vsyscall]")]
    [InlineData("7f0000000000-7f0000001000 rw-s 00000000 00:01 77                 /dev/zero (deleted)")]
    [InlineData("7f0000000000-7f0000001000 ---p 00000000 00:00 0 ")]
    public void Kernel_areas_shared_mappings_and_unreadable_memory_are_not_scanned(string line)
    {
        Assert.False(ProcFs.Maps.ParseLine(line).HoldsProcessData);
    }

    [Fact]
    public void The_heap_and_anonymous_memory_are_scanned()
    {
        Assert.True(ProcFs.Maps.ParseLine("55d4c000-55d6d000 rw-p 00000000 00:00 0                          [heap]").HoldsProcessData);
        Assert.True(ProcFs.Maps.ParseLine("7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ").HoldsProcessData);
    }

    [Fact]
    public void A_real_process_map_includes_this_test_s_heap()
    {
        var areas = ProcFs.Maps.Read(Environment.ProcessId);

        Assert.Contains(areas, area => area.HoldsProcessData && !area.IsFileBacked);
        Assert.Empty(ProcFs.Maps.Read(int.MaxValue));
    }
}
