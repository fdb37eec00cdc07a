using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Tests.Images;

/// <summary>Reads images that CRIU 4.2.1 wrote for a real process (TestData/criu-4.2.1-sleep).</summary>
public sealed class ImageReaderTests
{
    internal static readonly string RecordedDump = Path.Combine(AppContext.BaseDirectory, "TestData", "criu-4.2.1-sleep");

    [Fact]
    public void The_process_tree_of_a_real_dump_names_its_single_task()
    {
        var tree = ProcessTreeImage.Read(RecordedDump);

        var task = Assert.Single(tree);
        Assert.Equal(20004u, task.Pid);
        Assert.Equal([20004u], task.Threads);
        Assert.Equal([20004], ProcessTreeImage.Pids(RecordedDump));
    }

    [Fact]
    public void The_inventory_has_no_common_magic_and_still_reads()
    {
        var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, "inventory.img"));

        var reader = ImageReader.Open(bytes, ImageMagic.Inventory, "inventory.img");
        Assert.True(reader.TryRead(InventoryEntry.Parser, out var inventory));

        Assert.Equal(2u, inventory.ImgVersion);
        Assert.True(reader.End);
    }

    [Fact]
    public void The_core_image_holds_the_thread_registers()
    {
        var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, "core-20004.img"));

        var core = ImageReader.Open(bytes, ImageMagic.Core, "core").ReadAll(CoreEntry.Parser).Single();

        Assert.Equal(CoreEntry.Types.March.X8664, core.Mtype);
        Assert.Equal("sleep", core.Tc.Comm);
        Assert.NotEqual(0ul, core.ThreadInfo.Gpregs.Ip);
    }

    [Fact]
    public void The_memory_map_lists_the_vdso()
    {
        var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, "mm-20004.img"));

        var mm = ImageReader.Open(bytes, ImageMagic.Mm, "mm").ReadAll(MmEntry.Parser).Single();

        const uint VmaAreaVdso = 1 << 3;
        Assert.Contains(mm.Vmas, vma => (vma.Status & VmaAreaVdso) != 0);
    }

    [Fact]
    public void Reading_and_writing_back_a_real_image_keeps_every_byte()
    {
        foreach (var (file, magic) in new[] { ("pstree.img", ImageMagic.Pstree), ("pagemap-20004.img", ImageMagic.Pagemap) })
        {
            var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, file));
            var reader = ImageReader.Open(bytes, magic, file);
            byte[] written = file.StartsWith("pstree", StringComparison.Ordinal)
                ? ImageWriter.Write(magic, reader.ReadAll(PstreeEntry.Parser))
                : ImageWriter.Write(magic, ReadPagemap(ref reader));

            Assert.Equal(bytes, written);
        }
    }

    [Fact]
    public void A_wrong_magic_is_reported_with_the_file_name()
    {
        var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, "pstree.img"));

        var e = Assert.Throws<InvalidDataException>(() => ImageReader.Open(bytes, ImageMagic.Core, "pstree.img"));

        Assert.Contains("pstree.img", e.Message, StringComparison.Ordinal);
        Assert.Contains("magic", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_entry_is_reported_with_its_offset()
    {
        var bytes = File.ReadAllBytes(Path.Combine(RecordedDump, "pstree.img"));

        var e = Assert.Throws<InvalidDataException>(() =>
            ImageReader.Open(bytes.AsSpan(0, bytes.Length - 3), ImageMagic.Pstree, "pstree.img").ReadAll(PstreeEntry.Parser));

        Assert.Contains("at offset 8", e.Message, StringComparison.Ordinal);
    }

    // The pagemap image starts with a head entry, then one entry per run of pages.
    private static List<Google.Protobuf.IMessage> ReadPagemap(ref ImageReader reader)
    {
        var entries = new List<Google.Protobuf.IMessage>();
        Assert.True(reader.TryRead(PagemapHead.Parser, out var head));
        entries.Add(head);
        entries.AddRange(reader.ReadAll(PagemapEntry.Parser));
        return entries;
    }
}
