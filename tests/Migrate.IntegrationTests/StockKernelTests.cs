using System.Globalization;
using System.Text.Json;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// Migrations between this machine's 6.18 kernel and Debian's stock 6.1 kernel
/// running under qemu: soft-dirty pre-copy for real (this kernel has none),
/// and CRIU proxifying the vDSO because the kernels' vDSOs differ.
/// Everything runs under emulation in the guest, so deadlines are long.
/// </summary>
[Collection(StockKernelCollection.Name)]
public sealed class StockKernelTests(Workloads workloads, StockKernelGuest guest)
{
    private const int HotMiB = 2;
    private static readonly TimeSpan Emulated = TimeSpan.FromMinutes(5);

    // Root here lacks CAP_SYS_RESOURCE, so a guest process that CRIU restores
    // here must not hold it (ENVIRONMENT.md).
    private static readonly string[] WithoutSysResource = ["setsid", "setpriv", "--bounding-set", "-sys_resource"];

    [Fact]
    public async Task Soft_dirty_pre_copy_from_the_6_1_kernel_arrives_exact_on_this_one_restored_lazily_from_its_image_chain()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--keep-images"]);
        var status = StatusPath("dirtier");
        int pid = await guest.StartAsync([.. WithoutSysResource, guest.Share(workloads.Binary("dirtier")), status, "32", HotMiB.ToString(CultureInfo.InvariantCulture), "20"]);
        await StatusFile.WaitBeyondAsync(status, "passes", 0, "the dirtier's first pass in the guest", Emulated);

        var report = await MigrateFromGuestAsync(target, pid);

