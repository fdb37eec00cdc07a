using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// Services whose processes share memory: shared within the tree it moves and
/// stays shared; shared with a process outside the tree it would part, so
/// pre-flight refuses it.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class SharedMemoryTests(Workloads workloads)
{
    [Theory]
    [InlineData(null)]
    [InlineData(UserfaultfdInjectionTests.Nobody)]
    public async Task A_parent_and_child_that_share_anonymous_memory_arrive_as_their_user_still_sharing_it(int? user)
    {
        using var sharer = await Sharer.ForkAsync(workloads, sizeMiB: 32, user);
        await MovesStillSharing(sharer, user);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(UserfaultfdInjectionTests.Nobody)]
    public async Task A_parent_and_child_that_share_a_SysV_segment_in_their_own_IPC_namespace_arrive_as_their_user_still_sharing_it(int? user)
    {
        using var sharer = await Sharer.SysvAsync(workloads, sizeMiB: 32, ownIpcNamespace: true, user);
        await MovesStillSharing(sharer, user);
    }

    [Theory]
    [InlineData(DirtierMemory.Shared)]
    [InlineData(DirtierMemory.Memfd)]
    public async Task Shared_memory_is_pre_copied_and_the_freeze_sends_and_writes_only_what_changed_in_it(DirtierMemory memory)
    {
        const int SizeMiB = 128;
        await using var target = await TargetAgent.StartAsync();
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: SizeMiB, hotMiB: 4, rateMiBPerSecond: 20, memory: memory);

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, dirtier.Pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        Assert.Equal("writeProtect", report.GetProperty("precopy").GetProperty("mode").GetString());
        // The first round carries the shared memory while the process runs.
        var first = report.GetProperty("rounds")[0];
        Assert.True(first.GetProperty("bytesRaw").GetInt64() >= (SizeMiB - 2L) << 20, first.ToString());
        var final = report.GetProperty("final");
        long dirtyBytes = final.GetProperty("pagesSent").GetInt64() * 4096;
        long read = final.GetProperty("bytesRead").GetInt64();
        long written = final.GetProperty("bytesWritten").GetInt64();
        // CRIU's images besides memory: a few hundred KiB for this process.
        const long OtherImages = 1L << 20;
        Assert.True(dirtyBytes < (SizeMiB << 20) / 8, $"{dirtyBytes} dirty bytes sent while frozen");
        Assert.True(written <= 2 * dirtyBytes + OtherImages, $"{written} bytes written on the target while frozen, {dirtyBytes} dirty");
        // Shared memory is read whole while frozen, to find what changed: write-protection cannot see every write to it.
        Assert.True(read <= (SizeMiB << 20) + OtherImages, $"{read} bytes read while frozen");
        Assert.NotNull(target.FindProcess(dirtier.Pid));
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task A_SysV_segment_in_the_hosts_IPC_namespace_is_refused_before_the_freeze_and_both_run_on()
    {
        await using var target = await TargetAgent.StartAsync();
        using var sharer = await Sharer.SysvAsync(workloads, sizeMiB: 4, ownIpcNamespace: false);

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, sharer.Pid.ToString());

        // CRIU would have failed the dump with the tree frozen ("doesn't live in IPC ns"); exit 3 is a refusal before it.
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("fail", Check(result, "sysv-ipc"));
        Assert.Equal($"task {sharer.Pid} has SysV shared memory segment key 0x00000000 attached and shares this host's IPC namespace: CRIU dumps SysV segments only with an IPC namespace of the tree's own",
            Detail(result, "sysv-ipc"));
        Assert.Contains("never frozen", result.Stdout, StringComparison.Ordinal);
        await sharer.WaitForSharingAsync();
        Assert.Empty(target.Guests());
    }

    /// <summary>Migrates the sharer and checks both tasks arrive as <paramref name="user"/> and go on sharing one object.</summary>
    private static async Task MovesStillSharing(Sharer sharer, int? user)
    {
        await using var target = await TargetAgent.StartAsync();
        int pid = sharer.Pid, child = sharer.Child;

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("pass", Check(result, "shared-memory"));
        Assert.Equal("pass", Check(result, "sysv-ipc"));
        // Root here lacks CAP_SYS_RESOURCE, so prlimit(2) may not read a task of nobody: the project's CRIU reads /proc/PID/limits.
        Assert.Equal(user is not null && !HoldsCapSysResource()
            ? $"prlimit(2) may not read the limits of 2 tasks of another user ({pid}, {child}): CRIU reads them from /proc/PID/limits"
            : "prlimit(2) reads the limits of all 2 tasks",
            Detail(result, "resource-limits"));
        foreach (var restored in new[] { target.FindProcess(pid), target.FindProcess(child) })
        {
            Assert.NotNull(restored);
            // Real, effective, saved and file system user IDs, as they were.
            var uids = File.ReadAllLines($"/proc/{restored}/status").Single(line => line.StartsWith("Uid:", StringComparison.Ordinal));
            Assert.Equal(string.Join('\t', Enumerable.Repeat((user ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture), 4)), uids["Uid:".Length..].Trim());
        }
        // What the child writes after the restore, its restored parent reads: one object, not two copies.
        await sharer.WaitForSharingAsync();
        await sharer.WaitForSharingAsync();
    }

    [Fact]
    public async Task Memory_shared_with_a_process_outside_the_tree_is_refused_and_both_run_on()
    {
        await using var target = await TargetAgent.StartAsync();
        var path = $"/dev/shm/migrate-test-{Guid.NewGuid():N}";
        try
        {
            using var first = await Sharer.MapFileAsync(workloads, path);
            using var second = await Sharer.MapFileAsync(workloads, path);

            var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, first.Pid.ToString());

            Assert.True(result.ExitCode == 3, result.ToString());
            var check = result.Report!.Value.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("result").GetString() == "fail");
            Assert.Equal("shared-memory", check.GetProperty("name").GetString());
            Assert.Equal($"task {first.Pid} shares the mapping of {path} with PID {second.Pid}, which is not in the tree: after the move each would write its own copy",
                check.GetProperty("detail").GetString());
            await first.WaitForTicksAsync();
            await second.WaitForTicksAsync();
            Assert.Empty(target.Guests());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string? Check(MigrateResult result, string name) => result.Check(name).GetProperty("result").GetString();

    private static string? Detail(MigrateResult result, string name) => result.Check(name).GetProperty("detail").GetString();

    /// <summary>This test's process, and so migrate run by it, holds CAP_SYS_RESOURCE (bit 24 of CapEff, linux/capability.h).</summary>
    private static bool HoldsCapSysResource()
    {
        var effective = File.ReadAllLines("/proc/self/status").Single(line => line.StartsWith("CapEff:", StringComparison.Ordinal));
        return (Convert.ToUInt64(effective["CapEff:".Length..].Trim(), 16) & (1UL << 24)) != 0;
    }
}
