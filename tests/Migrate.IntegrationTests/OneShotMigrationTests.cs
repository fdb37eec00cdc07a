using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// migrate --to HOST:PORT PID against a real target agent, with real CRIU and
/// a real process, on every path whose failure can be injected.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class OneShotMigrationTests(Workloads workloads)
{
    [Fact]
    public async Task A_running_process_arrives_on_the_target_alive_and_intact()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 16);
        int pid = counter.Pid;

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        // Gone from the source: the original task is dead (a zombie until its parent, this test, reaps it).
        Assert.False(ProcFs.IsRunning(pid));
        // Alive in the target's PID namespace, under its own PID there.
        int restored = Assert.IsType<int>(target.FindProcess(pid));
        Assert.True(ProcFs.IsRunning(restored), $"restored process is in state {ProcFs.State(restored)}");
        await counter.WaitForProgressAsync();

        var report = result.Report!.Value;
        Assert.Equal("migrated", report.GetProperty("outcome").GetString());
        Assert.Equal(pid, report.GetProperty("pid").GetInt32());
        Assert.Equal(pid, report.GetProperty("restoredPid").GetInt32());
        Assert.Matches("^[0-9a-f]{32}$", report.GetProperty("sessionId").GetString());
        Assert.True(report.GetProperty("bytesRaw").GetInt64() > 16L << 20);
        Assert.True(report.GetProperty("bytesOnWire").GetInt64() > 0);
        foreach (var host in new[] { "source", "target" })
        {
            Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), report.GetProperty(host).GetProperty("kernelRelease").GetString());
            Assert.StartsWith("4.", report.GetProperty(host).GetProperty("criuVersion").GetString(), StringComparison.Ordinal);
        }
        var timeline = report.GetProperty("timeline");
        var steps = new[] { "freezeStart", "dumpEnd", "transferEnd", "restoreEnd", "commit", "resume" }
            .Select(step => timeline.GetProperty(step).GetDouble()).ToList();
        Assert.Equal(steps.Order(), steps);
        double frozen = report.GetProperty("frozenMs").GetDouble();
        Assert.Equal(steps[^1] - steps[0], frozen, precision: 3);
        Assert.Contains($"migrated PID {pid}", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_process_stopped_by_a_signal_arrives_stopped_and_runs_on_when_continued()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 4);
        int pid = counter.Pid;
        ProcFs.Signal(pid, "STOP");
        await Eventually.WaitAsync(() => ProcFs.State(pid) == 'T', "the counter to stop");

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        // The commit resumed the tree, but not a task its user had stopped: that is its state, and it moved with it.
        int restored = Assert.IsType<int>(target.FindProcess(pid));
        Assert.Equal('T', ProcFs.State(restored));
        ProcFs.Signal(restored, "CONT");
        await counter.WaitForProgressAsync();
    }

    [Theory]
    [InlineData("write-protect")]
    [InlineData("content-hash")]
    public async Task A_process_with_a_zombie_child_moves_with_its_zombie(string precopy)
    {
        await using var target = await TargetAgent.StartAsync();
        // The shell's background child exits unreaped; the shell becomes the counter, which never waits: a zombie child.
        // setsid first, so the zombie's session is the tree's: one left in the test host's session makes CRIU's restore
        // hang on the helper task it creates for it (README, Limits).
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 4, new WorkloadPlacement(Launcher: ["setsid", "sh", "-c", "true & exec \"$@\"", "sh"]));
        await Eventually.WaitAsync(() => ProcFs.Children(counter.Pid).Any(child => ProcFs.State(child) == 'Z'), "the counter's child to become a zombie");
        int zombie = ProcFs.Children(counter.Pid).Single();

        var result = await MigrateCli.RunAsync("--precopy", precopy, "--to", target.Address, "--token-file", target.TokenFile, counter.Pid.ToString());

        // CRIU dumps a zombie without memory: no pagemap image for the final pages to read.
        Assert.True(result.ExitCode == 0, result.ToString());
        int restored = Assert.IsType<int>(target.FindProcess(counter.Pid));
        Assert.Equal('Z', ProcFs.State(Assert.IsType<int>(target.FindProcess(zombie))));
        Assert.Contains(target.FindProcess(zombie)!.Value, ProcFs.Children(restored));
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_deleted_file_past_the_ghost_limit_is_refused_before_the_freeze_and_moves_with_its_content_under_a_higher_limit()
    {
        using var files = new TempDirectory("ghost");
        var path = files.Combine("spool");
        var content = new byte[4 << 20];
        Random.Shared.NextBytes(content);
        await File.WriteAllBytesAsync(path, content);
        await using var target = await TargetAgent.StartAsync();
        using var holder = await Locker.StartAsync(workloads, path, "open");
        File.Delete(path);
        string pid = holder.Pid.ToString(CultureInfo.InvariantCulture);

        var refused = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid);

        // Without the check, CRIU's dump would fail with the tree frozen ("Can't dump ghost file ... increase limit").
        Assert.True(refused.ExitCode == 3, refused.ToString());
        var check = refused.Check("deleted-files");
        Assert.Equal("fail", check.GetProperty("result").GetString());
        Assert.Equal($"task {pid} holds {path}, deleted, with 4096 KiB on disk: CRIU copies a deleted file's content into the images only up to --ghost-limit (1024 KiB)",
            check.GetProperty("detail").GetString());
        Assert.StartsWith("pass --ghost-limit 4M or more", check.GetProperty("remedy").GetString(), StringComparison.Ordinal);
        await holder.WaitForTicksAsync();

        var moved = await MigrateCli.RunAsync("--ghost-limit", "8M", "--to", target.Address, "--token-file", target.TokenFile, pid);

        Assert.True(moved.ExitCode == 0, moved.ToString());
        Assert.Equal("pass", moved.Check("deleted-files").GetProperty("result").GetString());
        int restored = Assert.IsType<int>(target.FindProcess(holder.Pid));
        // The restored process holds the file deleted still, with every byte it had.
        Assert.EndsWith(" (deleted)", new FileInfo($"/proc/{restored}/fd/{holder.Fd}").LinkTarget, StringComparison.Ordinal);
        Assert.Equal(content, await File.ReadAllBytesAsync($"/proc/{restored}/fd/{holder.Fd}"));
        await holder.WaitForTicksAsync();
    }

    [Fact]
    public async Task A_wrong_token_is_refused_and_the_process_is_untouched()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        using var wrong = new TempDirectory("token");
        var wrongToken = TokenFiles.WriteWrongToken(wrong.Combine("token"), target);

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", wrongToken, counter.Pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("refused", result.Report!.Value.GetProperty("outcome").GetString());
        Assert.Contains("token", result.Stdout, StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(counter.Pid));
        await counter.WaitForProgressAsync();
        Assert.Empty(Directory.Exists(target.WorkDirectory) ? Directory.GetDirectories(target.WorkDirectory) : []);
    }

    [Fact]
    public async Task A_nonexistent_pid_is_refused()
    {
        await using var target = await TargetAgent.StartAsync();
        int pid = UnusedPid();

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains($"no process with PID {pid}", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_target_is_refused_and_the_process_is_untouched()
    {
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        using var token = new TempDirectory("token");

        var result = await MigrateCli.RunAsync("--to", $"127.0.0.1:{ClosedPort()}", "--token-file", TokenFiles.WriteUnused(token.Combine("token")), counter.Pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("cannot reach the target", result.Stdout, StringComparison.Ordinal);
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_target_killed_during_the_transfer_leaves_the_process_running_on_the_source()
    {
        await using var target = await TargetAgent.StartAsync();
        // Without pre-copy, all 256 MiB move while frozen: the transfer lasts long after its first file lands.
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 256);

        var migration = MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, "--precopy", "off", counter.Pid.ToString());
        await Eventually.WaitAsync(() => ImagesArriving(target) || migration.IsCompleted, "image files to arrive on the target");
        target.Kill();
        var result = await migration;

        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Equal("rolledBack", result.Report!.Value.GetProperty("outcome").GetString());
        Assert.Contains($"running on the source as PID {counter.Pid}", result.Stdout, StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(counter.Pid), $"source process is in state {ProcFs.State(counter.Pid)}");
        await counter.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_failed_restore_leaves_the_process_on_the_source_and_no_copy_on_the_target()
    {
        // CRIU's own fault injection: FI_POST_RESTORE fails the restore after
        // the tasks exist (criu/include/fault-injection.h), so CRIU must kill them.
        await using var target = await TargetAgent.StartAsync(environment: new Dictionary<string, string> { ["CRIU_FAULT"] = "6" });
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 4);

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, counter.Pid.ToString());

        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("restore failed", result.Stdout, StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(counter.Pid));
        await counter.WaitForProgressAsync();
        await Eventually.WaitAsync(() => target.Guests().Count == 0, "no copy left in the target's namespace");
        await Eventually.WaitAsync(() => Directory.GetDirectories(target.WorkDirectory).All(session => !Directory.Exists(Path.Combine(session, "images"))),
            "the target to remove the session's images");
    }

    [Fact]
    public async Task A_failed_dump_leaves_the_process_running_on_the_source()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        // CRIU's FI_DUMP_EARLY fails the dump after the tasks are seized.
        var result = await MigrateCli.RunAsync(
            new Dictionary<string, string> { ["CRIU_FAULT"] = "1" },
            "--to", target.Address, "--token-file", target.TokenFile, counter.Pid.ToString());

        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Equal("rolledBack", result.Report!.Value.GetProperty("outcome").GetString());
        Assert.Contains("criu dump failed", result.Stdout, StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(counter.Pid), $"source process is in state {ProcFs.State(counter.Pid)}");
        await counter.WaitForProgressAsync();
        Assert.Empty(target.Guests());
    }

    private static bool ImagesArriving(TargetAgent target) =>
        Directory.Exists(target.WorkDirectory) &&
        Directory.EnumerateDirectories(target.WorkDirectory, "final", SearchOption.AllDirectories)
            .Any(set => Directory.EnumerateFiles(set).Any());

    private static int UnusedPid()
    {
        int max = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return Enumerable.Range(max - 1000, 1000).Reverse().First(pid => !ProcFs.Exists(pid));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
