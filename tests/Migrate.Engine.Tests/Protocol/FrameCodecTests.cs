using Google.Protobuf;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Tests.Protocol;

public sealed class FrameCodecTests
{
    private const int Limit = 64 * 1024;

    [Fact]
    public void Compressible_data_is_sent_as_lz4_and_decodes_to_the_same_bytes()
    {
        var raw = TestBytes.Repeating(Limit);

        var frame = FrameCodec.Encode(raw).Frame;
        var decoded = new byte[Limit];
        int length = FrameCodec.Decode(frame, decoded, Limit);

        Assert.True(frame.Lz4);
        Assert.True(frame.Data.Length < raw.Length / 4);
        Assert.Equal(raw, decoded[..length]);
    }

    [Fact]
    public void Incompressible_data_is_sent_raw_and_decodes_to_the_same_bytes()
    {
        var raw = TestBytes.Random(Limit, seed: 1);

        var frame = FrameCodec.Encode(raw).Frame;
        var decoded = new byte[Limit];
        int length = FrameCodec.Decode(frame, decoded, Limit);

        Assert.False(frame.Lz4);
        Assert.Equal(raw, decoded[..length]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_flipped_bit_fails_the_checksum(bool compressible)
    {
        var raw = compressible ? TestBytes.Repeating(Limit) : TestBytes.Random(Limit, seed: 2);
        var frame = FrameCodec.Encode(raw).Frame;
        var data = frame.Data.ToByteArray();
        data[data.Length / 2] ^= 0x10;
        frame.Data = ByteString.CopyFrom(data);

        var e = Assert.Throws<FrameException>(() => FrameCodec.Decode(frame, new byte[Limit], Limit));
        Assert.False(e.ExceedsLimit);
    }

    [Fact]
    public void A_frame_stating_more_than_the_limit_is_refused_before_decoding()
    {
        var frame = FrameCodec.Encode(TestBytes.Repeating(1024)).Frame;
        frame.RawLength = Limit + 1;

        var e = Assert.Throws<FrameException>(() => FrameCodec.Decode(frame, new byte[Limit * 2], Limit));
        Assert.True(e.ExceedsLimit);
    }

    [Fact]
    public void Lz4_data_that_decodes_short_is_refused()
    {
        var frame = FrameCodec.Encode(TestBytes.Repeating(4096)).Frame;
        frame.RawLength = 8192;

        Assert.Throws<FrameException>(() => FrameCodec.Decode(frame, new byte[Limit], Limit));
    }

    [Fact]
    public void A_raw_frame_whose_data_length_differs_from_its_stated_length_is_refused()
    {
        var frame = FrameCodec.Encode(TestBytes.Random(4096, seed: 3)).Frame;
        frame.RawLength = 4000;

        Assert.Throws<FrameException>(() => FrameCodec.Decode(frame, new byte[Limit], Limit));
    }

    [Fact]
    public void A_missing_frame_is_refused()
    {
        Assert.Throws<FrameException>(() => FrameCodec.Decode(null, new byte[Limit], Limit));
    }
}
