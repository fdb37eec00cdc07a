using System.Globalization;
using System.Text.RegularExpressions;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// CRIU's own zdtm tests, each moved by migrate and by CRIU by hand
/// (scripts/zdtm.sh). The whole suite takes longer than CI can give it; this
/// runs the subset the README names.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed partial class ZdtmTests
{
    /// <summary>
    /// The README's CI subset: static tests that CRIU by hand passes here, one
    /// for each kind of state a service holds that the other integration tests
    /// do not move: the environment and capabilities of zdtm's unprivileged
    /// user, a pipe, POSIX timers, unix sockets and a pidfd; and the tests
    /// that once failed under migrate only: a stopped task, a held symbolic
    /// link, a futex (many zero pages in one batch), TCP sockets moved shut
    /// down, a listening socket's unaccepted connection left behind, a
    /// memfd shorter than a page, mapped shared (pre-copied shared memory), a
    /// private mapping that runs past the end of its shared memory object
    /// (unpopulated pages there must not be write-protected),
    /// zombies (dumped without memory, restored dead, never stopped), a task
    /// stopped by SIGTSTP (CRIU patch 0006), a sparse deleted file past CRIU's
    /// default ghost limit (--ghost-limit) and a datagram socket connected to
    /// a peer outside the tree (--ext-unix-sk). Both sides of one take about
    /// 8 s at load 2.
    /// </summary>
    private static readonly string[] Subset =
    [
        "env00", "caps00", "pipe00", "posix_timers", "sockets00", "fd_from_pidfd",
        "stopped02", "symlink", "futex", "socket-tcp-close2", "socket-tcp-skip-in-flight", "memfd02", "shmemfd",
        "zombie00", "sigpending", "stopped03", "ghost_multi_hole00", "socket-ext", "shmemfd-priv",
    ];

    [Fact]
    public async Task Migrate_passes_every_zdtm_test_of_the_subset_as_criu_by_hand_does()
    {
        using var directory = new TempDirectory("zdtm");
        var table = Path.Combine(directory.Path, "table.md");

        var run = await ChildProcess.RunAsync(
            Path.Combine(Repository.Root, "scripts", "zdtm.sh"), ["--table", table, .. Subset], TimeSpan.FromMinutes(30));

        var summary = Summary().Match(run.Stdout);
        Assert.True(summary.Success, run.ToString());
        Assert.Equal(Subset.Length, Count(summary, "of"));
        var results = TableRow().Matches(await File.ReadAllTextAsync(table))
            .ToDictionary(row => row.Groups["test"].Value, row => row);
        Assert.Equal(Subset.Order(), results.Keys.Order());
        foreach (var test in Subset)
        {
            var row = results[test];
            // Each test judged itself after the move: PASS in its own .out file.
            Assert.True(row.Groups["migrate"].Value == "pass", $"{test} failed under migrate: {row.Groups["reason"].Value}\n{run}");
            Assert.True(row.Groups["criu"].Value == "pass", $"{test} failed under CRIU by hand, so the subset or the harness is wrong: {row.Groups["reason"].Value}\n{run}");
        }
        Assert.Equal(Subset.Length, Count(summary, "migrate"));
        Assert.Equal(Subset.Length, Count(summary, "criu"));
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    private static int Count(Match summary, string group) => int.Parse(summary.Groups[group].Value, CultureInfo.InvariantCulture);

    /// <summary>zdtm.sh's only line on standard output.</summary>
    [GeneratedRegex(@"\Azdtm: migrate (?<migrate>\d+) passed, criu (?<criu>\d+) passed, of (?<of>\d+)\n\z")]
    private static partial Regex Summary();

    /// <summary>A row of zdtm.sh's --table: test, migrate, criu, reason.</summary>
    [GeneratedRegex(@"^\| (?<test>[^ |]+) \| (?<migrate>pass|fail) \| (?<criu>pass|fail) \| (?<reason>.*) \|$", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}
