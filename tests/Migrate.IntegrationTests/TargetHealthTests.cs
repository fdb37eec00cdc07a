using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Health.V1;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// The agent answers the standard gRPC health-checking protocol, and sources
/// use it to skip a target that is down long before the 10 s connect timeout.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class TargetHealthTests(Workloads workloads)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_running_agent_answers_serving_without_a_token()
    {
        await using var target = await TargetAgent.StartAsync();
        // TLS and the token file's pinning, as every connection to the agent; no token.
        using var channel = TlsChannels.To(target.Address, target.Credentials().Trust);

        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30));

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task Check_says_at_once_that_a_target_that_is_not_running_is_down()
    {
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        using var token = TokenFile();
        int port = FreePort();

        var clock = Stopwatch.StartNew();
        var result = await MigrateCli.RunRawAsync(null, "check", "--to", $"127.0.0.1:{port}", "--token-file", token.Combine("token"), counter.Pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains($"cannot reach the target 127.0.0.1:{port}: connection refused: is migrate-target running there, and listening on that port?", result.Stdout, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < ConnectTimeout, $"took {clock.Elapsed}");
        Assert.True(ProcFs.IsRunning(counter.Pid));
    }

    [Fact]
    public async Task Evacuate_skips_a_silent_target_and_moves_the_process_to_the_other()
    {
        await using var live = await TargetAgent.StartAsync();
        // Accepts connections (the kernel completes them into the backlog) and never answers, like a hung agent.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var silentAddress = $"127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}";
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 4);

        var result = await MigrateCli.RunAsync(
            "evacuate", "--to", silentAddress, "--to", live.Address, "--token-file", live.TokenFile, "--pid", counter.Pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"skipping the target {silentAddress}, which is down: no answer to a health check within 15 s", result.Stderr, StringComparison.Ordinal);
        var row = Assert.Single(result.Report!.Value.GetProperty("processes").EnumerateArray());
        Assert.Equal(live.Address, row.GetProperty("target").GetString());
        Assert.Equal("migrated", row.GetProperty("outcome").GetString());
        await counter.WaitForProgressAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static TempDirectory TokenFile()
    {
        var directory = new TempDirectory("token");
        TokenFiles.WriteUnused(directory.Combine("token"));
        return directory;
    }
}
