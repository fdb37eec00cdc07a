using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>Pre-copy's view of the target: one session of a target agent.</summary>
internal sealed class SessionPrecopyTarget(ITargetAgent target, string sessionId) : IPrecopyTarget
{
    public Task<PageStreamStats> SendPagesAsync(PageRound round, PageScan scan, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        target.SendPagesAsync(sessionId, round, scan, bytesSent, cancellationToken);

    public Task<TransferStats> SendImagesAsync(ImageSetUpload set, IProgress<long>? bytesSent, CancellationToken cancellationToken) =>
        target.SendImagesAsync(sessionId, set, bytesSent, cancellationToken);
}
