using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>A target agent that answers as a healthy one would, unless a test makes a call fail.</summary>
internal sealed class FakeTarget(Journal journal, FakeTimeProvider time) : ITargetAgent
{
    public const string SessionId = "0123456789abcdef0123456789abcdef";

    public TargetAddress Address { get; } = new("10.0.0.2", 7070);

    public HostFacts Facts { get; init; } = FakeHost.Facts("target");

    public IReadOnlyList<CheckResult> PreflightChecks { get; set; } = [Checks.Pass("files", "all the same")];

    /// <summary>What the health service answers; up unless a test takes the target down.</summary>
    public TargetHealth? Health { get; set; }

    public Exception? HandshakeFailure { get; set; }
    public Exception? SendPagesFailure { get; set; }
    public Exception? SendImagesFailure { get; set; }
    public Exception? RestoreFailure { get; set; }
    public Exception? CommitFailure { get; set; }
    public Exception? AwaitPagesFailure { get; set; }
    public PagesArrival Pages { get; set; } = new(true, 25, null);
    public bool RestoresLazily { get; set; } = true;

    /// <summary>How long the target takes to restore, on the fake clock.</summary>
    public TimeSpan RestoreTime { get; set; } = TimeSpan.FromMilliseconds(150);

    public TimeSpan CommitTime { get; set; } = TimeSpan.FromMilliseconds(10);

    public Task<TargetHealth> CheckHealthAsync(CancellationToken cancellationToken)
    {
        journal.Add("target health");
        return Task.FromResult(Health ?? new TargetHealth(Address, true, "serving"));
    }

    public Task<TargetHandshake> HandshakeAsync(HostFacts source, CancellationToken cancellationToken)
    {
        journal.Add("target handshake");
        return HandshakeFailure is { } failure
            ? Task.FromException<TargetHandshake>(failure)
            : Task.FromResult(new TargetHandshake(SessionId, Facts, new TargetLimits(1 << 20, 1L << 36)));
    }

    public Task<IReadOnlyList<CheckResult>> PreflightAsync(string sessionId, PreflightQuery query, CancellationToken cancellationToken)
    {
        journal.Add("target preflight");
        return Task.FromResult(PreflightChecks);
    }

    public async Task<PageStreamStats> SendPagesAsync(string sessionId, PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        journal.Add($"target pages {round.Number}");
        if (SendPagesFailure is { } failure)
        {
            throw failure;
        }
        var batches = System.Threading.Channels.Channel.CreateUnbounded<PageBatchBuilder>();
        var counts = await scan(batches.Writer, cancellationToken);
        return new PageStreamStats(counts, 0, 0, 0, 0);
    }

    public Task<TransferStats> SendImagesAsync(string sessionId, ImageSetUpload set, IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        journal.Add($"target images {set.Name}");
        return SendImagesFailure is { } failure ? Task.FromException<TransferStats>(failure) : Task.FromResult(new TransferStats(3, 4096, 2048));
    }

    public RestoreOrder? LastRestore { get; private set; }

    public Task<RestoreResult> RestoreAsync(string sessionId, RestoreOrder order, TimeSpan timeout, CancellationToken cancellationToken)
    {
        LastRestore = order;
        journal.Add("target restore");
        cancellationToken.ThrowIfCancellationRequested();
        time.Advance(RestoreTime);
        return RestoreFailure is { } failure
            ? Task.FromException<RestoreResult>(failure)
            : Task.FromResult(new RestoreResult(FakeHost.Pid, [FakeHost.Pid], new TargetTimings(0, RestoreTime.TotalMilliseconds - 20, 20),
                RestoresLazily, null, [Checks.Pass("restored", "1 task restored lazily and stopped, waiting for the commit")]));
    }

    public Task<CommitResult> CommitAsync(string sessionId, CancellationToken cancellationToken)
    {
        journal.Add("target commit");
        time.Advance(CommitTime);
        return CommitFailure is { } failure ? Task.FromException<CommitResult>(failure) : Task.FromResult(new CommitResult(FakeHost.Pid, 1, null));
    }

    public Task<int> AbortAsync(string sessionId, string reason, CancellationToken cancellationToken)
    {
        journal.Add("target abort");
        return Task.FromResult(0);
    }

    public Task<PagesArrival> AwaitPagesAsync(string sessionId, CancellationToken cancellationToken)
    {
        journal.Add("target await pages");
        return AwaitPagesFailure is { } failure ? Task.FromException<PagesArrival>(failure) : Task.FromResult(Pages);
    }

    public void Dispose()
    {
    }
}
