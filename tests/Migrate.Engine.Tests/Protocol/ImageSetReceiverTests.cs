using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.Engine.Tests.Protocol;

/// <summary>The target treats every byte of an image stream as hostile.</summary>
public sealed class ImageSetReceiverTests : IDisposable
{
    private static ImageSetLimits Limits => new(MaxChunkBytes: 64 * 1024, MaxFiles: 8, new StorageAllowance("the session", 1 << 20));

    private readonly TempDirectory _work = new();

    private string SetDirectory => _work.Combine("images", "final");

    [Fact]
    public async Task A_complete_set_is_stored_byte_for_byte()
    {
        var pages = TestBytes.Random(100_000, seed: 7);
        var pstree = TestBytes.Repeating(30);

        var stats = await Receive(
            Chunk("pages-1.img", 0, pages[..65536]),
            Chunk("pages-1.img", 65536, pages[65536..]),
            Chunk("pstree.img", 0, pstree),
            End(("pages-1.img", pages.Length), ("pstree.img", pstree.Length), ("empty.img", 0)));

        Assert.Equal(3, stats.Files);
        Assert.Equal(pages.Length + pstree.Length, stats.BytesRaw);
        Assert.Equal(pages, File.ReadAllBytes(Path.Combine(SetDirectory, "pages-1.img")));
        Assert.Equal(pstree, File.ReadAllBytes(Path.Combine(SetDirectory, "pstree.img")));
        Assert.Empty(File.ReadAllBytes(Path.Combine(SetDirectory, "empty.img")));
    }

    [Fact]
    public async Task A_stream_that_ends_before_its_manifest_is_refused_and_nothing_is_kept()
    {
        var e = await Refused(Chunk("pages-1.img", 0, TestBytes.Random(1000, seed: 1)));

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
        Assert.False(Directory.Exists(SetDirectory));
    }

