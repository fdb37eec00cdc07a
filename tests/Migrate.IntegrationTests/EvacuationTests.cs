using System.Text.Json;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>migrate evacuate: many processes, several targets, one command.</summary>
[Collection(CriuCollection.Name)]
public sealed class EvacuationTests(Workloads workloads)
{
    [Fact]
    public async Task Three_processes_leave_for_two_targets_and_all_arrive()
    {
        await using var first = await TargetAgent.StartAsync();
        await using var second = await TargetAgent.StartAsync(tokenFile: first.TokenFile);
        using var large = await Counter.StartAsync(workloads, bufferMiB: 48);
        using var medium = await Counter.StartAsync(workloads, bufferMiB: 24);
        using var small = await Counter.StartAsync(workloads, bufferMiB: 12);
        var result = await EvacuateAsync(first.TokenFile, [first, second], "--parallel", "2", "--pid", large.Pid.ToString(), "--pid", medium.Pid.ToString(), "--pid", small.Pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        var rows = Rows(result);
        Assert.Equal(3, rows.Count);
        Assert.All(rows, row => Assert.Equal("migrated", row.GetProperty("outcome").GetString()));
        Assert.All(rows, row => Assert.True(row.GetProperty("frozenMs").GetDouble() > 0));
        Assert.All(rows, row => Assert.True(row.GetProperty("bytesOnWire").GetInt64() > 0));
        // Placed by free memory, less what was already placed: both targets take some.
        Assert.Equal(2, rows.Select(row => row.GetProperty("target").GetString()).Distinct().Count());
        foreach (var counter in new[] { large, medium, small })
        {
            Assert.True(first.FindProcess(counter.Pid) is not null ^ second.FindProcess(counter.Pid) is not null,
                $"process {counter.Pid} should run on exactly one target");
            await counter.WaitForProgressAsync();
        }
    }

    [Fact]
    public async Task A_process_no_target_can_take_stays_running_here_and_the_others_arrive()
    {
        await using var first = await TargetAgent.StartAsync();
        await using var second = await TargetAgent.StartAsync(tokenFile: first.TokenFile);
        using var mover = await Counter.StartAsync(workloads, bufferMiB: 8);
        using var stuck = await Counter.StartAsync(workloads, bufferMiB: 8);
        // The file it holds open is missing on every target.
        await first.HideAsync(stuck.Directory);
        await second.HideAsync(stuck.Directory);
        var result = await EvacuateAsync(first.TokenFile, [first, second], "--pid", mover.Pid.ToString(), "--pid", stuck.Pid.ToString());

        Assert.True(result.ExitCode == 4, result.ToString());
        var rows = Rows(result).ToDictionary(row => row.GetProperty("pid").GetInt32());
        Assert.Equal("migrated", rows[mover.Pid].GetProperty("outcome").GetString());
        Assert.Equal("refused", rows[stuck.Pid].GetProperty("outcome").GetString());
        Assert.Contains("missing on the target", rows[stuck.Pid].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(ProcFs.IsRunning(stuck.Pid));
        await stuck.WaitForProgressAsync();
        await mover.WaitForProgressAsync();
    }

    [Fact]
    public async Task A_dry_run_prints_the_plan_and_freezes_nothing()
    {
        await using var first = await TargetAgent.StartAsync();
        await using var second = await TargetAgent.StartAsync(tokenFile: first.TokenFile);
        using var one = await Counter.StartAsync(workloads, bufferMiB: 4);
        using var two = await Counter.StartAsync(workloads, bufferMiB: 4);
        var result = await EvacuateAsync(first.TokenFile, [first, second], "--dry-run", "--pid", one.Pid.ToString(), "--pid", two.Pid.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Report!.Value;
        Assert.True(report.GetProperty("dryRun").GetBoolean());
        Assert.All(Rows(result), row =>
        {
            Assert.Equal("planned", row.GetProperty("outcome").GetString());
            Assert.NotEqual(JsonValueKind.Null, row.GetProperty("target").ValueKind);
            Assert.Equal(JsonValueKind.Null, row.GetProperty("frozenMs").ValueKind);
        });
        foreach (var counter in new[] { one, two })
        {
            Assert.True(ProcFs.IsRunning(counter.Pid));
            await counter.WaitForProgressAsync();
        }
        Assert.Empty(first.Guests());
        Assert.Empty(second.Guests());
    }

    [Fact]
    public async Task Processes_are_chosen_by_command_line()
    {
        await using var target = await TargetAgent.StartAsync();
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 2);

        // The counter's status file path is in its command line, and unique.
        var result = await EvacuateAsync(target.TokenFile, [target], "--dry-run", "--match", Regex(counter.Directory));

        Assert.True(result.ExitCode == 0, result.ToString());
        var row = Assert.Single(Rows(result));
        Assert.Equal(counter.Pid, row.GetProperty("pid").GetInt32());
    }

    [Fact]
    public async Task Choosing_processes_two_ways_at_once_is_a_usage_error()
    {
        using var token = new TempDirectory("token");

        var result = await MigrateCli.RunRawAsync(null, "evacuate", "--to", "127.0.0.1:1", "--token-file", TokenFiles.WriteUnused(token.Combine("token")), "--pid", "1234", "--match", "x");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("one way", result.Stderr, StringComparison.Ordinal);
    }

    private static Task<MigrateResult> EvacuateAsync(string tokenFile, TargetAgent[] targets, params string[] options) =>
        MigrateCli.RunAsync(["evacuate", .. targets.SelectMany(target => new[] { "--to", target.Address }), "--token-file", tokenFile, .. options]);

    private static List<JsonElement> Rows(MigrateResult result) => result.Report!.Value.GetProperty("processes").EnumerateArray().ToList();

    private static string Regex(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}
