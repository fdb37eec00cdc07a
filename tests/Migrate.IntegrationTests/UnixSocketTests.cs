using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// A process with a unix socket connected to a peer outside its tree, as a
/// syslog client's on /dev/log or a systemd service's standard output on the
/// journal. What users rely on: CRIU's refusal (which would come with the
/// process frozen) comes before the freeze, naming the flag or saying why no
/// flag helps; with --ext-unix-sk a datagram socket arrives connected to the
/// same peer and goes on sending to it.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class UnixSocketTests(Workloads workloads)
{
    [Fact]
    public async Task A_datagram_socket_connected_outside_the_tree_is_refused_without_ext_unix_sk_and_moves_with_it_sending_to_the_same_peer()
    {
        using var directory = new TempDirectory("unixsk");
        var path = directory.Combine("log.sock");
        using var peer = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        peer.Bind(new UnixDomainSocketEndPoint(path));
        // A datagram socket's queue is short (net.unix.max_dgram_qlen): the peer reads all the time, or the client blocks.
        using var stop = new CancellationTokenSource();
        var received = StartReceivingTicks(peer, stop.Token);
        await using var target = await TargetAgent.StartAsync();
        using var client = await UnixClient.StartAsync(workloads, path, "dgram");
        string pid = client.Pid.ToString(CultureInfo.InvariantCulture);

        var refused = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid);

        // Without the check, CRIU's dump would fail with the process frozen ("External socket is used").
        Assert.True(refused.ExitCode == 3, refused.ToString());
        var check = refused.Check("unix-sockets");
        Assert.Equal("fail", check.GetProperty("result").GetString());
        Assert.Equal($"task {pid}'s descriptor {client.Fd} is a unix datagram socket connected to {path} outside the tree: CRIU dumps it only with --ext-unix-sk",
            check.GetProperty("detail").GetString());
        Assert.StartsWith("pass --ext-unix-sk", check.GetProperty("remedy").GetString(), StringComparison.Ordinal);
        await client.WaitForTicksAsync();

        var moved = await MigrateCli.RunAsync("--ext-unix-sk", "--to", target.Address, "--token-file", target.TokenFile, pid);

        Assert.True(moved.ExitCode == 0, moved.ToString());
        Assert.Equal("1 datagram socket connected outside the tree, connected again by name on the target (--ext-unix-sk)",
            moved.Check("unix-sockets").GetProperty("detail").GetString());
        Assert.NotNull(target.FindProcess(client.Pid));
        // The source copy is gone: what reaches the peer now comes from the restored copy, still numbering its ticks on.
        long before = received.Last;
        await Eventually.WaitAsync(() => received.Last > before + 10, "the restored client to send to the peer");
        await client.WaitForTicksAsync();
        await stop.CancelAsync();
    }

    [Fact]
    public async Task A_stream_socket_connected_outside_the_tree_is_refused_before_the_freeze_even_with_ext_unix_sk()
    {
        using var directory = new TempDirectory("unixsk");
        var path = directory.Combine("journal.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        await using var target = await TargetAgent.StartAsync();
        using var client = await UnixClient.StartAsync(workloads, path, "stream");
        using var accepted = await listener.AcceptAsync();

        var refused = await MigrateCli.RunAsync("--ext-unix-sk", "--to", target.Address, "--token-file", target.TokenFile, client.Pid.ToString(CultureInfo.InvariantCulture));

        // CRIU would fail the dump with the process frozen ("Can't dump half of stream unix connection").
        // An accepted socket bears its listener's name.
        Assert.True(refused.ExitCode == 3, refused.ToString());
        var check = refused.Check("unix-sockets");
        Assert.Equal("fail", check.GetProperty("result").GetString());
        Assert.Equal($"task {client.Pid}'s descriptor {client.Fd} is a unix stream socket connected to {path} outside the tree: CRIU moves only datagram sockets whose peer stays behind",
            check.GetProperty("detail").GetString());
        Assert.Contains("StandardOutput=null", check.GetProperty("remedy").GetString(), StringComparison.Ordinal);
        Assert.Contains("never frozen", refused.Stdout, StringComparison.Ordinal);
        await client.WaitForTicksAsync();
        Assert.Empty(target.Guests());
    }

    /// <summary>The highest tick number that has reached the peer.</summary>
    private sealed class Ticks
    {
        private long _last;

        public long Last => Interlocked.Read(ref _last);

        public void Saw(long tick) => Interlocked.Exchange(ref _last, Math.Max(Last, tick));
    }

    /// <summary>Reads every datagram ("tick N PID\n") that reaches <paramref name="peer"/> until cancelled.</summary>
    private static Ticks StartReceivingTicks(Socket peer, CancellationToken cancellationToken)
    {
        var ticks = new Ticks();
        _ = Task.Run(async () =>
        {
            var buffer = new byte[256];
            try
            {
                while (true)
                {
                    int length = await peer.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                    ticks.Saw(long.Parse(Encoding.ASCII.GetString(buffer, 0, length).Split(' ')[1], CultureInfo.InvariantCulture));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
            }
        }, CancellationToken.None);
        return ticks;
    }
}
