using Migrate.Engine.Migration;
using Spectre.Console;

namespace Migrate.Source;

/// <summary>
/// Shows a migration's progress on standard error: a live status line on a
/// terminal, one plain line per stage otherwise, nothing when quiet.
/// Standard output stays free for the summary or the JSON report.
/// </summary>
internal static class ProgressDisplay
{
    public static async Task<T> RunAsync<T>(bool quiet, Func<IProgress<MigrationProgress>?, Task<T>> work)
    {
        if (quiet)
        {
            return await work(null);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (!console.Profile.Capabilities.Interactive || Console.IsErrorRedirected)
        {
            return await work(new LineProgress());
        }
        return await console.Status().Spinner(Spinner.Known.Dots).StartAsync("pre-flight checks", async context =>
            await work(new SynchronousProgress(update => context.Status(Markup.Escape(Describe(update))))));
    }

    internal static string Describe(MigrationProgress update) => update.Stage switch
    {
        MigrationStage.Preflight => "pre-flight checks",
        MigrationStage.Dumping => "freezing and dumping with CRIU",
        MigrationStage.Transferring when update.BytesTotal > 0 =>
            $"transferring images: {Units.Bytes(update.BytesDone)} of {Units.Bytes(update.BytesTotal)}",
        MigrationStage.Transferring => "transferring images",
        MigrationStage.Restoring => "restoring on the target (stopped)",
        MigrationStage.Committing => "commit: killing the source copy, resuming the target's",
        MigrationStage.Resumed => "resumed on the target",
        MigrationStage.RollingBack => "rolling back: resuming the process on the source",
        _ => update.Stage.ToString(),
    };

    /// <summary>Prints a line when the stage changes; byte counts would flood a log.</summary>
    private sealed class LineProgress : IProgress<MigrationProgress>
    {
        private MigrationStage? _last;

        public void Report(MigrationProgress value)
        {
            if (value.Stage == _last)
            {
                return;
            }
            _last = value.Stage;
            Console.Error.WriteLine($"migrate: {Describe(value)}");
        }
    }

    /// <summary>Reports on the caller's thread, unlike Progress&lt;T&gt;, so updates keep their order.</summary>
    private sealed class SynchronousProgress(Action<MigrationProgress> report) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => report(value);
    }
}
