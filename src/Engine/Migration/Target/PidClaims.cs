using Migrate.Engine.Compat;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// The PIDs that restores under way will create, one claim per restore. Two
/// sessions may never restore the same PID at once: both would pass the check
/// that it is free, one CRIU would fail, and what it left behind could not be
/// told from the other's tasks. With the claim, any task of a claimed PID that
/// exists after a failed restore is that restore's own.
/// </summary>
public sealed class PidClaims
{
    private readonly HashSet<int> _claimed = [];

    /// <summary>Claims <paramref name="pids"/> until the result is disposed, or fails the pids check if another restore has one.</summary>
    public IDisposable Claim(IReadOnlyList<int> pids)
    {
        lock (_claimed)
        {
            if (pids.FirstOrDefault(_claimed.Contains) is var taken && taken != 0)
            {
                throw new CheckFailedException(Checks.Fail(PidCheck.CheckName, $"at restore: PID {taken} is being restored by another session",
                    "migrate the processes one after the other, or to targets of their own"));
            }
            _claimed.UnionWith(pids);
        }
        return new Held(this, pids);
    }

    private void Release(IReadOnlyList<int> pids)
    {
        lock (_claimed)
        {
            _claimed.ExceptWith(pids);
        }
    }

    private sealed class Held(PidClaims claims, IReadOnlyList<int> pids) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                claims.Release(pids);
            }
        }
    }
}
