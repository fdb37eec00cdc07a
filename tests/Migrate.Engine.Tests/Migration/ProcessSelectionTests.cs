using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Migrate.Engine.Migration;

namespace Migrate.Engine.Tests.Migration;

public sealed class ProcessSelectionTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void A_pids_file_takes_one_pid_per_line_and_skips_comments()
    {
        using var sleeper = Start("sleep", "300");
        var file = _directory.Combine("pids");
        File.WriteAllText(file, $"# to evacuate\n\n  {sleeper.Id}  \n");

        Assert.Equal([sleeper.Id], ProcessSelection.FromFile(file));
    }

    [Fact]
    public void A_line_that_is_not_a_pid_is_named()
    {
        var file = _directory.Combine("pids");
        File.WriteAllText(file, "123\nredis\n");

        var e = Assert.Throws<FormatException>(() => ProcessSelection.FromFile(file));
        Assert.Contains("'redis'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_selected_child_of_a_selected_parent_moves_with_it()
    {
        // sh waits for its sleep: a parent and its child.
        using var parent = Start("sh", "-c", "sleep 300; true");
        int child = WaitForChild(parent.Id);

        Assert.Equal([parent.Id], ProcessSelection.FromPids([child, parent.Id]));
    }

    [Fact]
    public void Matching_finds_a_process_by_its_command_line_but_never_migrate_itself()
    {
        var marker = "migrate-selection-" + Guid.NewGuid().ToString("N");
        // The shell keeps its command line, with the marker, while it waits for sleep.
        using var sleeper = Start("sh", "-c", $"sleep 300; : {marker}");
        WaitForChild(sleeper.Id);

        Assert.Equal([sleeper.Id], ProcessSelection.Matching(new Regex(Regex.Escape(marker))));
        Assert.DoesNotContain(Environment.ProcessId, ProcessSelection.Matching(new Regex(".")));
    }

    [Fact]
    public void A_cgroup_gives_its_processes_and_those_of_the_groups_below()
    {
        var name = "migrate-test-" + Guid.NewGuid().ToString("N")[..12];
        var group = Path.Combine(ProcessSelection.UnifiedHierarchy(), name);
        Directory.CreateDirectory(Path.Combine(group, "inner"));
        using var outer = Start("sleep", "300");
        using var inner = Start("sleep", "300");
        try
        {
            File.WriteAllText(Path.Combine(group, "cgroup.procs"), outer.Id.ToString(CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(group, "inner", "cgroup.procs"), inner.Id.ToString(CultureInfo.InvariantCulture));

            Assert.Equal(new[] { inner.Id, outer.Id }.Order(), ProcessSelection.InCgroup(name).Order());
        }
        finally
        {
            outer.Kill();
            inner.Kill();
            outer.WaitForExit();
            inner.WaitForExit();
            WaitFor(() => File.ReadAllText(Path.Combine(group, "inner", "cgroup.procs")).Length == 0 &&
                          File.ReadAllText(Path.Combine(group, "cgroup.procs")).Length == 0);
            Directory.Delete(Path.Combine(group, "inner"));
            Directory.Delete(group);
        }
    }

    [Fact]
    public void A_cgroup_that_does_not_exist_is_named()
    {
        Assert.Throws<DirectoryNotFoundException>(() => ProcessSelection.InCgroup("no-such-group-" + Guid.NewGuid().ToString("N")));
    }

    public void Dispose() => _directory.Dispose();

    private static KilledOnDispose Start(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return new KilledOnDispose(Process.Start(start)!);
    }

    private static int WaitForChild(int pid)
    {
        int child = 0;
        WaitFor(() => int.TryParse(File.ReadAllText($"/proc/{pid}/task/{pid}/children").Trim(), out child));
        return child;
    }

    private static void WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            Thread.Sleep(10);
        }
    }

    /// <summary>A child process, killed by its own PID when the test ends.</summary>
    private sealed class KilledOnDispose(Process process) : IDisposable
    {
        public int Id => process.Id;

        public void Kill() => process.Kill(entireProcessTree: true);

        public void WaitForExit() => process.WaitForExit();

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            process.Dispose();
        }
    }
}
