using Migrate.Engine.Compat;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Compat;

public sealed class UnixSocketPeersTests
{
    private static readonly UnixSocket Log = new(900, UnixSocketType.Datagram, "/dev/log", 0);

    private static Dictionary<ulong, UnixSocket> Sockets(params UnixSocket[] sockets) => sockets.ToDictionary(socket => socket.Inode);

    [Fact]
    public void Sockets_connected_within_the_tree_or_not_at_all_pass()
    {
        // A socketpair between two tasks of the tree, and a listening socket.
        var check = UnixSocketPeers.Check(
            [new(10, 3, 100), new(11, 3, 101), new(10, 4, 102)],
            Sockets(new(100, UnixSocketType.Stream, null, 101), new(101, UnixSocketType.Stream, null, 100), new(102, UnixSocketType.Stream, "/run/app.sock", 0)),
            heldOutside: new HashSet<ulong>(), externalAllowed: false);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("no unix socket of the tree is connected outside it", check.Detail);
    }

    [Fact]
    public void A_datagram_socket_on_a_named_peer_outside_fails_without_ext_unix_sk_and_passes_with_it()
    {
        UnixSocketPeers.HeldSocket[] held = [new(10, 5, 100)];
        var sockets = Sockets(new(100, UnixSocketType.Datagram, null, 900), Log);

        var refused = UnixSocketPeers.Check(held, sockets, new HashSet<ulong> { 900 }, externalAllowed: false);
        var allowed = UnixSocketPeers.Check(held, sockets, new HashSet<ulong> { 900 }, externalAllowed: true);

        Assert.Equal(CheckVerdict.Fail, refused.Verdict);
        Assert.Equal("task 10's descriptor 5 is a unix datagram socket connected to /dev/log outside the tree: CRIU dumps it only with --ext-unix-sk", refused.Detail);
        Assert.Equal(CheckVerdict.Pass, allowed.Verdict);
        Assert.Equal("1 datagram socket connected outside the tree, connected again by name on the target (--ext-unix-sk)", allowed.Detail);
    }

    [Fact]
    public void A_stream_socket_on_a_peer_outside_fails_even_with_ext_unix_sk()
    {
        // A systemd service's standard output on journald's stream socket.
        var check = UnixSocketPeers.Check([new(10, 1, 100)],
            Sockets(new(100, UnixSocketType.Stream, null, 901), new(901, UnixSocketType.Stream, "/run/systemd/journal/stdout", 0)),
            new HashSet<ulong> { 901 }, externalAllowed: true);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("task 10's descriptor 1 is a unix stream socket connected to /run/systemd/journal/stdout outside the tree: CRIU moves only datagram sockets whose peer stays behind",
            check.Detail);
        Assert.Contains("StandardOutput=null", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void A_datagram_socket_on_an_unnamed_peer_fails_with_ext_unix_sk()
    {
        var check = UnixSocketPeers.Check([new(10, 5, 100)],
            Sockets(new(100, UnixSocketType.Datagram, null, 901), new(901, UnixSocketType.Datagram, null, 0)),
            new HashSet<ulong> { 901 }, externalAllowed: true);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("task 10's descriptor 5 is a unix datagram socket connected to an unnamed socket outside the tree: CRIU connects such a socket again by its peer's name, and the peer has none",
            check.Detail);
    }

    [Fact]
    public void A_peer_nobody_holds_is_left_to_CRIU()
    {
        // In flight in a queue (SCM_RIGHTS): no descriptor of any process, so not a process outside the tree.
        var check = UnixSocketPeers.Check([new(10, 5, 100)],
            Sockets(new(100, UnixSocketType.Stream, null, 901), new(901, UnixSocketType.Stream, null, 100)), new HashSet<ulong>(), externalAllowed: false);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
    }
}
