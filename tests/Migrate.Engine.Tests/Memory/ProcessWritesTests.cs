using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Memory;

public sealed class ProcessWritesTests
{
    private const ulong Base = 0x7f0000000000;

    [Fact]
    public void Written_ranges_are_read_in_address_order_each_page_once_where_they_overlap()
    {
        var writes = new ProcessWrites(Pid: 1, Round: 2,
            Written: [Range(4, 6), Range(0, 2), Range(1, 3), Range(5, 6), Range(8, 9)], Whole: []);

        // No whole ranges: the pagemap is never asked.
        var runs = writes.Runs(resident: null!).ToList();

        Assert.Equal([new PageRun(Page(0), 2), new PageRun(Page(2), 1), new PageRun(Page(4), 2), new PageRun(Page(8), 1)], runs);
    }

    private static ulong Page(int index) => Base + ((ulong)index << PageSize.Shift);

    private static PageRange Range(int first, int end) => new(Page(first), Page(end));
}
