using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Linux;

public sealed class UnixSocketsTests
{
    /// <summary>One netlink message: struct nlmsghdr, then the payload, padded to 4 bytes.</summary>
    private static byte[] Message(ushort type, byte[] payload)
    {
        var message = new byte[(16 + payload.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(16 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        payload.CopyTo(message, 16);
        return message;
    }

    /// <summary>struct rtattr and its payload, padded to 4 bytes.</summary>
    private static byte[] Attribute(ushort type, byte[] payload)
    {
        var attribute = new byte[(4 + payload.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(attribute, (ushort)(4 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(attribute.AsSpan(2), type);
        payload.CopyTo(attribute, 4);
        return attribute;
    }

    /// <summary>struct unix_diag_msg (family, type, state, pad, inode, cookie) and attributes.</summary>
    private static byte[] Socket(byte type, uint inode, params byte[][] attributes)
    {
        var message = new byte[16];
        message[0] = 1; // AF_UNIX
        message[1] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), inode);
        return [.. message, .. attributes.SelectMany(a => a)];
    }

    private static byte[] Peer(uint inode)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, inode);
        return Attribute(2, payload);
    }

    [Fact]
    public void A_dump_gives_each_socket_its_type_name_and_peer_and_ends_at_done()
    {
        byte[] datagram =
        [
            .. Message(20, Socket(2, 100, Attribute(0, Encoding.UTF8.GetBytes("/dev/log")), Peer(0))),
            .. Message(20, Socket(1, 101, Peer(900))),
            .. Message(20, Socket(5, 102, Attribute(0, [0, .. "app"u8]))),
            .. Message(3, new byte[4]),
        ];
        var sockets = new List<UnixSocket>();

        bool done = UnixSockets.Parse(datagram, sockets);

        Assert.True(done);
        Assert.Equal(
            [
                new UnixSocket(100, UnixSocketType.Datagram, "/dev/log", 0),
                new UnixSocket(101, UnixSocketType.Stream, null, 900),
                new UnixSocket(102, UnixSocketType.SeqPacket, "@app", 0),
            ],
            sockets);
    }

    [Fact]
    public void A_dump_split_over_datagrams_goes_on_until_done()
    {
        var sockets = new List<UnixSocket>();

        Assert.False(UnixSockets.Parse(Message(20, Socket(2, 100)), sockets));
        Assert.True(UnixSockets.Parse(Message(3, new byte[4]), sockets));
        Assert.Single(sockets);
    }

    [Fact]
    public void A_message_longer_than_its_datagram_is_refused()
    {
        var message = Message(20, Socket(2, 100));
        BinaryPrimitives.WriteUInt32LittleEndian(message, 4096);

        Assert.Throws<InvalidDataException>(() => UnixSockets.Parse(message, []));
    }

    [Fact]
    public void The_kernel_s_error_is_raised_with_its_errno()
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(payload, -(int)Errno.EPERM);

        var error = Assert.Throws<LinuxException>(() => UnixSockets.Parse(Message(2, payload), []));

        Assert.Equal(Errno.EPERM, error.Errno);
    }

    [Fact]
    public void The_sockets_of_this_process_s_namespace_are_listed_with_their_names_and_peers()
    {
        using var directory = new TempDirectory();
        var address = new UnixDomainSocketEndPoint(Path.Combine(directory.Path, "s.sock"));
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(address);
        listener.Listen();
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(address);
        using var accepted = listener.Accept();

        var sockets = UnixSockets.InNamespaceOf(Environment.ProcessId).ToDictionary(socket => socket.Inode);

        Assert.Equal(Inode(accepted), sockets[Inode(client)].Peer);
        Assert.Equal(Inode(client), sockets[Inode(accepted)].Peer);
        Assert.Equal(Path.Combine(directory.Path, "s.sock"), sockets[Inode(listener)].Name);
        Assert.Equal(UnixSocketType.Stream, sockets[Inode(listener)].Type);
    }

    /// <summary>The socket's inode, from its /proc/self/fd link ("socket:[N]").</summary>
    private static ulong Inode(Socket socket) =>
        ulong.Parse(new FileInfo($"/proc/self/fd/{socket.Handle}").LinkTarget!["socket:[".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
}
