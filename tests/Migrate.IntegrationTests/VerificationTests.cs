using System.Text.Json;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// A process that would crash, misbehave or fail to restore on the target is
/// caught, and keeps running on the source. A target whose mount namespace
/// shows a copy of the workload's binary (same bytes and time, another inode)
/// stands for another host: probes on the original are not active there.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class VerificationTests(Workloads workloads)
{
    [Fact]
    public async Task Check_runs_every_check_and_freezes_nothing()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 4);

        var result = await MigrateCli.RunRawAsync(null, "check", "--to", target.Address, "--token-file", target.TokenFile, "--json", counter.Pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        var checks = JsonDocument.Parse(result.Stdout).RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(check => check.GetProperty("name").GetString()!, check => check.GetProperty("result").GetString());
        foreach (var name in new[] { "architecture", "criu", "vdso", "capabilities", "cpu", "files", "pids", "uprobes", "deleted-files", "unix-sockets" })
        {
            Assert.Equal("pass", checks[name]);
        }
        Assert.True(ProcFs.IsRunning(counter.Pid));
        await counter.WaitForProgressAsync();
        Assert.Empty(target.Guests());
    }

    [Fact]
    public async Task A_library_whose_content_differs_on_the_target_is_refused_by_path()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        var binary = ProcFs.Executable(counter.Pid);
        // Same size and time, one byte different: only the content hash can tell.
        await target.ShadowAsync(binary, bytes => bytes[^1] ^= 0xff);

        var result = await Migrate(target, counter.Pid);

        Assert.True(result.ExitCode == 3, result.ToString());
        var check = FailedCheck(result);
        Assert.Equal("files", check.GetProperty("name").GetString());
        Assert.Contains(binary, check.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task Pids_taken_on_the_target_are_refused_before_the_freeze()
    {
        // An agent in this PID namespace: the workload's own PID is taken there.
        await using var target = await TargetAgent.StartAsync(ownPidNamespace: false);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        var result = await Migrate(target, counter.Pid);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("pids", FailedCheck(result).GetProperty("name").GetString());
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_process_with_uprobes_is_refused_without_allow_uprobes()
    {
        await using var target = await TargetAgent.StartAsync();
        using var probed = await Probed.StartAsync(workloads, "fast");
        using var probe = UprobeEvent.Create(probed.Binary, "probed_function");
        await probed.WaitForCallsAsync();

        var result = await Migrate(target, probed.Pid);

        Assert.True(result.ExitCode == 3, result.ToString());
        var check = FailedCheck(result);
        Assert.Equal("uprobes", check.GetProperty("name").GetString());
        Assert.Contains("--allow-uprobes", check.GetProperty("remedy").GetString(), StringComparison.Ordinal);
        await probed.WaitForCallsAsync();
    }

    [Fact]
    public async Task A_probe_active_where_the_target_restores_lets_the_process_migrate()
    {
        await using var target = await TargetAgent.StartAsync();
        using var probed = await Probed.StartAsync(workloads, "fast");
        using var probe = UprobeEvent.Create(probed.Binary, "probed_function");
        await probed.WaitForCallsAsync();

        var result = await Migrate(target, probed.Pid, "--allow-uprobes");

        Assert.True(result.ExitCode == 0, result.ToString());
        var uprobes = Check(result, "uprobes");
        Assert.Equal("pass", uprobes.GetProperty("result").GetString());
        Assert.Contains("probed_function+0x0", uprobes.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.NotNull(target.FindProcess(probed.Pid));
        await probed.WaitForCallsAsync();
    }

    [Fact]
    public async Task A_probe_the_target_lacks_is_refused_and_the_process_stays_on_the_source()
    {
        await using var target = await TargetAgent.StartAsync();
        using var probed = await Probed.StartAsync(workloads, "fast");
        await target.ShadowAsync(probed.Binary);
        using var probe = UprobeEvent.Create(probed.Binary, "probed_function");
        await probed.WaitForCallsAsync();

        var result = await Migrate(target, probed.Pid, "--allow-uprobes");

        Assert.True(result.ExitCode == 3, result.ToString());
        var check = FailedCheck(result);
        Assert.Equal("uprobes", check.GetProperty("name").GetString());
        Assert.Contains($"{probed.Binary}+0x", check.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("probed_function", check.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(probed.Pid));
        await probed.WaitForCallsAsync();
    }

    [Fact]
    public async Task Strip_lets_the_process_run_unprobed_on_a_target_without_the_probe()
    {
        await using var target = await TargetAgent.StartAsync();
        using var probed = await Probed.StartAsync(workloads, "fast");
        await target.ShadowAsync(probed.Binary);
        using var probe = UprobeEvent.Create(probed.Binary, "probed_function");
        await probed.WaitForCallsAsync();

        var result = await Migrate(target, probed.Pid, "--allow-uprobes", "--uprobes", "strip");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(Checks(result), check =>
            check.GetProperty("name").GetString() == "uprobes" && check.GetProperty("detail").GetString()!.Contains("unprobed", StringComparison.Ordinal));
        int restored = Assert.IsType<int>(target.FindProcess(probed.Pid));
        // Calling the stripped function over and over: no SIGTRAP.
        for (int i = 0; i < 3; i++)
        {
            await probed.WaitForCallsAsync();
        }
        Assert.True(ProcFs.IsRunning(restored), $"the restored process is in state {ProcFs.State(restored)}");
    }

    [Fact]
    public async Task A_pending_return_probe_makes_the_freeze_wait_until_the_frame_has_returned()
    {
        await using var target = await TargetAgent.StartAsync();
        using var probed = await Probed.StartAsync(workloads, "slow");
        using var probe = UprobeEvent.Create(probed.Binary, "slow_function", returnProbe: true);
        await probed.WaitForCallsAsync();

        var result = await Migrate(target, probed.Pid, "--allow-uprobes");

        Assert.True(result.ExitCode == 0, result.ToString());
        // The freeze was checked: it found no pending return probe, or froze again and says why.
        var freeze = Assert.Single(Checks(result), check => check.GetProperty("name").GetString() == "freeze");
        switch (freeze.GetProperty("result").GetString())
        {
            case "pass":
                break;
            case "warn":
                Assert.Contains("return-probes", freeze.GetProperty("detail").GetString(), StringComparison.Ordinal);
                break;
            default:
                Assert.Fail(freeze.ToString());
                break;
        }
        int restored = Assert.IsType<int>(target.FindProcess(probed.Pid));
        await probed.WaitForCallsAsync();
        await probed.WaitForCallsAsync();
        Assert.True(ProcFs.IsRunning(restored) || ProcFs.State(restored) == 'S');
    }

    [Fact]
    public async Task A_return_probe_that_stays_pending_rolls_back_with_the_process_running_on_the_source()
    {
        await using var target = await TargetAgent.StartAsync();
        // Probed before it starts: it enters slow_function under the probe and never returns.
        using var probe = UprobeEvent.Create(workloads.Binary("probed"), "slow_function", returnProbe: true);
        using var stuck = await Probed.StartAsync(workloads, "stuck");

        var result = await Migrate(target, stuck.Pid, "--allow-uprobes");

        Assert.True(result.ExitCode == 4, result.ToString());
        var check = FailedCheck(result);
        Assert.Equal("return-probes", check.GetProperty("name").GetString());
        Assert.Contains("freezes", check.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(ProcFs.State(stuck.Pid) is 'S' or 'R', $"the source process is in state {ProcFs.State(stuck.Pid)}");
        Assert.Empty(target.Guests());
    }

    [Fact]
    public async Task The_clocks_stay_right_when_criu_replaces_the_vdso_with_a_proxy()
    {
        // CRIU's FI_VDSO_TRAMPOLINES builds the proxy even between identical kernels.
        await using var target = await TargetAgent.StartAsync(environment: new Dictionary<string, string> { ["CRIU_FAULT"] = "127" });
        using var clocks = await ClockCaller.StartAsync(workloads);

        var result = await Migrate(target, clocks.Pid);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.NotNull(target.FindProcess(clocks.Pid));
        await clocks.WaitForGoodCallsAsync();
        await clocks.WaitForGoodCallsAsync();
    }

    private static Task<MigrateResult> Migrate(TargetAgent target, int pid, params string[] options) =>
        MigrateCli.RunAsync(["--to", target.Address, "--token-file", target.TokenFile, .. options, pid.ToString()]);

    private static JsonElement.ArrayEnumerator Checks(MigrateResult result) =>
        result.Report!.Value.GetProperty("checks").EnumerateArray();

    private static JsonElement Check(MigrateResult result, string name) =>
        Checks(result).Last(check => check.GetProperty("name").GetString() == name);

    private static JsonElement FailedCheck(MigrateResult result) =>
        Checks(result).Single(check => check.GetProperty("result").GetString() == "fail");
}
