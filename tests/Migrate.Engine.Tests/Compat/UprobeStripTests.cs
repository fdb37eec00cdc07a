using Migrate.Engine.Compat;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;
using Migrate.Engine.Tests.Images;

namespace Migrate.Engine.Tests.Compat;

/// <summary>Writing a site's original byte back into CRIU's images, found through the pagemap.</summary>
public sealed class UprobeStripTests : IDisposable
{
    private const int Pid = 20004;
    private readonly TempDirectory _directory = new();

    [Fact]
    public void The_site_s_byte_is_written_where_the_pagemap_puts_its_page()
    {
        var images = CopyRecordedDump("final");
        var pagemap = PagemapImage.Read(Path.Combine(images, PagemapImage.FileName(Pid)));
        var runs = pagemap.Runs.Where(run => run.InPagesFile).ToList();
        // The third page of a run after the first: its offset counts every page before it.
        int index = runs.FindIndex(1, run => run.Pages >= 3);
        var run = runs[index];
        ulong address = run.Address + 2 * 4096 + 0x123;
        long expected = (runs.Take(index).Sum(r => r.Pages) + 2) * 4096 + 0x123;
        var before = File.ReadAllBytes(Path.Combine(images, "pages-1.img"));

        UprobeStrip.Apply(images, [Site(address, original: 0x55)]);

        var after = File.ReadAllBytes(Path.Combine(images, "pages-1.img"));
        Assert.Equal(0x55, after[expected]);
        after[expected] = before[expected];
        Assert.Equal(before, after);
    }

    [Fact]
    public void A_page_left_in_a_parent_image_set_is_patched_there()
    {
        var parent = CopyRecordedDump("pre-1");
        var final = Path.Combine(_directory.Path, "final");
        Directory.CreateDirectory(final);
        File.CreateSymbolicLink(Path.Combine(final, "parent"), "../pre-1");
        // A soft-dirty dump that found nothing new: every run is in the parent.
        var runs = PagemapImage.Read(Path.Combine(parent, PagemapImage.FileName(Pid))).Runs;
        var entries = new List<Google.Protobuf.IMessage> { new PagemapHead { PagesId = 2 } };
        entries.AddRange(runs.Select(run => new PagemapEntry
        {
            Vaddr = run.Address,
            CompatNrPages = (uint)run.Pages,
            NrPages = (ulong)run.Pages,
            Flags = PagemapRun.InParent,
        }));
        File.WriteAllBytes(Path.Combine(final, PagemapImage.FileName(Pid)), ImageWriter.Write(ImageMagic.Pagemap, entries));
        File.WriteAllBytes(Path.Combine(final, "pages-2.img"), []);
        var first = runs.First(run => run.InPagesFile);

        UprobeStrip.Apply(final, [Site(first.Address + 7, original: 0x90)]);

        Assert.Equal(0x90, File.ReadAllBytes(Path.Combine(parent, "pages-1.img"))[7]);
    }

    [Fact]
    public void A_site_on_a_page_the_images_do_not_hold_is_refused()
    {
        var images = CopyRecordedDump("final");

        Assert.Throws<InvalidDataException>(() => UprobeStrip.Apply(images, [Site(0x1000, original: 0x90)]));
    }

    public void Dispose() => _directory.Dispose();

    private static UprobeSite Site(ulong address, byte original) => new(Pid, address, "/bin/sleep", FileOffset: 0, original, Symbol: "");

    private string CopyRecordedDump(string name)
    {
        var copy = Path.Combine(_directory.Path, name);
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(ImageReaderTests.RecordedDump, "*.img"))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        return copy;
    }
}
