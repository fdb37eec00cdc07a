using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.Engine.Tests.Protocol;

public sealed class ImageSetSenderTests : IDisposable
{
    private readonly TempDirectory _work = new();

    [Fact]
    public async Task What_the_sender_streams_the_receiver_stores_identically()
    {
        var source = _work.Combine("source");
        Directory.CreateDirectory(source);
        var files = new Dictionary<string, byte[]>
        {
            ["pages-1.img"] = TestBytes.Random(300_000, seed: 5),
            ["pagemap-42.img"] = TestBytes.Repeating(5_000),
            ["empty.img"] = [],
        };
        foreach (var (name, content) in files)
        {
            await File.WriteAllBytesAsync(Path.Combine(source, name), content);
        }
        File.CreateSymbolicLink(Path.Combine(source, "parent"), "/nonexistent");
        await File.WriteAllBytesAsync(Path.Combine(source, "excluded.img"), TestBytes.Repeating(10));

        var channel = Channel.CreateUnbounded<ImageStreamMessage>();
        var sent = await new ImageSetSender(chunkBytes: 64 * 1024)
            .SendAsync(new ChannelWriterAdapter(channel.Writer), new ImageSetBegin { SessionId = "session", Set = "final" }, source,
                exclude: new HashSet<string> { "excluded.img" }, null, CancellationToken.None);
        channel.Writer.Complete();

        var messages = channel.Reader.ReadAllAsync();
        var enumerator = messages.GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal("final", enumerator.Current.Begin.Set);
        var target = _work.Combine("target", "final");
        var received = await ImageSetReceiver.ReceiveAsync(Rest(enumerator), target, new ImageSetLimits(64 * 1024, 16, new StorageAllowance("the test", 1 << 30)), CancellationToken.None);

        Assert.Equal(sent.Files, received.Files);
        Assert.Equal(sent.BytesRaw, received.BytesRaw);
        Assert.Equal(3, received.Files);
        foreach (var (name, content) in files)
        {
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(target, name)));
        }
        Assert.False(File.Exists(Path.Combine(target, "parent")));
        Assert.False(File.Exists(Path.Combine(target, "excluded.img")));
    }

    public void Dispose() => _work.Dispose();

    private static async IAsyncEnumerable<ImageStreamMessage> Rest(IAsyncEnumerator<ImageStreamMessage> enumerator)
    {
        while (await enumerator.MoveNextAsync())
        {
            yield return enumerator.Current;
        }
    }

    /// <summary>
    /// Serializes each message as it is written, as gRPC does: frames point into
    /// pooled buffers that the sender reuses once WriteAsync has returned.
    /// </summary>
    private sealed class ChannelWriterAdapter(ChannelWriter<ImageStreamMessage> writer) : IAsyncStreamWriter<ImageStreamMessage>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ImageStreamMessage message) =>
            writer.WriteAsync(ImageStreamMessage.Parser.ParseFrom(message.ToByteArray())).AsTask();
    }
}
