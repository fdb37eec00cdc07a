using System.Globalization;
using System.Threading.Channels;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.IntegrationTests.Infrastructure;
using ProcFs = Migrate.IntegrationTests.Infrastructure.ProcFs;

namespace Migrate.IntegrationTests;

/// <summary>
/// Write tracking by userfaultfd write-protect on real processes: each round
/// names exactly the pages written since the last, and every page whose
/// content the tracker cannot vouch for (new and moved memory, new children,
/// memory the process tracks itself) is read whole.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class WriteProtectTrackerTests(Workloads workloads)
{
    private const int PageBytes = 4096;

    [Fact]
    public async Task Exactly_the_hot_set_is_reported_round_after_round()
    {
        const int SizeMiB = 64, HotMiB = 4;
        using var dirtier = await Dirtier.StartAsync(workloads, SizeMiB, HotMiB, rateMiBPerSecond: 0, new WorkloadPlacement(NotOurChild: true));
        ulong buffer = Address(dirtier.Status()!["base"]);
        var bufferRange = new PageRange(buffer, buffer + (SizeMiB << 20));
        using var tracker = new WriteProtectTracker();

        var first = Assert.Single(tracker.Scan([dirtier.Pid]));
        Assert.Null(first.Unavailable);
        Assert.Contains(first.Whole, whole => whole.Reason == WholeReason.NewProcess && Covers(whole.Range, bufferRange));

        // The dirtier never rewrites its deliberate zero pages (N % 1000 == 7 or 9).
        var hot = Enumerable.Range(0, HotMiB * 256).Where(page => page % 1000 is not (7 or 9)).Select(page => buffer + (ulong)page * PageBytes).ToHashSet();
        for (int round = 2; round <= 4; round++)
        {
            // Enough rewrites that every hot page is hit: 20 per page misses one with odds e^-20.
            ulong writes = dirtier.Writes;
            await Eventually.WaitAsync(() => dirtier.Writes > writes + 20 * (ulong)hot.Count, "the hot set to be rewritten");

            var tracked = Assert.Single(tracker.Scan([dirtier.Pid]));

            Assert.Equal(round, tracked.Round);
            Assert.DoesNotContain(tracked.Whole, whole => Overlaps(whole.Range, bufferRange));
            var reported = Pages(tracked.Written).Where(page => page >= bufferRange.Start && page < bufferRange.End).ToHashSet();
            Assert.True(hot.SetEquals(reported), $"round {round}: {reported.Except(hot).Count()} pages reported outside the hot set, {hot.Except(reported).Count()} hot pages missed");
        }
        var area = Assert.Single(tracker.Areas(dirtier.Pid), area => area.Start <= buffer && area.End >= bufferRange.End);
        Assert.True(area is { Registered: true, FirstRound: 1, LastScannedRound: 4 });

        tracker.Dispose();
        await AssertUntouchedAsync(dirtier);
    }

    [Fact]
    public async Task The_written_pages_are_read_into_batches_as_they_are()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        ulong region = await shifter.AddressAsync("map 1");
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);

        await shifter.CommandAsync("write 1 5 3");
        var writes = Assert.Single(tracker.Scan([shifter.Pid]));
        var channel = Channel.CreateUnbounded<PageBatchBuilder>();
        var counts = await PageScanner.ReadWritesAsync(writes, (builder, address, pages) => builder.Keep(address, pages), channel.Writer, default);
        channel.Writer.Complete();

        var read = new Dictionary<ulong, byte[]>();
        await foreach (var batch in channel.Reader.ReadAllAsync())
        {
            using (batch)
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    read[batch.Addresses[i]] = batch.Pages.Slice(i * PageBytes, PageBytes).ToArray();
                }
            }
        }
        Assert.Equal(writes.WrittenPages, counts.Scanned);
        var expected = Enumerable.Range(5, 3).Select(page => region + (ulong)page * PageBytes).ToList();
        Assert.Equal(expected, read.Keys.Where(address => address >= region && address < region + (1 << 20)).Order());
        var direct = new byte[PageBytes];
        foreach (var address in expected)
        {
            Assert.Equal(PageBytes, ProcessMemory.Read(shifter.Pid, address, direct));
            Assert.Equal(direct, read[address]);
        }
    }

    [Fact]
    public async Task A_new_mapping_is_read_whole_once_then_tracked()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);

        ulong mapped = await shifter.AddressAsync("map 2");
        var region = new PageRange(mapped, mapped + (2 << 20));
        var second = Assert.Single(tracker.Scan([shifter.Pid]));

        Assert.True(CoveredBy(region, second.Whole.Where(whole => whole.Reason is WholeReason.NewArea or WholeReason.GrownArea)),
            $"the new region {region} is not read whole: {string.Join(", ", second.Whole)}");
        Assert.DoesNotContain(second.Written, range => Overlaps(range, region));

        await shifter.CommandAsync("write 1 0 1");
        var third = Assert.Single(tracker.Scan([shifter.Pid]));
        Assert.DoesNotContain(third.Whole, whole => Overlaps(whole.Range, region));
        Assert.Equal([mapped], Pages(third.Written).Where(page => page >= region.Start && page < region.End));
        tracker.Dispose();
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_region_moved_by_mremap_is_read_whole_at_its_new_address()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        await shifter.AddressAsync("map 4");
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);
        tracker.Scan([shifter.Pid]);

        ulong moved = await shifter.AddressAsync("move 1");
        var region = new PageRange(moved, moved + (4 << 20));
        var afterMove = Assert.Single(tracker.Scan([shifter.Pid]));

        var toSend = Pages(afterMove.Written).Concat(afterMove.Whole.SelectMany(whole => Pages([whole.Range]))).ToHashSet();
        Assert.True(Pages([region]).All(toSend.Contains), $"pages of the moved region {region} are not to be sent: {string.Join(", ", afterMove.Whole)}");

        var quiet = Assert.Single(tracker.Scan([shifter.Pid]));
        Assert.DoesNotContain(quiet.Whole, whole => Overlaps(whole.Range, region));
        Assert.DoesNotContain(quiet.Written, range => Overlaps(range, region));

        await shifter.CommandAsync("write 1 3 2");
        var written = Assert.Single(tracker.Scan([shifter.Pid]));
        Assert.Equal([moved + 3 * PageBytes, moved + 4 * PageBytes], Pages(written.Written).Where(page => page >= region.Start && page < region.End));
        tracker.Dispose();
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_child_forked_while_tracked_is_read_whole_then_tracked_on_its_own()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);
        tracker.Scan([shifter.Pid]);
        var region0 = await Region0Async(shifter);

        int child = await shifter.ForkAsync();
        await Eventually.WaitAsync(() => shifter.ChildStatus() is { } status && status["verify"] == "ok", "the child to start");
        var round = tracker.Scan([shifter.Pid, child]);

        var parent = Assert.Single(round, writes => writes.Pid == shifter.Pid);
        Assert.DoesNotContain(parent.Written, range => Overlaps(range, region0));
        var first = Assert.Single(round, writes => writes.Pid == child);
        Assert.Null(first.Unavailable);
        Assert.Contains(first.Whole, whole => whole.Reason == WholeReason.NewProcess && Covers(whole.Range, region0));

        ulong rounds = ulong.Parse(shifter.ChildStatus()!["rounds"], CultureInfo.InvariantCulture);
        await Eventually.WaitAsync(() => ulong.Parse(shifter.ChildStatus()!["rounds"], CultureInfo.InvariantCulture) > rounds + 2, "the child to rewrite its pages");
        var next = Assert.Single(tracker.Scan([shifter.Pid, child]), writes => writes.Pid == child);
        Assert.Equal(Enumerable.Range(0, 8).Select(page => region0.Start + (ulong)page * PageBytes),
            Pages(next.Written).Where(page => page >= region0.Start && page < region0.End));
        Assert.DoesNotContain(next.Whole, whole => Overlaps(whole.Range, region0));

        tracker.Dispose();
        Assert.DoesNotContain("anon_inode:[userfaultfd]", ProcFs.DescriptorTargets(child));
        Assert.Equal(0, ProcFs.TracerPid(child));
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task Memory_the_process_registered_with_its_own_userfaultfd_is_read_whole_every_round()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        ulong own = await shifter.AddressAsync("map 1");
        await shifter.CommandAsync("uffd 1");
        var region = new PageRange(own, own + (1 << 20));
        using var tracker = new WriteProtectTracker();

        for (int round = 1; round <= 3; round++)
        {
            var writes = Assert.Single(tracker.Scan([shifter.Pid]));
            var whole = Assert.Single(writes.Whole, whole => Covers(whole.Range, region));
            Assert.Equal(WholeReason.NotRegistered, whole.Reason);
            Assert.Equal(Errno.EBUSY, whole.RegisterError);
        }
        var area = Assert.Single(tracker.Areas(shifter.Pid), area => area.Start <= own && area.End >= region.End);
        Assert.True(area is { Registered: false, RegisterError: Errno.EBUSY });

        tracker.Dispose();
        // Its own userfaultfd, and only that one, is still there.
        Assert.Single(ProcFs.DescriptorTargets(shifter.Pid), target => target == "anon_inode:[userfaultfd]");
        await shifter.WaitForSpinsAsync();
        await shifter.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task Threads_spinning_in_one_loop_are_tracked_and_go_on()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        await shifter.CommandAsync("threads 3");
        var region0 = await Region0Async(shifter);
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);

        await shifter.CommandAsync("write 0 10 1");
        var writes = Assert.Single(tracker.Scan([shifter.Pid]));

        Assert.Equal([region0.Start + 10 * PageBytes], Pages(writes.Written).Where(page => page >= region0.Start && page < region0.End));
        tracker.Dispose();
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_process_of_nobody_is_tracked()
    {
        using var shifter = await Shifter.StartAsync(workloads, "read", user: UserfaultfdInjectionTests.Nobody);
        var region0 = await Region0Async(shifter);
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);

        await shifter.CommandAsync("write 0 0 4");
        var writes = Assert.Single(tracker.Scan([shifter.Pid]));

        Assert.Null(writes.Unavailable);
        Assert.Equal(Enumerable.Range(0, 4).Select(page => region0.Start + (ulong)page * PageBytes),
            Pages(writes.Written).Where(page => page >= region0.Start && page < region0.End));
        tracker.Dispose();
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_process_under_seccomp_is_not_tracked_and_read_whole()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        await shifter.CommandAsync("seccomp");
        using var tracker = new WriteProtectTracker();

        var writes = Assert.Single(tracker.Scan([shifter.Pid]));

        Assert.Equal(WriteTrackingProblem.Seccomp, writes.Unavailable?.Problem);
        Assert.Empty(writes.Written);
        Assert.NotEmpty(writes.Whole);
        Assert.All(writes.Whole, whole => Assert.Equal(WholeReason.ProcessNotTracked, whole.Reason));
        await AssertUntouchedAsync(shifter);
    }

    [Fact]
    public async Task A_process_that_execs_is_tracked_anew()
    {
        using var shifter = await Shifter.StartAsync(workloads, "spin");
        using var tracker = new WriteProtectTracker();
        tracker.Scan([shifter.Pid]);

        await shifter.ExecAsync();
        var region0 = await Region0Async(shifter);
        var writes = Assert.Single(tracker.Scan([shifter.Pid]));

        Assert.Null(writes.Unavailable);
        Assert.Contains(writes.Whole, whole => whole.Reason == WholeReason.NewProcess && Covers(whole.Range, region0));
        await shifter.CommandAsync("write 0 1 1");
        var next = Assert.Single(tracker.Scan([shifter.Pid]));
        Assert.Equal([region0.Start + PageBytes], Pages(next.Written).Where(page => page >= region0.Start && page < region0.End));
        tracker.Dispose();
        await AssertUntouchedAsync(shifter);
    }

    /// <summary>Region 0 of a shifter: the 4 MiB it maps and fills at start.</summary>
    private static async Task<PageRange> Region0Async(Shifter shifter)
    {
        var status = await Eventually.WaitAsync(shifter.Status, "the shifter's status");
        ulong start = Address(status["base"]);
        return new PageRange(start, start + (4 << 20));
    }

    private static ulong Address(string text) => ulong.Parse(text["0x".Length..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static IEnumerable<ulong> Pages(IEnumerable<PageRange> ranges) =>
        ranges.SelectMany(range => Enumerable.Range(0, (int)range.Pages).Select(page => range.Start + (ulong)page * PageBytes));

    private static bool Covers(PageRange outer, PageRange inner) => outer.Start <= inner.Start && outer.End >= inner.End;

    private static bool Overlaps(PageRange a, PageRange b) => a.Start < b.End && b.Start < a.End;

    private static bool CoveredBy(PageRange range, IEnumerable<WholeRange> wholes)
    {
        var pages = Pages(wholes.Select(whole => whole.Range)).ToHashSet();
        return Pages([range]).All(pages.Contains);
    }

    private static async Task AssertUntouchedAsync(Workload workload)
    {
        Assert.DoesNotContain("anon_inode:[userfaultfd]", ProcFs.DescriptorTargets(workload.Pid));
        Assert.Equal(0, ProcFs.TracerPid(workload.Pid));
        switch (workload)
        {
            case Shifter shifter:
                await shifter.WaitForTicksAsync();
                await shifter.VerifyEveryPageAsync();
                break;
            case Dirtier dirtier:
                await dirtier.VerifyEveryPageAsync();
                break;
        }
    }
}