        var precopy = report.GetProperty("precopy");
        Assert.Equal("softDirty", precopy.GetProperty("mode").GetString());
        Assert.True(report.GetProperty("rounds").GetArrayLength() >= 1);
        Assert.True(report.GetProperty("rounds")[0].GetProperty("sentPages").GetInt64() >= 32 * 256);
        // The final dump is incremental: about the hot set, not the whole process.
        // Debian's kernel backs the buffer with transparent huge pages, whose
        // soft-dirty bit covers 2 MiB: an unaligned hot set dirties one huge
        // page more than it spans. Stacks and libc's data take the last MiB.
        const long HugePage = 2 << 20;
        long bound = ((long)HotMiB << 20) + HugePage + (1 << 20);
        long frozenBytes = report.GetProperty("final").GetProperty("bytesRaw").GetInt64();
        Assert.True(frozenBytes <= bound, $"{frozenBytes} bytes sent while frozen for a {HotMiB} MiB hot set (bound {bound})");
        Assert.Contains("proxify", Check(report, "vdso").GetProperty("detail").GetString(), StringComparison.Ordinal);
        // The pages the final dump left in the pre-copy sets are served by the
        // lazy-pages daemon, not loaded by the restorer before the process
        // exists (patch 0004; CRIU 4.2.1 loaded all of them itself).
        Assert.Equal("lazy", report.GetProperty("restore").GetString());
        var restored = CriuRestoreLog.Pages(target, report);
        Assert.True(restored.Lazy >= 30 * 256, $"{restored.Lazy} pages left to the lazy-pages daemon of a 32 MiB process");
        Assert.True(restored.Loaded < 256, $"the restorer loaded {restored.Loaded} pages itself");
        Assert.NotNull(target.FindProcess(pid));
        await Dirtier.VerifyEveryPageAsync(status, Emulated);
    }

    [Fact]
    public async Task The_clocks_stay_right_through_a_real_vdso_proxy_for_a_process_that_lives_in_the_vdso()
    {
        await using var target = await TargetAgent.StartAsync();
        var status = StatusPath("clocks");
        int pid = await guest.StartAsync([.. WithoutSysResource, guest.Share(workloads.Binary("clockcaller")), status]);
        await StatusFile.WaitBeyondAsync(status, "calls", 0, "the clock caller to start in the guest", Emulated);

        var report = await MigrateFromGuestAsync(target, pid);

        Assert.Equal("warn", Check(report, "vdso").GetProperty("result").GetString());
        // The patch-window check ran on this proxified freeze: it passed at once, or froze again.
        var freeze = Check(report, "freeze");
        Assert.True(freeze.GetProperty("result").GetString() is "pass" || freeze.GetProperty("detail").GetString()!.Contains("vdso-patch", StringComparison.Ordinal),
            freeze.ToString());
        Assert.NotNull(target.FindProcess(pid));
        await ClockCaller.WaitForGoodCallsAsync(status, Emulated);
        await ClockCaller.WaitForGoodCallsAsync(status, Emulated);
    }

    [Fact]
    public async Task A_capability_this_host_cannot_grant_is_refused_before_the_freeze()
    {
        await using var target = await TargetAgent.StartAsync();
        var status = StatusPath("capable");
        // Root in the guest holds CAP_SYS_RESOURCE, which root here lacks.
        int pid = await guest.StartAsync(["setsid", guest.Share(workloads.Binary("dirtier")), status, "8", "1", "10"]);
        await StatusFile.WaitBeyondAsync(status, "passes", 0, "the dirtier's first pass in the guest", Emulated);

        var (exitCode, stdout, stderr) = await guest.ExecAsync(
            Path.Combine(guest.Bin, "migrate"), "--to", $"10.0.2.2:{target.Port}", "--token-file", guest.Share(target.TokenFile),
            "--work-dir", "/tmp/migrate-source", pid.ToString(CultureInfo.InvariantCulture));

        try
        {
            Assert.True(exitCode == 3, $"exit {exitCode}\n{stdout}\n{stderr}");
            Assert.True(stdout.Contains("capabilities", StringComparison.Ordinal) && stdout.Contains("cap_sys_resource", StringComparison.Ordinal),
                $"the capabilities check, for cap_sys_resource, should have refused:\n{stdout}\n{stderr}");
            await Dirtier.VerifyEveryPageAsync(status, Emulated);
            Assert.Empty(target.Guests());
        }
        finally
        {
            await guest.ExecAsync("kill", "-KILL", pid.ToString(CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public async Task A_process_of_this_kernel_moves_into_the_6_1_guest()
    {
        var token = Path.Combine(guest.Exchange, "guest-token");
        var (agentPid, agentLog) = await StartAgentInGuestAsync(token);
        try
        {
            var directory = Directory.CreateDirectory(Path.Combine(guest.Exchange, "outbound-" + Guid.NewGuid().ToString("N"))).FullName;
            // The guest's emulated CPU has no AVX-512; glibc here would pick it.
            using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 32, hotMiB: HotMiB, rateMiBPerSecond: 20, new WorkloadPlacement(
                Binary: guest.Share(workloads.Binary("dirtier")),
                Directory: directory,
                Environment: new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD" }));

            var result = await MigrateCli.RunAsync(
                "--to", $"127.0.0.1:{guest.ForwardedPort}", "--token-file", token, "--ignore-check", "cpu", dirtier.Pid.ToString(CultureInfo.InvariantCulture));

            Assert.True(result.ExitCode == 0, result + "\nagent in the guest:\n" + File.ReadAllText(agentLog));
            var report = result.Report!.Value;
            Assert.Contains("ignored by --ignore-check cpu", Check(report, "cpu").GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.StartsWith("6.1.", report.GetProperty("target").GetProperty("kernelRelease").GetString(), StringComparison.Ordinal);
            await dirtier.VerifyEveryPageAsync();
        }
        finally
        {
            // Its PID namespace, and the migrated process in it, end with it.
            await guest.ExecAsync("kill", "-KILL", agentPid.ToString(CultureInfo.InvariantCulture));
        }
    }

    private async Task<JsonElement> MigrateFromGuestAsync(TargetAgent target, int pid)
    {
        var report = Path.Combine(guest.Exchange, $"report-{pid}.json");
        var (exitCode, stdout, stderr) = await guest.ExecAsync(
            Path.Combine(guest.Bin, "migrate"), "--to", $"10.0.2.2:{target.Port}", "--token-file", guest.Share(target.TokenFile),
            "--work-dir", "/tmp/migrate-source", "--report", report, pid.ToString(CultureInfo.InvariantCulture));
        Assert.True(exitCode == 0, $"exit {exitCode}\n{stdout}\n{stderr}\ntarget:\n{target.Output}");
        return JsonDocument.Parse(await File.ReadAllTextAsync(report)).RootElement.Clone();
    }

    /// <summary>Starts a target agent in the guest, in its own PID namespace; returns the PID of its unshare and its log.</summary>
    private async Task<(int Pid, string Log)> StartAgentInGuestAsync(string token)
    {
        int pid = await guest.StartAsync("unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
            Path.Combine(guest.Bin, "migrate-target"), "--listen", $"0.0.0.0:{StockKernelGuest.AgentPort}",
            "--work-dir", "/tmp/migrate-target", "--token-file", token,
            // The guest's /tmp is a tmpfs of half its memory, less than the 1 GiB the agent keeps free by default.
            "--min-free-disk-mib", "64");
        var log = Path.Combine(guest.Exchange, ".stock-kernel", $"pid-{pid}.out");
        await Eventually.WaitAsync(() => File.Exists(log) && File.ReadAllText(log).Contains("listening on", StringComparison.Ordinal),
            "the target agent in the guest", Emulated);
        return (pid, log);
    }

    private string StatusPath(string name) => Path.Combine(guest.Exchange, $"{name}-{Guid.NewGuid():N}.status");

    private static JsonElement Check(JsonElement report, string name) =>
        report.GetProperty("checks").EnumerateArray().Last(check => check.GetProperty("name").GetString() == name);
}
