using Microsoft.Extensions.Logging;
using Migrate.Engine.Criu;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>What every phase of one source migration works with.</summary>
public sealed record SourceServices(
    ICriu Criu, ITargetAgent Target, ISourceHost Host, MigrationClock Clock, ILogger Logger, IProgress<MigrationProgress>? Progress)
{
    public void Report(MigrationStage stage) => Progress?.Report(new MigrationProgress(stage));

    /// <summary>Reports how far a pre-copy round has got, as it goes.</summary>
    public IProgress<Memory.RoundProgress>? Rounds() => Progress is { } progress
        ? new SynchronousProgress<Memory.RoundProgress>(round => progress.Report(new MigrationProgress(MigrationStage.Precopy, round.BytesSent, Scan: round)))
        : null;

    /// <summary>Reports bytes as they move, on the caller's thread, so updates keep their order.</summary>
    public IProgress<long> Bytes(MigrationStage stage, long total) =>
        new SynchronousProgress<long>(bytes => Progress?.Report(new MigrationProgress(stage, bytes, total)));
}

/// <summary>Reports on the caller's thread, unlike Progress&lt;T&gt;, so updates keep their order.</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
