using System.Globalization;
using System.Net.Sockets;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>tests/workloads/echo.c, with one connection from this test held open.</summary>
internal sealed class EchoServer : Workload
{
    private TcpClient? _client;

    private EchoServer(Workloads workloads) : base(workloads, "echo", directory => [Path.Combine(directory, "port")])
    {
    }

    public static async Task<EchoServer> StartConnectedAsync(Workloads workloads)
    {
        var server = new EchoServer(workloads);
        var portFile = Path.Combine(server.Directory, "port");
        var port = await Eventually.WaitAsync(
            () => File.Exists(portFile) && int.TryParse(File.ReadAllText(portFile), CultureInfo.InvariantCulture, out int p) ? p.ToString(CultureInfo.InvariantCulture) : null,
            "the echo server's port");
        server._client = new TcpClient();
        await server._client.ConnectAsync("127.0.0.1", int.Parse(port, CultureInfo.InvariantCulture));
        await server.RoundTripAsync("hello");
        return server;
    }

    /// <summary>Sends a line on the held connection and expects it back, within a deadline.</summary>
    public async Task RoundTripAsync(string text)
    {
        var stream = _client!.GetStream();
        var sent = System.Text.Encoding.ASCII.GetBytes(text + "\n");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await stream.WriteAsync(sent, timeout.Token);
        var received = new byte[sent.Length];
        await stream.ReadExactlyAsync(received, timeout.Token);
        Assert.Equal(sent, received);
    }

    protected override void Release() => _client?.Dispose();
}
