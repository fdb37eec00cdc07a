using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// Where a restored process lands in the cgroup tree (cgroup v2). By default
/// CRIU puts it back into the cgroup it had on the source, made on the target
/// if missing; a target agent run by systemd keeps it in its own unit's
/// (--restored-cgroups agent, the package's setting), so the service manager
/// knows every process, and no cgroup of another host's unit appears behind its back.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class RestoredCgroupTests(Workloads workloads) : IDisposable
{
    private static readonly string Hierarchy = File.ReadLines("/proc/self/mounts")
        .Select(line => line.Split(' '))
        .Where(fields => fields[2] == "cgroup2")
        .Select(fields => fields[1])
        .First();

    /// <summary>A cgroup of this test's own, at the top of the v2 hierarchy.</summary>
    private readonly string _cgroup = "/migrate-test-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task By_default_a_process_is_restored_into_the_cgroup_it_had_on_the_source()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await StartInOwnCgroupAsync();

        var restored = await MigrateAsync(target, counter);

        Assert.Equal(_cgroup, CgroupOf(restored));
    }

    [Fact]
    public async Task With_restored_cgroups_agent_a_process_is_restored_into_the_agents_cgroup()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--restored-cgroups", "agent"]);
        using var counter = await StartInOwnCgroupAsync();

        var restored = await MigrateAsync(target, counter);

        Assert.Equal(CgroupOf(target.AgentPid), CgroupOf(restored));
        Assert.NotEqual(_cgroup, CgroupOf(restored));
    }

    private async Task<Counter> StartInOwnCgroupAsync()
    {
        Directory.CreateDirectory(Hierarchy + _cgroup);
        // The shell joins the cgroup, then becomes the counter: its PID is the counter's.
        var counter = await Counter.StartAsync(workloads, bufferMiB: 4, new WorkloadPlacement(
            Launcher: ["sh", "-c", $"echo $$ > {Hierarchy}{_cgroup}/cgroup.procs && exec \"$@\"", "sh"]));
        Assert.Equal(_cgroup, CgroupOf(counter.Pid));
        return counter;
    }

    private static async Task<int> MigrateAsync(TargetAgent target, Counter counter)
    {
        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, counter.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(result.ExitCode == 0, result.ToString());
        var restored = target.FindProcess(counter.Pid);
        Assert.NotNull(restored);
        await counter.WaitForProgressAsync();
        return restored.Value;
    }

    /// <summary>The v2 cgroup of a process ("0::/path" in /proc/PID/cgroup).</summary>
    private static string CgroupOf(int pid) =>
        File.ReadLines($"/proc/{pid}/cgroup").Single(line => line.StartsWith("0::", StringComparison.Ordinal))["0::".Length..];

    public void Dispose()
    {
        // Empty once the test's processes are gone (the workload and the agent were disposed first).
        if (Directory.Exists(Hierarchy + _cgroup))
        {
            Directory.Delete(Hierarchy + _cgroup);
        }
    }
}
