using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration;

public sealed partial class SourceSession
{
    /// <summary>Picks the tracker the operator asked for, or the best this kernel supports.</summary>
    private IMemoryTracker ChooseTracker()
    {
        if (options.Precopy == PrecopyChoice.Off)
        {
            _context.Precopy = new PrecopyReport(PrecopyMode.Off, "--precopy off");
            return new NoTracker();
        }
        if (options.Precopy == PrecopyChoice.ContentHash)
        {
            _context.Precopy = new PrecopyReport(PrecopyMode.ContentHash, "--precopy content-hash");
            return ContentHash();
        }
        if (_context.SourceFacts!.CriuFeatures.MemoryTracking)
        {
            _context.Precopy = new PrecopyReport(PrecopyMode.SoftDirty,
                options.Precopy == PrecopyChoice.Auto ? "auto: CRIU reports soft-dirty memory tracking" : "--precopy soft-dirty");
            return new SoftDirtyTracker(criu, target, _context.SessionId!, options.Pid, SessionDirectory, options.ChunkBytes);
        }
        if (options.Precopy == PrecopyChoice.SoftDirty)
        {
            throw new MigrationRefusedException(
                "soft-dirty memory tracking is not available here (the kernel lacks CONFIG_MEM_SOFT_DIRTY, says CRIU's feature check); " +
                "use --precopy content-hash or auto");
        }
        _context.Precopy = new PrecopyReport(PrecopyMode.ContentHash,
            "auto: no soft-dirty memory tracking on this kernel, so pages are compared by content hash");
        return ContentHash();
    }

    private ContentHashTracker ContentHash() =>
        new(target, _context.SessionId!, () => ProcessTree.Discover(options.Pid).Pids);

    private SynchronousProgress<RoundProgress>? RoundProgress() => Progress is null ? null
        : new SynchronousProgress<RoundProgress>(round => Progress.Report(new MigrationProgress(MigrationStage.Precopy, round.BytesSent, Scan: round)));

    /// <summary>Copies memory while the process runs, round after round, until the policy says stop.</summary>
    private async Task PrecopyAsync(IMemoryTracker tracker, CancellationToken cancellationToken)
    {
        if (tracker.Mode == PrecopyMode.Off)
        {
            _context.Precopy = _context.Precopy! with { StopReason = PrecopyStop.Off };
            return;
        }
        var policy = new ConvergencePolicy(options.MaxRounds, options.DowntimeTarget);
        PrecopyStop? stop = null;
        for (int round = 1; stop is null; round++)
        {
            Progress?.Report(new MigrationProgress(MigrationStage.Precopy));
            var stats = await tracker.CopyRoundAsync(round, RoundProgress(), cancellationToken).ConfigureAwait(false);
            _context.Rounds.Add(stats);
            Progress?.Report(new MigrationProgress(MigrationStage.Precopy, Round: stats));
            stop = policy.Decide(_context.Rounds);
        }
        _context.Precopy = _context.Precopy! with { StopReason = stop };
        if (stop == PrecopyStop.NotConverging && options.RequireConvergence)
        {
            var last = _context.Rounds[^1];
            throw new MigrationRefusedException(
                $"pre-copy did not converge: round {last.Round} still found {last.DirtyPages} dirty pages, " +
                $"less than {ConvergencePolicy.MinimumShrink:P0} fewer than the round before (--require-convergence)");
        }
    }
}
