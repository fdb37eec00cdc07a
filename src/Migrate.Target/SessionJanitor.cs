using Migrate.Engine.Linux;
using Migrate.Engine.Migration.Target;

namespace Migrate.Target;

/// <summary>Expires idle sessions and reaps restored processes that exited.</summary>
internal sealed class SessionJanitor(TargetSessions sessions, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            ChildReaper.ReapExited();
            await sessions.ExpireAsync(stoppingToken);
        }
    }
}
