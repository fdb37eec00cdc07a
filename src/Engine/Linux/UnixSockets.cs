using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>A unix socket's type (linux/net.h).</summary>
public enum UnixSocketType
{
    Stream = 1,
    Datagram = 2,
    SeqPacket = 5,
}

/// <summary>One unix socket as sock_diag describes it (linux/unix_diag.h).</summary>
/// <param name="Name">The address it is bound to: a path, "@name" for an abstract one; null when unbound.</param>
/// <param name="Peer">The inode of the socket it is connected to; 0 when none.</param>
public readonly record struct UnixSocket(ulong Inode, UnixSocketType Type, string? Name, ulong Peer);

/// <summary>
/// The unix sockets of a network namespace, from the kernel's sock_diag
/// netlink interface (man 7 sock_diag): a dump request for AF_UNIX with each
/// socket's name and peer. Sockets belong to the namespace they were made in,
/// so the netlink socket is made in the process's own: on a thread of its own
/// that enters it with setns(2) and ends there.
/// </summary>
public static class UnixSockets
{
    // linux/netlink.h, linux/sock_diag.h, linux/unix_diag.h
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmsgError = 2;
    private const ushort NlmsgDone = 3;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmFDump = 0x300;
    private const uint UdiagShowName = 0x1;
    private const uint UdiagShowPeer = 0x4;
    private const ushort UnixDiagName = 0;
    private const ushort UnixDiagPeer = 2;
    private const int HeaderBytes = 16;
    private const int MessageBytes = 16;

    /// <summary>Every unix socket in the network namespace of <paramref name="pid"/>.</summary>
    /// <exception cref="LinuxException">The namespace or the netlink socket could not be reached.</exception>
    public static IReadOnlyList<UnixSocket> InNamespaceOf(int pid)
    {
        IReadOnlyList<UnixSocket>? sockets = null;
        Exception? failure = null;
        void Dump()
        {
            try
            {
                sockets = DumpIn($"/proc/{pid}/ns/net");
            }
            catch (Exception e)
            {
                failure = e;
            }
        }
        var thread = new Thread(Dump) { IsBackground = true, Name = "sock_diag" };
        thread.Start();
        thread.Join();
        return failure is null ? sockets! : throw failure;
    }

    /// <summary>On a thread that ends afterwards: enters the namespace, makes the netlink socket there, dumps.</summary>
    private static List<UnixSocket> DumpIn(string namespacePath)
    {
        using (var ns = File.OpenHandle(namespacePath))
        {
            Interop.CheckIo(Interop.SetNamespace(ns, Interop.CLONE_NEWNET), "setns", namespacePath);
        }
        int fd = Interop.CheckIo(Interop.Socket(Interop.AF_NETLINK, Interop.SOCK_DGRAM | Interop.SOCK_CLOEXEC, Interop.NETLINK_SOCK_DIAG), "socket(AF_NETLINK)");
        using var socket = new SafeFileHandle(fd, ownsHandle: true);
        SendRequest(socket);
        var sockets = new List<UnixSocket>();
        var buffer = new byte[64 << 10];
        while (true)
        {
            int length = ReceiveSome(socket, buffer);
            if (Parse(buffer.AsSpan(0, length), sockets))
            {
                return sockets;
            }
        }
    }

    private static unsafe void SendRequest(SafeFileHandle socket)
    {
        // struct nlmsghdr, then struct unix_diag_req: every state, every socket, with its name and peer.
        Span<byte> request = stackalloc byte[HeaderBytes + 24];
        request.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request[4..], SockDiagByFamily);
        BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NlmFRequest | NlmFDump);
        BinaryPrimitives.WriteUInt32LittleEndian(request[8..], 1);
        request[HeaderBytes] = Interop.AF_UNIX;
        BinaryPrimitives.WriteUInt32LittleEndian(request[(HeaderBytes + 4)..], uint.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(request[(HeaderBytes + 12)..], UdiagShowName | UdiagShowPeer);
        fixed (byte* bytes = request)
        {
            if (Interop.Send(socket, bytes, (nuint)request.Length, 0) != request.Length)
            {
                throw LinuxException.FromLastError("send", "sock_diag request");
            }
        }
    }

    private static unsafe int ReceiveSome(SafeFileHandle socket, byte[] buffer)
    {
        fixed (byte* bytes = buffer)
        {
            nint received = Interop.Receive(socket, bytes, (nuint)buffer.Length, 0);
            return received >= 0 ? (int)received : throw LinuxException.FromLastError("recv", "sock_diag answer");
        }
    }

    /// <summary>Adds the datagram's sockets; true once the dump's end is in it.</summary>
    internal static bool Parse(ReadOnlySpan<byte> datagram, List<UnixSocket> sockets)
    {
        while (datagram.Length >= HeaderBytes)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            if (length < HeaderBytes || length > datagram.Length)
            {
                throw new InvalidDataException($"a sock_diag message of {length} bytes in {datagram.Length}");
            }
            if (type == NlmsgDone)
            {
                return true;
            }
            if (type == NlmsgError)
            {
                int errno = -BinaryPrimitives.ReadInt32LittleEndian(datagram[HeaderBytes..]);
                throw new LinuxException("sock_diag", "unix sockets", (Errno)errno);
            }
            if (type == SockDiagByFamily && length >= HeaderBytes + MessageBytes)
            {
                sockets.Add(Socket(datagram[HeaderBytes..length]));
            }
            datagram = datagram[Math.Min(Align(length), datagram.Length)..];
        }
        return false;
    }

    /// <summary>struct unix_diag_msg, then its attributes (struct rtattr, 4-byte aligned).</summary>
    private static UnixSocket Socket(ReadOnlySpan<byte> message)
    {
        var type = (UnixSocketType)message[1];
        ulong inode = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        string? name = null;
        ulong peer = 0;
        for (var attributes = message[MessageBytes..]; attributes.Length >= 4;)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            ushort kind = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]);
            if (length < 4 || length > attributes.Length)
            {
                break;
            }
            var payload = attributes[4..length];
            if (kind == UnixDiagName && payload.Length > 0)
            {
                // An abstract address starts with a NUL, as ss(8) shows it: '@'.
                name = payload[0] == 0
                    ? "@" + Encoding.UTF8.GetString(payload[1..])
                    : Encoding.UTF8.GetString(payload.TrimEnd((byte)0));
            }
            else if (kind == UnixDiagPeer && payload.Length >= 4)
            {
                peer = BinaryPrimitives.ReadUInt32LittleEndian(payload);
            }
            attributes = attributes[Math.Min(Align(length), attributes.Length)..];
        }
        return new UnixSocket(inode, type, name, peer);
    }

    private static int Align(int length) => (length + 3) & ~3;
}
