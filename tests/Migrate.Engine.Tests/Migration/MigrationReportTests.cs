using System.Text.Json;
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
}
