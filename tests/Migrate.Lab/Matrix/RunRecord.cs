namespace Migrate.Lab.Matrix;

/// <summary>One run of one method in one cell: a row of results.csv.</summary>
internal sealed record RunRecord(MigrationMethod Method, Cell Cell, int Run, double Load1)
{
    /// <summary>The workload's longest heartbeat gap (CLOCK_REALTIME): the downtime the application saw.</summary>
    public double? DowntimeMs { get; init; }

    /// <summary>ok, or why not (BAD-page-N, no-pass-after-resume, migrate-exit-N, ...).</summary>
    public string Verified { get; init; } = "";

    public Move Move { get; init; } = new();

    public bool Ok => Verified == "ok";
}
