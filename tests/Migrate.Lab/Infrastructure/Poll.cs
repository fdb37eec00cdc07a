namespace Migrate.Lab.Infrastructure;

/// <summary>Waits for conditions, never sleeps and hopes: a 2-core machine shared with others is slow at times.</summary>
internal static class Poll
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50);

    /// <summary>Checks CONDITION every 50 ms; false once <paramref name="timeout"/> has passed without it.</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(Period, cancellationToken);
        }
        return true;
    }

    /// <inheritdoc cref="UntilAsync(Func{bool}, TimeSpan, CancellationToken)"/>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(Period, cancellationToken);
        }
        return true;
    }
}
