using System.Text.Json;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// A real target agent that only its owner can use: its restore policy
/// refuses what it does not allow before CRIU sees it, its files are its
/// user's alone, it clears what a crash left, and a full disk fails a
/// migration cleanly with the process running on the source.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class TargetHardeningTests(Workloads workloads)
{
    [Fact]
    public async Task A_deny_root_target_refuses_a_root_process_at_restore_and_it_runs_on_at_the_source()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--deny-root"]);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);

        var result = await Migrate(target, counter.Pid);

        Assert.True(result.ExitCode == 4, result.ToString());
        var check = Checks(result).Single(c => c.GetProperty("result").GetString() == "fail");
        Assert.Equal("policy", check.GetProperty("name").GetString());
        Assert.StartsWith($"task {counter.Pid} would run as root (uid 0), which is not allowed; this target allows any uid but 0",
            check.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("--deny-root", check.GetProperty("remedy").GetString(), StringComparison.Ordinal);
        await counter.WaitForProgressAsync();
        Assert.Empty(target.Guests());
        Assert.DoesNotContain("criu-restore.log", Directory.GetFiles(target.WorkDirectory, "*", SearchOption.AllDirectories).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_migration_leaves_every_file_of_the_target_s_work_directory_private_criu_s_own_included()
    {
        await using var target = await TargetAgent.StartAsync(arguments: ["--keep-images"]);
        using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 16, hotMiB: 2, rateMiBPerSecond: 10);

        var result = await Migrate(target, dirtier.Pid, "--precopy", "content-hash");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("pass", Checks(result).Single(c => c.GetProperty("name").GetString() == "policy").GetProperty("result").GetString());
        var entries = Directory.GetFileSystemEntries(target.WorkDirectory, "*", SearchOption.AllDirectories)
            .Where(path => new FileInfo(path).LinkTarget is null && Path.GetExtension(path) != ".socket").ToList();
        // What the agent wrote, and what CRIU wrote (its log, its stats, 0644 by its own default).
        foreach (var name in new[] { "pages.store", "pstree.img", "pages-1.img", "criu-restore.log", "stats-restore" })
        {
            Assert.Contains(entries, path => Path.GetFileName(path) == name);
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(target.WorkDirectory));
        Assert.All(entries, path => Assert.True(
            File.GetUnixFileMode(path) == (Directory.Exists(path)
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                : UnixFileMode.UserRead | UnixFileMode.UserWrite),
            $"{path} is {File.GetUnixFileMode(path)}"));
        await dirtier.VerifyEveryPageAsync();
    }

    [Fact]
    public async Task The_agent_refuses_a_work_directory_others_may_use_and_a_bad_policy()
    {
        using var directory = new TempDirectory("loose");
        var work = directory.Combine("work");
        Directory.CreateDirectory(work);
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
                                   UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string[] common = ["--listen", "127.0.0.1:0", "--token-file", directory.Combine("token")];

        var loose = await ChildProcess.RunAsync(Repository.MigrateTarget, [.. common, "--work-dir", work], TimeSpan.FromMinutes(2));
        var badPolicy = await ChildProcess.RunAsync(Repository.MigrateTarget, [.. common, "--work-dir", directory.Combine("other"), "--allow-uids", "root"],
            TimeSpan.FromMinutes(2));

        Assert.Equal(2, loose.ExitCode);
        Assert.Contains($"others may use the work directory {work} (mode 755)", loose.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, badPolicy.ExitCode);
        Assert.Contains("--allow-uids: 'root' is not an ID or a range of IDs", badPolicy.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Session_directories_a_crashed_agent_left_are_removed_at_start_with_a_log_line()
    {
        using var directory = new TempDirectory("crashed");
        var work = directory.Combine("work");
        const string Leftover = "0123456789abcdef0123456789abcdef";
        Directory.CreateDirectory(Path.Combine(work, Leftover, "images", "final"));
        await File.WriteAllTextAsync(Path.Combine(work, Leftover, "pages.store"), "a migrated process's memory");
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        await using var target = await TargetAgent.StartAsync(workDirectory: work);

        Assert.False(Directory.Exists(Path.Combine(work, Leftover)));
        Assert.Contains($"Removed session {Leftover}'s directory {Path.Combine(work, Leftover)}", target.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_disk_too_full_for_the_rebuild_fails_the_migration_cleanly_and_leaves_nothing_behind()
    {
        using var directory = new TempDirectory("small-disk");
        var work = directory.Combine("work");
        Directory.CreateDirectory(work);
        // Room for the page store of a 32 MiB process, not for it and the pages images rebuilt from it.
        await Mount("-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", work);
        try
        {
            await using (var target = await TargetAgent.StartAsync(arguments: ["--min-free-disk-mib", "0"], workDirectory: work))
            {
                using var dirtier = await Dirtier.StartAsync(workloads, sizeMiB: 32, hotMiB: 1, rateMiBPerSecond: 1);

                var result = await Migrate(target, dirtier.Pid, "--precopy", "content-hash", "--max-rounds", "1");

                Assert.True(result.ExitCode == 4, result.ToString());
                Assert.Contains("the pages images cannot be rebuilt: the target's disk has", result.Report!.Value.GetProperty("error").GetString(),
                    StringComparison.Ordinal);
                await dirtier.VerifyEveryPageAsync();
                Assert.Empty(target.Guests());
                Assert.Empty(Directory.GetFileSystemEntries(work));
            }
        }
        finally
        {
            await Unmount(work);
        }
    }

    private static Task<MigrateResult> Migrate(TargetAgent target, int pid, params string[] options) =>
        MigrateCli.RunAsync(["--to", target.Address, "--token-file", target.TokenFile, .. options, pid.ToString()]);

    private static JsonElement.ArrayEnumerator Checks(MigrateResult result) => result.Report!.Value.GetProperty("checks").EnumerateArray();

    private static Task Mount(params string[] arguments) => RunAsRoot("mount", arguments);

    private static Task Unmount(string path) => RunAsRoot("umount", [path]);

    private static async Task RunAsRoot(string program, string[] arguments)
    {
        var run = await ChildProcess.RunAsync(program, arguments, TimeSpan.FromMinutes(1));
        Assert.True(run.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {run.Stderr}");
    }
}
