using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Memory;

public sealed class PageRangesTests
{
    [Fact]
    public void Adjacent_and_overlapping_pages_merge_into_runs_in_any_order()
    {
        var ranges = new PageRanges();

        ranges.Add(0x10000, 2);
        ranges.Add(0x30000, 1);
        ranges.Add(0x12000, 1);
        ranges.Add(0x2f000, 3);
        ranges.Add(0x5000, 1);

        Assert.Equal([(0x5000UL, 0x6000UL), (0x10000UL, 0x13000UL), (0x2f000UL, 0x32000UL)], ranges.Runs);
        Assert.Equal(7, ranges.Pages);
        Assert.True(ranges.Contains(0x10000, 3));
        Assert.False(ranges.Contains(0x10000, 4));
        Assert.False(ranges.Contains(0x6000));
        Assert.True(ranges.Contains(0x31000));
    }

    [Fact]
    public void Gaps_are_the_parts_of_a_range_the_set_lacks_in_address_order()
    {
        var ranges = new PageRanges();
        ranges.Add(0x10000, 2);
        ranges.Add(0x14000, 1);

        Assert.Equal([new PageRange(0xe000, 0x10000), new PageRange(0x12000, 0x14000), new PageRange(0x15000, 0x17000)],
            ranges.Gaps(0xe000, 9).ToList());
        Assert.Empty(ranges.Gaps(0x10000, 2));
        Assert.Equal([new PageRange(0x11000, 0x13000)], new PageRanges().Gaps(0x11000, 2).ToList());
        Assert.Equal([new PageRange(0x12000, 0x13000)], ranges.Gaps(0x11000, 2).ToList());
    }
}
