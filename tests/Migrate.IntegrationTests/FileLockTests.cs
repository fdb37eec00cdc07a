using System.Globalization;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// A process that holds a file lock or lease. CRIU takes the lock again at
/// restore while the frozen source copy keeps its own until the commit: where
/// the target sees the same file, the restore would wait for it for ever (a
/// lease: break it). What users rely on: that case is refused before the
/// freeze and the process runs on with its lock; a target with its own copy of
/// the file gets the process with the lock held.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class FileLockTests(Workloads workloads)
{
    [Theory]
    [InlineData("flock")]
    [InlineData("posix")]
    [InlineData("lease")]
    public async Task A_lock_on_a_file_the_target_shares_is_refused_before_the_freeze_and_the_process_keeps_it(string kind)
    {
        using var files = new TempDirectory("locks");
        var path = files.Combine("service.lock");
        await using var target = await TargetAgent.StartAsync();
        using var locker = await Locker.StartAsync(workloads, path, kind);

        var result = await MigrateCli.RunAsync("--file-locks", "--to", target.Address, "--token-file", target.TokenFile, locker.Pid.ToString(CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 3, result.ToString());
        var check = result.Check("file-locks");
        Assert.Equal("fail", check.GetProperty("result").GetString());
        // The target, in a PID namespace of its own, cannot see the lock in its /proc/locks: it knows the file by its identity on one kernel.
        Assert.Equal($"{path} is the very file the process holds locked: source and target run on one kernel, and the restore would wait for the source copy's lock, or break its lease, while it is frozen",
            check.GetProperty("detail").GetString());
        Assert.Contains("never frozen", result.Stdout, StringComparison.Ordinal);
        await locker.WaitForTicksAsync();
        Assert.Empty(target.Guests());
    }

    [Fact]
    public async Task A_lock_without_file_locks_is_refused_before_the_freeze_naming_the_flag()
    {
        using var files = new TempDirectory("locks");
        await using var target = await TargetAgent.StartAsync();
        using var locker = await Locker.StartAsync(workloads, files.Combine("service.lock"), "flock");

        var result = await MigrateCli.RunAsync("--to", target.Address, "--token-file", target.TokenFile, locker.Pid.ToString(CultureInfo.InvariantCulture));

        // Without the check, CRIU's dump would fail with the tree frozen ("Some file locks are hold without option").
        Assert.True(result.ExitCode == 3, result.ToString());
        var check = result.Check("file-locks");
        Assert.Equal("fail", check.GetProperty("result").GetString());
        Assert.Equal($"the tree holds a lock or lease on {files.Combine("service.lock")}: CRIU dumps file locks only with --file-locks", check.GetProperty("detail").GetString());
        await locker.WaitForTicksAsync();
    }

    [Theory]
    [InlineData("flock")]
    [InlineData("posix")]
    [InlineData("lease")]
    public async Task A_lock_on_a_file_of_the_targets_own_arrives_held_and_the_source_file_is_free(string kind)
    {
        using var files = new TempDirectory("locks");
        var path = files.Combine("service.lock");
        File.WriteAllText(path, "");
        await using var target = await TargetAgent.StartAsync(privateCopyOf: files.Path);
        using var locker = await Locker.StartAsync(workloads, path, kind);
        int fd = locker.Fd;

        var result = await MigrateCli.RunAsync("--file-locks", "--to", target.Address, "--token-file", target.TokenFile, locker.Pid.ToString(CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("pass", result.Check("file-locks").GetProperty("result").GetString());
        var restored = target.FindProcess(locker.Pid);
        Assert.NotNull(restored);
        // The restored process holds its lock through the same descriptor, and sees it as its own.
        Assert.Contains("\nlock:", File.ReadAllText($"/proc/{restored}/fdinfo/{fd}"), StringComparison.Ordinal);
        await locker.WaitForTicksAsync();
        // The source copy is gone, and its lock with it: nothing holds the file here locked (its copy, on the target, is another inode).
        using var location = Migrate.Engine.Linux.FileLocation.Open(path)!;
        var status = Migrate.Engine.Linux.FileLocation.Stat(location);
        Assert.DoesNotContain(status.Identity, Migrate.Engine.Linux.ProcFs.LockedFiles());
    }
}
