using System.Globalization;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration.Source;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Migrate.Source;

/// <summary>
/// Shows a migration's progress on standard error: on a terminal, a live
/// table of the pre-copy rounds under a status line; otherwise one plain line
/// per stage and per round; nothing when quiet. Standard output stays free
/// for the summary or the JSON report.
/// </summary>
internal static class ProgressDisplay
{
    public static async Task<T> RunAsync<T>(bool quiet, Func<IProgress<MigrationProgress>?, Task<T>> work)
    {
        if (quiet)
        {
            return await work(null);
        }
        if (InteractiveErrorConsole() is not { } console)
        {
            return await work(new LineProgress());
        }
        var live = new LiveProgress();
        return await console.Live(live.Render()).AutoClear(false).StartAsync(async context =>
        {
            live.Refresh = () => context.UpdateTarget(live.Render());
            return await work(live);
        });
    }

    /// <summary>Standard error as a console for live displays, or null when it is not a terminal.</summary>
    internal static IAnsiConsole? InteractiveErrorConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Profile.Capabilities.Interactive && !Console.IsErrorRedirected ? console : null;
    }

    /// <summary>One line for the current stage.</summary>
    /// <param name="update">The latest progress report.</param>
    /// <param name="left">The estimated time the current pre-copy round has left, if known.</param>
    internal static string Describe(MigrationProgress update, TimeSpan? left = null) => update.Stage switch
    {
        MigrationStage.Preflight => "pre-flight checks",
        MigrationStage.Precopy when update.Scan is { PagesTotal: > 0 } scan => Describe(scan, left),
        MigrationStage.Precopy when update.BytesDone > 0 => $"pre-copy: {Units.Bytes(update.BytesDone)} sent this round",
        MigrationStage.Precopy => "pre-copy: copying memory while the process runs",
        MigrationStage.Dumping => "freezing and dumping with CRIU",
        MigrationStage.Transferring when update.BytesTotal > 0 =>
            $"frozen: transferring images, {Units.Bytes(update.BytesDone)} of {Units.Bytes(update.BytesTotal)}",
        MigrationStage.Transferring when update.BytesDone > 0 => $"frozen: sending changed pages, {Units.Bytes(update.BytesDone)}",
        MigrationStage.Transferring => "frozen: sending what changed",
        MigrationStage.Restoring => "frozen: restoring on the target (stopped)",
        MigrationStage.Committing => "commit: killing the source copy, resuming the target's",
        MigrationStage.Resumed => "resumed on the target",
        MigrationStage.RollingBack => "rolling back: CRIU resumes the process on the source",
        _ => update.Stage.ToString(),
    };

    /// <summary>"pre-copy round 2: 1.20 GiB of 2.00 GiB (314572 of 524288 pages, 60%), 12.0 MiB sent, about 8 s left".</summary>
    internal static string Describe(RoundProgress scan, TimeSpan? left)
    {
        var eta = left is { } time ? $", about {Units.Duration(time)} left" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"pre-copy round {scan.Round}: {Units.Bytes(scan.PagesDone * PageSize.Bytes)} of {Units.Bytes(scan.PagesTotal * PageSize.Bytes)} ({scan.PagesDone} of {scan.PagesTotal} pages, {scan.Fraction:0%}), {Units.Bytes(scan.BytesSent)} sent{eta}");
    }

    internal static string Describe(RoundStats round) => string.Create(CultureInfo.InvariantCulture,
        $"round {round.Round}: {round.DirtyPages} dirty pages of {round.PagesScanned} scanned, {round.SentPages} sent, {round.ZeroPages} zero, " +
        $"{Units.Bytes(round.BytesOnWire)} on the wire ({round.CompressionRatio:0.0}x), {round.DurationMs:0} ms, {Units.Rate(round.ThroughputBytesPerSecond)}");

    /// <summary>A line when the stage changes and one per round; byte counts would flood a log.</summary>
    private sealed class LineProgress : IProgress<MigrationProgress>
    {
        private MigrationStage? _last;

        public void Report(MigrationProgress value)
        {
            if (value.Round is { } round)
            {
                Console.Error.WriteLine($"migrate: {Describe(round)}");
                return;
            }
            if (value.Stage == _last)
            {
                return;
            }
            _last = value.Stage;
            Console.Error.WriteLine($"migrate: {Describe(value)}");
        }
    }

    /// <summary>Updates arrive from the scanning and sending threads, so state changes under a lock.</summary>
    private sealed class LiveProgress : IProgress<MigrationProgress>
    {
        private readonly Lock _lock = new();
        private readonly List<RoundStats> _rounds = [];
        private readonly RoundClock _clock = new(TimeProvider.System);
        private string _status = "pre-flight checks";
        private long _lastRefresh;

        public Action? Refresh { get; set; }

        public void Report(MigrationProgress value)
        {
            lock (_lock)
            {
                if (value.Round is { } round)
                {
                    _rounds.Add(round);
                }
                else
                {
                    _status = Describe(value, _clock.Left(value.Scan));
                }
                // Byte counts arrive per batch; a few redraws a second are enough.
                long now = Environment.TickCount64;
                if (value.BytesDone > 0 && now - _lastRefresh < 100)
                {
                    return;
                }
                _lastRefresh = now;
                Refresh?.Invoke();
            }
        }

        public IRenderable Render()
        {
            lock (_lock)
            {
                var status = new Markup($"[bold]migrate[/] {Markup.Escape(_status)}");
                if (_rounds.Count == 0)
                {
                    return status;
                }
                var table = new Table().Border(TableBorder.Simple)
                    .AddColumns("round", "scanned", "dirty", "sent", "zero", "on the wire", "ratio", "time", "rate");
                foreach (var r in _rounds)
                {
                    table.AddRow(
                        r.Round.ToString(CultureInfo.InvariantCulture), r.PagesScanned.ToString(CultureInfo.InvariantCulture),
                        r.DirtyPages.ToString(CultureInfo.InvariantCulture), r.SentPages.ToString(CultureInfo.InvariantCulture),
                        r.ZeroPages.ToString(CultureInfo.InvariantCulture), Units.Bytes(r.BytesOnWire),
                        r.CompressionRatio.ToString("0.0x", CultureInfo.InvariantCulture), Units.Milliseconds(r.DurationMs),
                        Units.Rate(r.ThroughputBytesPerSecond));
                }
                return new Rows(table, status);
            }
        }
    }
}
