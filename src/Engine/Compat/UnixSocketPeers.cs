using System.Globalization;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// Unix sockets of the tree connected to a socket outside it: a syslog
/// client's datagram socket on /dev/log, a systemd service's standard output
/// on journald's stream. CRIU dumps them only with --ext-unix-sk, and then
/// only datagram sockets whose peer has a name, which the restore connects to
/// again by that name (criu/sk-unix.c, __dump_external_socket). Otherwise the
/// dump fails with the tree frozen; this check finds them before.
/// </summary>
public static class UnixSocketPeers
{
    public const string CheckName = "unix-sockets";

    private const string SocketPrefix = "socket:[";

    /// <summary>A descriptor of the tree that is a socket.</summary>
    internal readonly record struct HeldSocket(int Pid, int Fd, ulong Inode);

    /// <summary>
    /// On the source: the tree's unix sockets, with their peers, in each
    /// network namespace the tree uses. A peer counts as outside when a
    /// process outside the tree holds it; one nobody holds (in flight in a
    /// queue, as SCM_RIGHTS leaves it) is CRIU's to judge.
    /// </summary>
    public static CheckResult Check(IReadOnlyList<int> pids, bool externalAllowed)
    {
        var held = pids.SelectMany(HeldBy).ToList();
        if (held.Count == 0)
        {
            return Checks.Pass(CheckName, "the tree holds no sockets");
        }
        var sockets = new Dictionary<ulong, UnixSocket>();
        try
        {
            foreach (var pid in held.Select(socket => socket.Pid).Distinct().DistinctBy(NetworkNamespace))
            {
                foreach (var socket in UnixSockets.InNamespaceOf(pid))
                {
                    sockets.TryAdd(socket.Inode, socket);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return Checks.Warn(CheckName, $"the tree's unix sockets could not be listed ({e.Message}); a socket connected outside the tree would fail the dump");
        }
        var ours = held.Select(socket => socket.Inode).ToHashSet();
        var peers = held.Select(socket => sockets.TryGetValue(socket.Inode, out var unix) ? unix.Peer : 0)
            .Where(peer => peer != 0 && !ours.Contains(peer))
            .ToHashSet();
        return Check(held, sockets, peers.Count == 0 ? peers : HeldOutside(pids, peers), externalAllowed);
    }

    /// <param name="heldOutside">The tree's sockets' peers that a process outside the tree holds.</param>
    internal static CheckResult Check(
        IReadOnlyList<HeldSocket> held, IReadOnlyDictionary<ulong, UnixSocket> sockets, IReadOnlySet<ulong> heldOutside, bool externalAllowed)
    {
        var external = held
            .Where(socket => sockets.TryGetValue(socket.Inode, out var unix) && heldOutside.Contains(unix.Peer))
            .DistinctBy(socket => socket.Inode)
            .Select(socket => (Held: socket, Socket: sockets[socket.Inode], Peer: sockets.TryGetValue(sockets[socket.Inode].Peer, out var peer) ? peer : (UnixSocket?)null))
            .ToList();
        if (external.Count == 0)
        {
            return Checks.Pass(CheckName, "no unix socket of the tree is connected outside it");
        }
        const string StreamRemedy =
            "CRIU cannot move one end of a connection whose other end stays: have the process make the connection after it starts, or do without it " +
            "(a systemd service's standard output on the journal: StandardOutput=null or file:PATH)";
        foreach (var (descriptor, socket, peer) in external)
        {
            string what = $"task {descriptor.Pid}'s descriptor {descriptor.Fd} is a unix {Describe(socket.Type)} socket connected to {(peer?.Name is { } name ? name : "an unnamed socket")} outside the tree";
            if (socket.Type != UnixSocketType.Datagram)
            {
                return Checks.Fail(CheckName, $"{what}: CRIU moves only datagram sockets whose peer stays behind", StreamRemedy);
            }
            if (!externalAllowed)
            {
                return Checks.Fail(CheckName, $"{what}: CRIU dumps it only with --ext-unix-sk", "pass --ext-unix-sk; the restore connects it again to the same path, which must exist on the target");
            }
            if (peer is { Name: null })
            {
                return Checks.Fail(CheckName, $"{what}: CRIU connects such a socket again by its peer's name, and the peer has none", StreamRemedy);
            }
        }
        return Checks.Pass(CheckName,
            $"{Checks.Count(external.Count, "datagram socket")} connected outside the tree, connected again by name on the target (--ext-unix-sk)");
    }

    private static IEnumerable<HeldSocket> HeldBy(int pid) =>
        ProcFs.OpenFiles(pid)
            .Where(file => file.Target.StartsWith(SocketPrefix, StringComparison.Ordinal) && file.Target.EndsWith(']'))
            .Select(file => new HeldSocket(pid, file.Fd, ulong.Parse(file.Target[SocketPrefix.Length..^1], NumberStyles.None, CultureInfo.InvariantCulture)));

    /// <summary>Those of <paramref name="peers"/> that a process other than the tree's holds: every process's descriptors are read.</summary>
    private static HashSet<ulong> HeldOutside(IReadOnlyList<int> tree, IReadOnlySet<ulong> peers)
    {
        var inTree = tree.ToHashSet();
        return ProcFs.Pids().Where(pid => !inTree.Contains(pid))
            .SelectMany(HeldBy)
            .Select(socket => socket.Inode)
            .Where(peers.Contains)
            .ToHashSet();
    }

    private static string Describe(UnixSocketType type) => type switch
    {
        UnixSocketType.Stream => "stream",
        UnixSocketType.Datagram => "datagram",
        UnixSocketType.SeqPacket => "seqpacket",
        _ => "type " + ((int)type).ToString(CultureInfo.InvariantCulture),
    };

    private static string NetworkNamespace(int pid) => new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? $"gone {pid}";
}
