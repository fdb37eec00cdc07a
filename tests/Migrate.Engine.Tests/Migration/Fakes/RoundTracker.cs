using Migrate.Engine.Criu;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>A pre-copy tracker whose every round streams an empty batch to the target, so a round fails where the stream does.</summary>
internal sealed class RoundTracker : IMemoryTracker
{
    public PrecopyMode Mode => PrecopyMode.ContentHash;

    public async Task<RoundStats> CopyRoundAsync(int round, IPrecopyTarget target, IProgress<RoundProgress>? progress, CancellationToken cancellationToken)
    {
        var stream = await target.SendPagesAsync(new PageRound(round), (_, _) => Task.FromResult(new SiftCounts(1, 1, 0)), null, cancellationToken);
        return new RoundStats(round, stream.Counts.Scanned, stream.Counts.Changed, 0, 0, 0, 0, DurationMs: 1);
    }

    public CriuDump FinalDump(CriuDump dump) => dump;

    public Task<FinalPages> SendFinalPagesAsync(string imagesDirectory, IPrecopyTarget target, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        Task.FromResult(FinalPages.None);
}