    [Fact]
    public async Task An_oversize_chunk_is_refused()
    {
        var e = await Refused(Chunk("pages-1.img", 0, TestBytes.Random(Limits.MaxChunkBytes + 1, seed: 1)), End(("pages-1.img", Limits.MaxChunkBytes + 1)));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    [Fact]
    public async Task A_chunk_whose_stated_size_is_huge_is_refused_without_allocating_it()
    {
        var chunk = Chunk("pages-1.img", 0, TestBytes.Repeating(100));
        chunk.Chunk.Frame.RawLength = uint.MaxValue;

        var e = await Refused(chunk, End(("pages-1.img", 100)));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    [Fact]
    public async Task A_chunk_with_a_bad_checksum_is_refused()
    {
        var chunk = Chunk("pages-1.img", 0, TestBytes.Random(1000, seed: 1));
        chunk.Chunk.Frame.Checksum ^= 1;

        var e = await Refused(chunk, End(("pages-1.img", 1000)));

        Assert.Equal(TransferRejection.Corrupt, e.Reason);
        Assert.False(Directory.Exists(SetDirectory));
    }

    [Theory]
    [InlineData("../escape.img")]
    [InlineData("../../etc/cron.d/evil")]
    [InlineData("sub/pages-1.img")]
    [InlineData("/etc/passwd")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("")]
    [InlineData("pages\0.img")]
    [InlineData("pages\n.img")]
    public async Task File_names_that_could_leave_the_set_directory_are_refused(string name)
    {
        var e = await Refused(Chunk(name, 0, TestBytes.Repeating(10)), End((name, 10)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
        Assert.False(File.Exists(_work.Combine("escape.img")));
        Assert.False(Directory.Exists(SetDirectory));
    }

    [Fact]
    public async Task An_overlong_file_name_is_refused()
    {
        var name = new string('a', ImageNames.MaxFileNameLength + 1);

        var e = await Refused(Chunk(name, 0, TestBytes.Repeating(10)), End((name, 10)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_gap_between_chunks_is_refused()
    {
        var e = await Refused(
            Chunk("pages-1.img", 0, TestBytes.Repeating(100)),
            Chunk("pages-1.img", 200, TestBytes.Repeating(100)),
            End(("pages-1.img", 300)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_file_sent_again_after_another_is_refused()
    {
        var e = await Refused(
            Chunk("a.img", 0, TestBytes.Repeating(100)),
            Chunk("b.img", 0, TestBytes.Repeating(100)),
            Chunk("a.img", 100, TestBytes.Repeating(100)),
            End(("a.img", 200), ("b.img", 100)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_manifest_size_that_differs_from_what_arrived_is_refused()
    {
        var e = await Refused(Chunk("a.img", 0, TestBytes.Repeating(100)), End(("a.img", 101)));

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
    }

    [Fact]
    public async Task A_file_in_the_manifest_that_never_arrived_is_refused()
    {
        var e = await Refused(Chunk("a.img", 0, TestBytes.Repeating(100)), End(("a.img", 100), ("b.img", 5)));

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
    }

    [Fact]
    public async Task A_file_missing_from_the_manifest_is_refused()
    {
        var e = await Refused(
            Chunk("a.img", 0, TestBytes.Repeating(100)),
            Chunk("b.img", 0, TestBytes.Repeating(100)),
            End(("a.img", 100)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_manifest_total_that_differs_from_what_arrived_is_refused()
    {
        var end = End(("a.img", 100));
        end.End.TotalBytes = 99;

        var e = await Refused(Chunk("a.img", 0, TestBytes.Repeating(100)), end);

        Assert.Equal(TransferRejection.Incomplete, e.Reason);
    }

    [Fact]
    public async Task A_set_larger_than_the_session_allows_is_refused_and_its_bytes_given_back()
    {
        var session = new StorageAllowance("the session", 150);
        session.Charge(10);
        var limits = Limits with { Allowance = session };

        var e = await Refused(limits,
            Chunk("a.img", 0, TestBytes.Repeating(100)),
            Chunk("b.img", 0, TestBytes.Repeating(100)),
            End(("a.img", 100), ("b.img", 100)));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
        Assert.Contains("the session would store more than its limit", e.Message, StringComparison.Ordinal);
        Assert.Equal(10, session.Charged);
        Assert.False(Directory.Exists(SetDirectory));
    }

    [Fact]
    public async Task More_files_than_allowed_are_refused()
    {
        var messages = Enumerable.Range(0, Limits.MaxFiles + 1)
            .Select(i => Chunk($"f{i}.img", 0, TestBytes.Repeating(1)))
            .ToArray();

        var e = await Refused(messages);

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    [Fact]
    public async Task A_manifest_listing_more_files_than_allowed_is_refused()
    {
        var files = Enumerable.Range(0, Limits.MaxFiles + 1).Select(i => ($"f{i}.img", 0)).ToArray();

        var e = await Refused(End(files));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
    }

    [Fact]
    public async Task Messages_after_the_manifest_are_refused()
    {
        var e = await Refused(
            Chunk("a.img", 0, TestBytes.Repeating(100)),
            End(("a.img", 100)),
            Chunk("b.img", 0, TestBytes.Repeating(100)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_second_begin_inside_a_set_is_refused()
    {
        var e = await Refused(new ImageStreamMessage { Begin = new ImageSetBegin { SessionId = "x", Set = "final" } });

        Assert.Equal(TransferRejection.Malformed, e.Reason);
    }

    [Fact]
    public async Task A_set_sent_twice_is_refused_and_the_first_copy_is_kept()
    {
        await Receive(Chunk("a.img", 0, TestBytes.Repeating(100)), End(("a.img", 100)));

        var e = await Refused(Chunk("a.img", 0, TestBytes.Random(100, seed: 1)), End(("a.img", 100)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
        Assert.Equal(TestBytes.Repeating(100), File.ReadAllBytes(Path.Combine(SetDirectory, "a.img")));
    }

    [Fact]
    public async Task A_planted_symlink_is_never_followed()
    {
        var outside = _work.Combine("outside.img");
        await File.WriteAllTextAsync(outside, "keep");
        // A set directory prepared by an attacker cannot exist: the receiver
        // refuses to reuse one. So the link can only be the directory itself.
        Directory.CreateDirectory(_work.Combine("images"));
        File.CreateSymbolicLink(SetDirectory, _work.Path);

        var e = await Refused(Chunk("outside.img", 0, TestBytes.Repeating(10)), End(("outside.img", 10)));

        Assert.Equal(TransferRejection.Malformed, e.Reason);
        Assert.Equal("keep", await File.ReadAllTextAsync(outside));
    }

    public void Dispose() => _work.Dispose();

    private Task<TransferStats> Receive(params ImageStreamMessage[] messages) =>
        ImageSetReceiver.ReceiveAsync(Stream(messages), SetDirectory, Limits, CancellationToken.None);

    private Task<TransferRejectedException> Refused(params ImageStreamMessage[] messages) => Refused(Limits, messages);

    private Task<TransferRejectedException> Refused(ImageSetLimits limits, params ImageStreamMessage[] messages) =>
        Assert.ThrowsAsync<TransferRejectedException>(() =>
            ImageSetReceiver.ReceiveAsync(Stream(messages), SetDirectory, limits, CancellationToken.None));

    internal static ImageStreamMessage Chunk(string file, ulong offset, byte[] data) =>
        new() { Chunk = new ImageChunk { File = file, Offset = offset, Frame = FrameCodec.Encode(data).Frame } };

    internal static ImageStreamMessage End(params (string Name, int Size)[] files)
    {
        var end = new ImageSetEnd { TotalBytes = (ulong)files.Sum(file => file.Size) };
        end.Files.AddRange(files.Select(file => new ImageFile { Name = file.Name, Size = (ulong)file.Size }));
        return new ImageStreamMessage { End = end };
    }

    private static async IAsyncEnumerable<ImageStreamMessage> Stream(IEnumerable<ImageStreamMessage> messages)
    {
        foreach (var message in messages)
        {
            await Task.Yield();
            yield return message.Clone();
        }
    }
}
