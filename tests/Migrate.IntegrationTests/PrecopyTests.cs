using System.Diagnostics;
using System.Text.Json;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// Pre-copy on real CRIU and real processes: every page arrives exact, the
/// rounds stop for the reasons the issue names, and the target's rebuilt
/// images are CRIU's own. This kernel has no soft-dirty tracking, so the
/// content-hash tracker is what runs here (the stock-kernel host tests the other).
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class PrecopyTests(Workloads workloads)
{
    [Fact]
    public async Task Every_page_arrives_exact_with_content_hash_pre_copy_and_a_lazy_restore()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 64, hotMiB: 8, rateMiBPerSecond: 50);

        var result = await Migrate(target, dirtier.Pid, "--precopy", "content-hash");

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        var precopy = report.GetProperty("precopy");
        Assert.Equal("contentHash", precopy.GetProperty("mode").GetString());
        Assert.Equal("--precopy content-hash", precopy.GetProperty("reason").GetString());
        Assert.True(report.GetProperty("rounds").GetArrayLength() >= 1);
        Assert.Equal(64L << 20, report.GetProperty("rounds")[0].GetProperty("bytesRaw").GetInt64(), 1L << 20);
        Assert.Equal("lazy", report.GetProperty("restore").GetString());
        var timeline = report.GetProperty("timeline");
        Assert.True(timeline.GetProperty("lastPage").GetDouble() >= timeline.GetProperty("resume").GetDouble());
        Assert.NotNull(target.FindProcess(dirtier.Pid));
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task Auto_picks_write_protect_here_the_freeze_moves_only_what_changed_since_the_last_round_and_the_chain_restores_lazily()
    {
        const int SizeMiB = 256;
        await using var target = await TargetAgent.StartAsync(arguments: ["--keep-images"]);
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: SizeMiB, hotMiB: 4, rateMiBPerSecond: 20);

        var result = await Migrate(target, dirtier.Pid);

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        var precopy = report.GetProperty("precopy");
        Assert.Equal("writeProtect", precopy.GetProperty("mode").GetString());
        Assert.Contains("userfaultfd write-protect", precopy.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var rounds = report.GetProperty("rounds");
        // The first round reads everything; the later ones only the pages written since.
        Assert.Equal((long)SizeMiB << 20, rounds[0].GetProperty("bytesRaw").GetInt64(), 2L << 20);
        if (rounds.GetArrayLength() > 1)
        {
            Assert.True(rounds[1].GetProperty("pagesScanned").GetInt64() < SizeMiB * 256 / 4, rounds[1].ToString());
        }
        var final = report.GetProperty("final");
        long dirtyBytes = final.GetProperty("pagesSent").GetInt64() * 4096;
        long read = final.GetProperty("bytesRead").GetInt64();
        long written = final.GetProperty("bytesWritten").GetInt64();
        // CRIU's images besides memory: a few hundred KiB for this process.
        const long OtherImages = 1L << 20;
        Assert.True(dirtyBytes < (SizeMiB << 20) / 8, $"{dirtyBytes} dirty bytes dumped while frozen");
        Assert.True(read <= dirtyBytes + OtherImages, $"{read} bytes read while frozen, {dirtyBytes} dirty");
        Assert.True(written <= 2 * dirtyBytes + OtherImages, $"{written} bytes written on the target while frozen, {dirtyBytes} dirty");
        // The pages the final dump left in the rounds' image sets are served by
        // the lazy-pages daemon, not loaded by the restorer before the process
        // exists (patch 0004; CRIU 4.2.1 loaded all of them itself).
        Assert.Equal("lazy", report.GetProperty("restore").GetString());
        var restored = CriuRestoreLog.Pages(target, report);
        Assert.True(restored.Lazy >= (SizeMiB - 8) * 256, $"{restored.Lazy} pages left to the lazy-pages daemon of a {SizeMiB} MiB process");
        Assert.True(restored.Loaded < 256, $"the restorer loaded {restored.Loaded} pages itself");
        Assert.NotNull(target.FindProcess(dirtier.Pid));
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task A_source_agent_killed_mid_round_leaves_the_process_running_untraced_and_unprotected()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 512, hotMiB: 16, rateMiBPerSecond: 50);

        var migration = Migrate(target, dirtier.Pid, "--precopy", "write-protect");
        // migrate is this test's child: found by that, ended by its own PID.
        int migrate = 0;
        await Eventually.WaitAsync(
            () => (migrate = ProcFs.Children(Environment.ProcessId).FirstOrDefault(pid => ProcFs.CommandLine(pid).StartsWith(Repository.Migrate, StringComparison.Ordinal))) > 0,
            "migrate to start");
        await Eventually.WaitAsync(() => ChainPagesArriving(target) || migration.IsCompleted, "the first round's pages to arrive on the target");
        Assert.False(migration.IsCompleted, "the migration ended before it could be killed mid-round");
        Assert.True(ProcFs.WriteProtectedPages(dirtier.Pid) > 0, "the tracker had not protected the process's memory yet");
        ProcFs.Kill(migrate);
        var result = await migration;

        Assert.NotEqual(0, result.ExitCode);
        Assert.True(ProcFs.IsRunning(dirtier.Pid));
        Assert.Equal(0, ProcFs.TracerPid(dirtier.Pid));
        // The kernel closed the agent's userfaultfd with it, which unregistered every range.
        Assert.DoesNotContain("anon_inode:[userfaultfd]", ProcFs.DescriptorTargets(dirtier.Pid));
        Assert.Equal(0, ProcFs.WriteProtectedPages(dirtier.Pid));
        ulong writes = dirtier.Writes;
        await dirtier.VerifyEveryPageAsync();
        Assert.True(dirtier.Writes > writes);
    }

    [Fact]
    public async Task Every_page_arrives_exact_without_pre_copy_and_with_an_eager_restore()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 64, hotMiB: 8, rateMiBPerSecond: 50);

        var result = await Migrate(target, dirtier.Pid, "--precopy", "off", "--restore", "eager");

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        Assert.Equal("off", report.GetProperty("precopy").GetProperty("mode").GetString());
        Assert.Equal("off", report.GetProperty("precopy").GetProperty("stopReason").GetString());
        Assert.Equal(0, report.GetProperty("rounds").GetArrayLength());
        Assert.Equal("eager", report.GetProperty("restore").GetString());
        Assert.True(report.GetProperty("final").GetProperty("pagesSent").GetInt64() >= 64 * 256);
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task A_small_hot_set_converges_in_a_few_rounds_and_the_freeze_sends_little()
    {
        const int HotMiB = 1;
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 128, hotMiB: HotMiB, rateMiBPerSecond: 10);

        var result = await Migrate(target, dirtier.Pid);

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        Assert.Equal("converged", report.GetProperty("precopy").GetProperty("stopReason").GetString());
        Assert.InRange(report.GetProperty("rounds").GetArrayLength(), 1, 4);
        // While frozen, only what changed since the last round travels: far less than the process.
        long frozenBytes = report.GetProperty("final").GetProperty("bytesOnWire").GetInt64();
        Assert.True(frozenBytes < 2L * HotMiB << 20, $"{frozenBytes} bytes sent while frozen for a {HotMiB} MiB hot set");
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task A_process_that_rewrites_all_its_memory_is_reported_as_not_converging_and_still_arrives_exact()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 32, hotMiB: 32, rateMiBPerSecond: 0);

        var result = await Migrate(target, dirtier.Pid, "--downtime-target", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        var precopy = result.Report!.Value.GetProperty("precopy");
        Assert.Equal("notConverging", precopy.GetProperty("stopReason").GetString());
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task Require_convergence_stops_a_process_that_does_not_converge_before_anything_is_frozen()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 32, hotMiB: 32, rateMiBPerSecond: 0);

        var result = await Migrate(target, dirtier.Pid, "--downtime-target", "1", "--require-convergence");

        Assert.True(result.ExitCode == 3, result.ToString());
        var report = result.Report!.Value;
        Assert.Equal("refused", report.GetProperty("outcome").GetString());
        Assert.Contains("did not converge", report.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, report.GetProperty("timeline").GetProperty("freezeStart").ValueKind);
        Assert.True(ProcFs.IsRunning(dirtier.Pid));
        ulong writes = dirtier.Writes;
        await dirtier.VerifyEveryPageAsync();
        Assert.True(dirtier.Writes > writes);
        Assert.Empty(target.Guests());
    }

    [Fact]
    public async Task The_target_rebuilds_criu_s_pages_images_byte_for_byte()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--keep-images"]);
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 32, hotMiB: 4, rateMiBPerSecond: 20);
        using var source = new TempDirectory("source");

        var result = await Migrate(target, dirtier.Pid, "--precopy", "content-hash", "--keep-images", "--work-dir", source.Path);

        Assert.True(result.ExitCode == 0, result.ToString());
        var session = result.Report!.Value.GetProperty("sessionId").GetString()!;
        var dumped = Path.Combine(source.Path, session, "images", "final");
        var rebuilt = Path.Combine(target.WorkDirectory, session, "images", "final");
        var pagesFiles = Directory.GetFiles(dumped, "pages-*.img");
        Assert.NotEmpty(pagesFiles);
        long pagesBytes = 0;
        foreach (var pages in pagesFiles)
        {
            var name = Path.GetFileName(pages);
            Assert.True(File.ReadAllBytes(pages).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(rebuilt, name))),
                $"{name} rebuilt on the target differs from CRIU's");
            pagesBytes += new FileInfo(pages).Length;
        }
        // The pages images were rebuilt, not sent: the freeze moved far fewer bytes than they hold.
        Assert.True(result.Report.Value.GetProperty("final").GetProperty("bytesRaw").GetInt64() < pagesBytes / 2);
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task Soft_dirty_pre_copy_is_refused_on_a_kernel_without_soft_dirty_tracking()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        var result = await Migrate(target, counter.Pid, "--precopy", "soft-dirty");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("soft-dirty", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--precopy content-hash", result.Stdout, StringComparison.Ordinal);
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_target_lost_during_pre_copy_leaves_the_process_running_never_frozen()
    {
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 256, hotMiB: 16, rateMiBPerSecond: 50);

        var migration = Migrate(target, dirtier.Pid, "--precopy", "content-hash");
        await Eventually.WaitAsync(() => PagesArriving(target) || migration.IsCompleted, "pages to arrive on the target");
        target.Kill();
        var result = await migration;

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("refused", result.Report!.Value.GetProperty("outcome").GetString());
        Assert.Contains("never frozen", result.Stdout, StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(dirtier.Pid));
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task A_rolled_back_migration_keeps_established_tcp_connections_working()
    {
        // CRIU's FI_POST_RESTORE fails the restore on the target after the freeze.
        await using var target = await TargetAgent.StartAsync(environment: new Dictionary<string, string> { ["CRIU_FAULT"] = "6" });
        using var server = await EchoServer.StartConnectedAsync(workloads);

        var result = await Migrate(target, server.Pid, "--tcp-established");

        Assert.True(result.ExitCode == 4, result.ToString());
        // CRIU's own roll-back unlocked the network and took the socket out of repair mode.
        await server.RoundTripAsync("still here after the roll-back");
        Assert.DoesNotContain("CRIU-", await NftTablesAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lazy_pages_daemon_that_dies_is_never_silent()
    {
        await using var target = await TargetAgent.StartAsync();
        // Large enough that the daemon is still copying pages when the restore returns.
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 512, hotMiB: 4, rateMiBPerSecond: 20);

        var migration = Migrate(target, dirtier.Pid, "--precopy", "off");
        // Kill the daemon the moment the target has restored its stopped copy.
        await Eventually.WaitAsync(() => target.Output.Contains("lazily, stopped", StringComparison.Ordinal) || migration.IsCompleted,
            "the target to restore lazily");
        var daemons = target.Guests()
            .Where(pid => ProcFs.CommandLine(pid).Contains("lazy-pages", StringComparison.Ordinal) && ProcFs.State(pid) != 'Z')
            .ToList();
        daemons.ForEach(ProcFs.Kill);
        var result = await migration;

        var report = result.Report!.Value;
        if (daemons.Count == 0)
        {
            // It had served every page already: nothing was lost.
            Assert.True(result.ExitCode == 0, result.ToString());
            await dirtier.VerifyEveryPageAsync();
        }
        else if (result.ExitCode == 0)
        {
            // Killed before the resume: the target restored again with all memory, and says so.
            Assert.Contains("restored again", report.GetProperty("restoreNote").GetString(), StringComparison.Ordinal);
            await dirtier.VerifyEveryPageAsync();
        }
        else
        {
            // Killed after the resume: the report says the memory may be corrupt.
            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains("lazy-pages", report.GetProperty("processState").GetString(), StringComparison.Ordinal);
        }
    }

    private static Task<MigrateResult> Migrate(TargetAgent target, int pid, params string[] options) =>
        MigrateCli.RunAsync(["--to", target.Address, "--token-file", target.TokenFile, .. options, pid.ToString()]);

    private static bool PagesArriving(TargetAgent target) =>
        Directory.Exists(target.WorkDirectory) &&
        Directory.EnumerateFiles(target.WorkDirectory, "pages.store", SearchOption.AllDirectories).Any(store => new FileInfo(store).Length > 0);

    /// <summary>A write-protect round's image set is being written on the target.</summary>
    private static bool ChainPagesArriving(TargetAgent target) =>
        Directory.Exists(target.WorkDirectory) &&
        Directory.EnumerateFiles(target.WorkDirectory, "pages-*.img", SearchOption.AllDirectories)
            .Any(pages => pages.Contains($"{Path.DirectorySeparatorChar}pre-1{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && new FileInfo(pages).Length > 0);

    private static async Task<string> NftTablesAsync()
    {
        using var nft = Process.Start(new ProcessStartInfo("nft", "list tables") { RedirectStandardOutput = true })!;
        var tables = await nft.StandardOutput.ReadToEndAsync();
        await nft.WaitForExitAsync();
        return tables;
    }
}
