using System.Globalization;

namespace Migrate.Engine.Memory;

/// <summary>
/// Bytes the target may still store, charged as data arrives, before it is
/// written. A session's page store, image sets, pre-copy chain and rebuilt
/// pages images all draw on the session's allowance, and every session's on
/// the agent's, which also keeps a reserve of free disk. One allowance per
/// session, shared by all its streams, is what keeps a peer from doubling the
/// cap by interleaving them.
/// </summary>
public sealed class StorageAllowance
{
    // Free disk is asked of the kernel (statvfs) at most once per this many
    // bytes charged; between two asks the bytes charged since count as used.
    private const long DiskCheckInterval = 1 << 20;

    private readonly Lock _lock = new();
    private readonly string _owner;
    private readonly StorageAllowance? _parent;
    private readonly Func<long>? _freeDisk;
    private readonly long _diskReserve;
    private long _charged;
    private long _freeAtCheck;
    private long _chargedSinceCheck = long.MaxValue;

    /// <param name="owner">Whose allowance this is, for the refusal: "the session", "the target's sessions".</param>
    /// <param name="limit">The most bytes that may be charged at once.</param>
    /// <param name="parent">Every charge is also charged there, and refused if it does not fit there.</param>
    /// <param name="freeDisk">Bytes free for the work directory's file system; with it, a charge that would leave less than <paramref name="diskReserve"/> is refused.</param>
    public StorageAllowance(string owner, long limit, StorageAllowance? parent = null, Func<long>? freeDisk = null, long diskReserve = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(diskReserve);
        _owner = owner;
        Limit = limit;
        _parent = parent;
        _freeDisk = freeDisk;
        _diskReserve = diskReserve;
    }

    public long Limit { get; }

    public long Charged
    {
        get
        {
            lock (_lock)
            {
                return _charged;
            }
        }
    }

    /// <summary>Counts <paramref name="bytes"/> as stored, or refuses them all with <see cref="StorageLimitException"/>.</summary>
    public void Charge(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_lock)
        {
            if (bytes > Limit - _charged)
            {
                throw new StorageLimitException($"{_owner} would store more than its limit of {Describe(Limit)}");
            }
            RequireFreeDisk(bytes);
            // Child before parent, always in that order: no two locks are ever taken the other way round.
            _parent?.Charge(bytes);
            _charged += bytes;
            if (_freeDisk is not null)
            {
                _chargedSinceCheck += bytes;
            }
        }
    }

    /// <summary>Gives back bytes charged before: their data was removed, or never written.</summary>
    public void Refund(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_lock)
        {
            bytes = Math.Min(bytes, _charged);
            _charged -= bytes;
            _parent?.Refund(bytes);
        }
    }

    /// <summary>Gives back everything charged here: the owner's data is gone, or no longer counted.</summary>
    public void RefundAll()
    {
        lock (_lock)
        {
            Refund(_charged);
        }
    }

    private void RequireFreeDisk(long bytes)
    {
        if (_freeDisk is null)
        {
            return;
        }
        if (_chargedSinceCheck >= DiskCheckInterval || bytes >= DiskCheckInterval)
        {
            _freeAtCheck = _freeDisk();
            _chargedSinceCheck = 0;
        }
        long usable = _freeAtCheck - _chargedSinceCheck - _diskReserve;
        if (bytes > usable)
        {
            // What the operator can act on: the room left for data, the reserve it excludes, the write refused.
            throw new StorageLimitException(
                $"the target's disk has {Describe(Math.Max(0, usable))} free" +
                (_diskReserve > 0 ? $" beyond the {Describe(_diskReserve)} it keeps" : "") +
                $", too little to write {Describe(bytes)}");
        }
    }

    internal static string Describe(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 30} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.#} MiB"),
        >= 1L << 10 when bytes % (1L << 10) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 10} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes"),
    };
}

/// <summary>Storing more would exceed a limit of the target: a session's, all sessions' together, or the disk's reserve.</summary>
public sealed class StorageLimitException(string message) : Exception(message);
