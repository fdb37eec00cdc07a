using Migrate.Engine.Compat;
using System.Text.Json;
using System.Text.Json.Nodes;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration;

namespace Migrate.Engine.Tests.Migration;

/// <summary>The JSON report is part of the CLI contract (README, "Report").</summary>
public sealed class MigrationReportTests
{
    [Fact]
    public void The_report_uses_camel_case_names_and_values()
    {
        var report = new MigrationReport
        {
            Outcome = MigrationOutcome.RolledBack,
            Pid = 42,
            TargetAddress = "host:7070",
            Timeline = new MigrationTimeline { FreezeStart = 1.5 },
            Precopy = new PrecopyReport(PrecopyMode.ContentHash, "auto", PrecopyStop.NotConverging),
            Rounds = [new RoundStats(1, 10, 9, 8, 1, 4096 * 8, 1000, 2)],
            Final = new FinalReport(3, 0, 12288, 500, new FrozenBreakdown(1, 2, 3, 4, 5, 6, 7)),
            ProcessState = "running on the source",
        };

        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;

        Assert.Equal("rolledBack", root.GetProperty("outcome").GetString());
        Assert.Equal("contentHash", root.GetProperty("precopy").GetProperty("mode").GetString());
        Assert.Equal("notConverging", root.GetProperty("precopy").GetProperty("stopReason").GetString());
        var round = root.GetProperty("rounds")[0];
        foreach (var field in new[] { "dirtyPages", "sentPages", "zeroPages", "bytesOnWire", "durationMs", "pagesScanned", "bytesRaw", "compressionRatio", "throughputBytesPerSecond" })
        {
            Assert.True(round.TryGetProperty(field, out _), $"rounds[] lacks {field}");
        }
        var final = root.GetProperty("final");
        Assert.Equal(3, final.GetProperty("pagesSent").GetInt64());
        Assert.Equal(500, final.GetProperty("bytesOnWire").GetInt64());
        foreach (var stage in new[] { "dumpMs", "diffMs", "transferMs", "rebuildMs", "restoreMs", "verifyMs", "resumeMs" })
        {
            Assert.True(final.GetProperty("frozen").TryGetProperty(stage, out _), $"final.frozen lacks {stage}");
        }
        Assert.Equal(1.5, root.GetProperty("timeline").GetProperty("freezeStart").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("timeline").GetProperty("resume").ValueKind);
    }

    [Fact]
    public void The_report_reads_as_written_without_escaped_apostrophes()
    {
        var report = new MigrationReport
        {
            Outcome = MigrationOutcome.Refused,
            Pid = 42,
            TargetAddress = "host:7070",
            Timeline = new MigrationTimeline(),
            ProcessState = "running on the source, untouched",
            Error = "the target's files check failed: /srv/données is missing",
        };

        var json = report.ToJson();

        Assert.Contains("\"the target's files check failed: /srv/données is missing\"", json, StringComparison.Ordinal);
        Assert.Equal(report.Error, JsonDocument.Parse(json).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public void A_report_reads_back_as_it_was_written()
    {
        var json = MigratedReport().ToJson();

        var read = MigrationReport.FromJson(json);

        Assert.Equal(json, read.ToJson());
        Assert.Equal(534, read.FrozenMs);
        Assert.Equal(98.7, read.Final!.Frozen.DumpMs);
        Assert.Equal(PrecopyStop.Converged, read.Precopy!.StopReason);
        Assert.Equal(2, read.Rounds.Count);
    }

    [Theory]
    [InlineData("frozenMs")]
    [InlineData("rounds")]
    [InlineData("final.frozen")]
    [InlineData("final.frozen.rebuildMs")]
    [InlineData("timeline.resume")]
    [InlineData("precopy.stopReason")]
    [InlineData("source.criuVersion")]
    public void A_report_missing_a_member_is_refused(string member)
    {
        var json = JsonNode.Parse(MigratedReport().ToJson())!.AsObject();
        var path = member.Split('.');
        var parent = path[..^1].Aggregate(json, (node, name) => node[name]!.AsObject());
        Assert.True(parent.Remove(path[^1]), $"the report has no {member} to remove");

        var error = Assert.Throws<JsonException>(() => MigrationReport.FromJson(json.ToJsonString()));

        Assert.Contains(path[^1], error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("processState")]
    [InlineData("rounds")]
    [InlineData("final.frozen")]
    public void A_report_with_null_where_it_has_a_value_is_refused(string member)
    {
        var json = JsonNode.Parse(MigratedReport().ToJson())!.AsObject();
        var path = member.Split('.');
        var parent = path[..^1].Aggregate(json, (node, name) => node[name]!.AsObject());
        parent[path[^1]] = null;

        Assert.Throws<JsonException>(() => MigrationReport.FromJson(json.ToJsonString()));
    }

    /// <summary>The README's example, with every member a migrated report has.</summary>
    private static MigrationReport MigratedReport()
    {
        var host = new HostSummary("vm", "6.18.44-fc-v782", "4.2.1", "x86_64", 1L << 34);
        return new MigrationReport
        {
            Outcome = MigrationOutcome.Migrated,
            SessionId = "4594a5f40f261972983e950fb2d9f2ea",
            Pid = 15503,
            Command = "dirtier",
            TargetAddress = "10.77.0.2:7700",
            Source = host,
            Target = host,
            BytesRaw = 301083008,
            BytesOnWire = 301553148,
            FrozenMs = 534,
            TotalMs = 2365.5,
            Timeline = new MigrationTimeline
            {
                PreflightEnd = 647.7,
                FreezeStart = 1796,
                DumpEnd = 1894.6,
                TransferEnd = 2001.5,
                RestoreEnd = 2250,
                Commit = 2280.9,
                Resume = 2330,
                LastPage = 2372.4,
            },
            Precopy = new PrecopyReport(PrecopyMode.ContentHash, "auto: no soft-dirty memory tracking", PrecopyStop.Converged),
            Rounds =
            [
                new RoundStats(1, 65691, 65691, 65559, 132, 268529664, 268972917, 877.3),
                new RoundStats(2, 65691, 5737, 5737, 0, 23498752, 23533053, 156.8),
            ],
            Final = new FinalReport(2208, 0, 9054592, 9047178, new FrozenBreakdown(98.7, 83, 21.6, 99.9, 145.6, 0.5, 80)),
            Restore = "lazy",
            RestoredPid = 15503,
            ProcessState = "running on the target 10.77.0.2:7700 as PID 15503 in its namespace",
            Checks = [Checks.Pass("vdso", "identical vDSO layouts: no proxy needed")],
        };
    }
}
