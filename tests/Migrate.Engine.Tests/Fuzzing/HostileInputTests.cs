using CsCheck;
using Google.Protobuf;
using Migrate.Engine.Compat;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;
using Migrate.Engine.Tests.Images;
using Migrate.Protocol;

namespace Migrate.Engine.Tests.Fuzzing;

/// <summary>
/// Property tests (CsCheck) of every reader of a peer's bytes: whatever
/// arrives is either read or refused with the exception that says the peer is
/// at fault (InvalidDataException, FrameException, TransferRejectedException),
/// never another, and never costs memory beyond what the reader's limits allow.
/// Inputs are random bytes, and real CRIU images with random bytes changed,
/// cut or added, which get past the magic and into the entries.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private const long Iterations = 3000;

    private static readonly byte[][] RecordedImageFiles = Directory.GetFiles(RecordedImages.Tree, "*.img")
        .Concat(Directory.GetFiles(ImageReaderTests.RecordedDump, "*.img").Where(file => !file.EndsWith("pages-1.img", StringComparison.Ordinal)))
        .Select(File.ReadAllBytes).ToArray();

    private readonly TempDirectory _directory = new();

    /// <summary>A recorded image with up to 8 random edits, or random bytes behind a real magic, or random bytes alone.</summary>
    private static readonly Gen<byte[]> HostileImage = Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, RecordedImageFiles.Length - 1], Gen.Select(Gen.Int[0, 2], Gen.Int, Gen.Byte).Array[1, 8], Mutate)),
        (2, Gen.Select(Gen.OneOf(Gen.Const(ImageMagic.Pagemap), Gen.Const(ImageMagic.Core), Gen.Const(ImageMagic.Pstree)), Gen.Byte.Array[0, 512], WithMagic)),
        (1, Gen.Byte.Array[0, 512]));

    [Fact]
    public void Any_image_bytes_are_read_or_refused_as_invalid_data_within_a_bounded_allocation()
    {
        HostileImage.Sample(bytes =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            ReadEveryWay(bytes);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            // Parsed messages cost a small multiple of their bytes; nothing sized by a stated length.
            Assert.True(allocated < 64L * bytes.Length + (256 << 10), $"{allocated} bytes allocated reading {bytes.Length}");
        }, iter: Iterations);
    }

    [Fact]
    public void Any_pagemap_file_yields_only_runs_that_are_sorted_apart_and_in_user_memory_or_is_refused()
    {
        var path = _directory.Combine("pagemap-1.img");
        HostileImage.Sample(bytes =>
        {
            File.WriteAllBytes(path, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var reader = PagemapReader.Open(path);
                ulong end = 0;
                foreach (var run in reader.ReadRuns())
                {
                    Assert.True(run.Pages > 0 && run.Address % PageSize.Bytes == 0 && run.Address >= end && run.End <= PageSize.UserAddressLimit, run.ToString());
                    end = run.End;
                }
            }
            catch (InvalidDataException)
            {
            }
            // The file stream's buffer and one entry; never the file whole.
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 256 << 10);
        }, iter: Iterations / 3);
    }

    [Fact]
    public void A_pagemap_of_gigabytes_is_read_entry_by_entry_never_whole()
    {
        // A valid head and first run, then 3 GiB of hole: read whole it would cost 3 GiB.
        var path = _directory.Combine("pagemap-2.img");
        File.WriteAllBytes(path, ImageWriter.Write(ImageMagic.Pagemap,
            [new PagemapHead { PagesId = 1 }, new PagemapEntry { Vaddr = 0x1000, NrPages = 1, CompatNrPages = 1, Flags = PagemapRun.Present }]));
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.SetLength(file, 3L << 30);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        using var reader = PagemapReader.Open(path);
        Assert.True(reader.TryRead(out var first));
        var e = Assert.Throws<InvalidDataException>(() => reader.TryRead(out _));

        Assert.Equal(0x1000UL, first.Address);
        Assert.Contains("lacks a required field", e.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void Any_mutation_of_a_real_tree_is_judged_by_the_restore_policy_with_a_verdict_never_an_exception()
    {
        var names = Directory.GetFiles(RecordedImages.Tree, "*.img").Select(Path.GetFileName).ToArray();
        var policy = new RestorePolicy { DenyRoot = true, Capabilities = 0, Namespaces = TreeNamespaces.None };
        Gen.Select(Gen.Int[0, names.Length - 1], Gen.Select(Gen.Int[0, 2], Gen.Int, Gen.Byte).Array[1, 8]).Sample((file, edits) =>
        {
            using var images = new TempDirectory();
            RecordedImages.CopyTo(RecordedImages.Tree, images.Path);
            var path = images.Combine(names[file]!);
            File.WriteAllBytes(path, Edit(File.ReadAllBytes(path), edits));

            var check = policy.Check(images.Path);

            Assert.Equal(RestorePolicy.CheckName, check.Name);
            Assert.NotEqual(CheckVerdict.Warn, check.Verdict);
        }, iter: 300);
    }

    [Fact]
    public void Any_frame_decodes_to_at_most_its_limit_or_is_refused_without_allocating()
    {
        const int Limit = 64 << 10;
        var destination = new byte[Limit];
        var valid = Gen.Byte.Array[0, 4096].Select(raw => FrameCodec.Encode(raw).Frame);
        var hostile = Gen.Select(Gen.UInt, Gen.Bool, Gen.Byte.Array[0, 4096], Gen.ULong, (rawLength, lz4, data, checksum) =>
            new Frame { RawLength = rawLength % 3 == 0 ? rawLength : rawLength % (Limit + 16), Lz4 = lz4, Data = ByteString.CopyFrom(data), Checksum = checksum });
        var edited = Gen.Select(valid, Gen.Int[0, 3], Gen.UInt, (frame, field, value) =>
        {
            var copy = frame.Clone();
            switch (field)
            {
                case 0: copy.RawLength = value % (Limit * 2); break;
                case 1: copy.Checksum ^= value | 1; break;
                case 2: copy.Lz4 = !copy.Lz4; break;
                default: copy.Data = ByteString.CopyFrom(copy.Data.Span[..(int)(value % (uint)(copy.Data.Length + 1))]); break;
            }
            return copy;
        });
        Gen.Frequency((1, valid), (2, hostile), (3, edited)).Sample(frame =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                Assert.InRange(FrameCodec.Decode(frame, destination, Limit), 0, Limit);
            }
            catch (FrameException)
            {
            }
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4096, "decoding allocated");
        }, iter: Iterations);
    }

    [Fact]
    public async Task Any_page_stream_is_stored_or_refused_as_the_peer_s_fault()
    {
        using var store = new PageStore(_directory.Combine("pages.store"), new StorageAllowance("the session", 64 << 20));
        // One stream at a time, as a session lets them in: a page store is not for concurrent writers.
        await PageStreams.SampleAsync(async messages =>
        {
            try
            {
                await PageStreamReceiver.ReceiveAsync(ToAsync(messages), store, CancellationToken.None);
            }
            catch (TransferRejectedException)
            {
            }
        }, iter: 1000, threads: 1);
    }

    [Fact]
    public async Task Any_image_stream_is_stored_whole_or_refused_leaving_nothing_and_charging_nothing()
    {
        int set = 0;
        await ImageStreams.SampleAsync(async messages =>
        {
            var allowance = new StorageAllowance("the session", 1 << 20);
            var directory = _directory.Combine("images", $"set-{set++}");
            try
            {
                var stats = await ImageSetReceiver.ReceiveAsync(ToAsync(messages), directory, new ImageSetLimits(4096, 4, allowance), CancellationToken.None);
                Assert.Equal(stats.BytesRaw, allowance.Charged);
            }
            catch (TransferRejectedException)
            {
                Assert.False(Directory.Exists(directory));
                Assert.Equal(0, allowance.Charged);
            }
        }, iter: 1000);
    }

    public void Dispose() => _directory.Dispose();

    /// <summary>Batches with sizes, counts, PIDs and addresses near and past every limit, and ends that may not match.</summary>
    private static readonly Gen<PageStreamMessage[]> PageStreams = Gen.Frequency(
        (4, Gen.Select(Gen.Int[-2, 5], PageAddresses.Array[0, 4], PageAddresses.Array[0, 4], Gen.Byte.Array[0, 3 * PageSize.Bytes], Gen.Int[0, 3],
            (pid, addresses, zero, data, frameKind) =>
            {
                var batch = new PageBatch { Pid = pid };
                batch.Addresses.Add(addresses);
                batch.ZeroAddresses.Add(zero);
                var pages = new byte[addresses.Length * PageSize.Bytes];
                data.AsSpan(0, Math.Min(data.Length, pages.Length)).CopyTo(pages);
                batch.Pages = frameKind switch
                {
                    0 => null,
                    1 => FrameCodec.Encode(data).Frame,
                    2 => FrameCodec.Encode(pages).Frame,
                    _ => new Frame { RawLength = (uint)pages.Length, Lz4 = true, Data = ByteString.CopyFrom(data) },
                };
                return new PageStreamMessage { Batch = batch };
            })),
        (1, Gen.Select(Gen.ULong[0, 8], Gen.ULong[0, 8], (pages, zero) => new PageStreamMessage { End = new PageStreamEnd { Pages = pages, ZeroPages = zero } })),
        (1, Gen.Const(() => new PageStreamMessage { Begin = new PageStreamBegin() })))
        .Array[0, 6];

    private static Gen<ulong> PageAddresses => Gen.Frequency(
        (4, Gen.ULong[0, 64].Select(page => page * PageSize.Bytes)),
        (1, Gen.ULong),
        (1, Gen.Const(PageSize.UserAddressLimit - PageSize.Bytes)));

    /// <summary>Chunks of hostile and proper names, offsets and frames, and manifests that may not match them.</summary>
    private static readonly Gen<ImageStreamMessage[]> ImageStreams = Gen.Frequency(
        (4, Gen.Select(Gen.OneOf(Gen.Const("core-1.img"), Gen.Const("pstree.img"), Gen.Const("../x.img"), Gen.Const(".hidden"), Gen.Const("a/b"), Gen.Const("")),
            Gen.ULong[0, 8192], Gen.Byte.Array[0, 5000], Gen.Bool,
            (file, offset, data, proper) => new ImageStreamMessage
            {
                Chunk = new ImageChunk
                {
                    File = file,
                    Offset = proper ? 0 : offset,
                    Frame = proper ? FrameCodec.Encode(data).Frame : new Frame { RawLength = (uint)data.Length, Data = ByteString.CopyFrom(data), Checksum = offset },
                },
            })),
        (2, Gen.Select(Gen.OneOf(Gen.Const("core-1.img"), Gen.Const("pstree.img"), Gen.Const("empty.img")).Array[0, 3], Gen.ULong[0, 8192].Array[3], Gen.ULong[0, 12000],
            (names, sizes, total) =>
            {
                var end = new ImageSetEnd { TotalBytes = total };
                end.Files.Add(names.Select((name, i) => new ImageFile { Name = name, Size = sizes[i] }));
                return new ImageStreamMessage { End = end };
            })),
        (1, Gen.Const(() => new ImageStreamMessage { Begin = new ImageSetBegin() })))
        .Array[0, 6];

    private static async IAsyncEnumerable<T> ToAsync<T>(IEnumerable<T> messages)
        where T : IMessage<T>, new()
    {
        foreach (var message in messages)
        {
            await Task.Yield();
            // As gRPC hands them over: parsed from their bytes.
            var parsed = new T();
            parsed.MergeFrom(message.ToByteArray());
            yield return parsed;
        }
    }

    /// <summary>Reads the bytes as every kind of image the target reads.</summary>
    private static void ReadEveryWay(byte[] bytes)
    {
        foreach (var (magic, read) in new (uint, Action<ImageReader>)[]
        {
            (ImageMagic.Pstree, reader => reader.ReadAll(PstreeEntry.Parser)),
            (ImageMagic.Core, reader => reader.ReadAll(CoreEntry.Parser)),
            (ImageMagic.Inventory, reader => reader.ReadAll(InventoryEntry.Parser)),
            (ImageMagic.Ids, reader => reader.ReadAll(TaskKobjIdsEntry.Parser)),
            (ImageMagic.Userns, reader => reader.ReadAll(UsernsEntry.Parser)),
            (ImageMagic.Mm, reader => reader.ReadAll(MmEntry.Parser)),
            (ImageMagic.Pagemap, reader => { reader.TryRead(PagemapHead.Parser, out _); reader.ReadAll(PagemapEntry.Parser); }),
        })
        {
            try
            {
                read(ImageReader.Open(bytes, magic, "fuzzed.img"));
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    private static byte[] Mutate(int file, (int Kind, int At, byte Value)[] edits) => Edit(RecordedImageFiles[file], edits);

    /// <summary>Each edit changes a byte, cuts the image there, or inserts a byte.</summary>
    private static byte[] Edit(byte[] image, (int Kind, int At, byte Value)[] edits)
    {
        var bytes = image.ToList();
        foreach (var (kind, at, value) in edits)
        {
            int position = bytes.Count == 0 ? 0 : (int)((uint)at % (uint)bytes.Count);
            switch (kind)
            {
                case 0 when bytes.Count > 0: bytes[position] = value; break;
                case 1: bytes.RemoveRange(position, bytes.Count - position); break;
                default: bytes.Insert(position, value); break;
            }
        }
        return [.. bytes];
    }

    private static byte[] WithMagic(uint magic, byte[] rest) => [.. BitConverter.GetBytes(ImageMagic.Common), .. BitConverter.GetBytes(magic), .. rest];
}
