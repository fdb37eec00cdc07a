using System.Buffers;
using System.IO.Hashing;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>How many pages a sift looked at and what it found.</summary>
public record struct SiftCounts(long Scanned, long Changed, long Zero)
{
    public static SiftCounts operator +(SiftCounts a, SiftCounts b) =>
        new(a.Scanned + b.Scanned, a.Changed + b.Changed, a.Zero + b.Zero);
}

/// <summary>
/// Collects the changed pages of one task or shared memory object for one
/// batch. Pages are read straight
/// into the free tail of the batch buffer, then <see cref="Sift"/> keeps those
/// the target lacks and moves them down over the ones it already holds: a
/// first round, where every page is new, copies nothing twice, and no page
/// causes an allocation.
/// </summary>
public sealed class PageBatchBuilder : IDisposable
{
    public const int MaxPages = 256;
    public const int MaxZeroPages = 16384;

    private byte[] _pages = ArrayPool<byte>.Shared.Rent(MaxPages * PageSize.Bytes);
    private ulong[] _addresses = ArrayPool<ulong>.Shared.Rent(MaxPages);

    public PageBatchBuilder(PageOwner owner) => Owner = owner;

    public PageOwner Owner { get; }

    public int Count { get; private set; }

    public List<ulong> ZeroAddresses { get; } = [];

    public ReadOnlyMemory<byte> Pages => _pages.AsMemory(0, Count * PageSize.Bytes);

    public ReadOnlySpan<ulong> Addresses => _addresses.AsSpan(0, Count);

    /// <summary>
    /// How many pages the next read may take: room in the buffer, and room for
    /// as many zero pages, since any page read may turn out zero. A batch never
    /// holds more than the target accepts (a zdtm futex run once sent 16 400
    /// zero pages, and the target refused the batch).
    /// </summary>
    public int FreePages => Math.Min(MaxPages - Count, MaxZeroPages - ZeroAddresses.Count);

    public bool IsFull => FreePages == 0;

    public bool IsEmpty => Count == 0 && ZeroAddresses.Count == 0;

    /// <summary>Where the next pages are to be read: room for <see cref="FreePages"/> pages.</summary>
    public Span<byte> Free => _pages.AsSpan(Count * PageSize.Bytes, FreePages * PageSize.Bytes);

    /// <summary>
    /// Takes the <paramref name="pages"/> pages just read into <see cref="Free"/>,
    /// for consecutive addresses from <paramref name="firstAddress"/>, and keeps
    /// those whose content differs from what <paramref name="held"/> records.
    /// </summary>
    public SiftCounts Sift(ulong firstAddress, int pages, PageHashes held)
    {
        var changes = new HashChanges(held);
        return Collect(firstAddress, pages, ref changes);
    }

    /// <summary>
    /// Takes the <paramref name="pages"/> pages just read into <see cref="Free"/>
    /// and keeps them all, as pages known to be written (write-protect
    /// tracking): nothing is hashed; zero pages are split off as by <see cref="Sift"/>.
    /// </summary>
    public SiftCounts Keep(ulong firstAddress, int pages)
    {
        var changes = new AllChanged();
        return Collect(firstAddress, pages, ref changes);
    }

    /// <summary>Which pages changed. A struct, so that each use gets code of its own with the test inlined.</summary>
    private interface IChanges
    {
        /// <summary>Whether the page changed, and if it did, whether it may be all zero (checked after).</summary>
        bool Changed(ulong address, ReadOnlySpan<byte> page, out bool mayBeZero);
    }

    private readonly struct HashChanges(PageHashes held) : IChanges
    {
        public bool Changed(ulong address, ReadOnlySpan<byte> page, out bool mayBeZero)
        {
            var hash = XxHash128.HashToUInt128(page);
            mayBeZero = hash == PageHashes.ZeroPage;
            return held.Update(address, hash);
        }
    }

    private readonly struct AllChanged : IChanges
    {
        public bool Changed(ulong address, ReadOnlySpan<byte> page, out bool mayBeZero)
        {
            mayBeZero = true;
            return true;
        }
    }

    /// <summary>Keeps the changed pages, moving them down over the others; zero pages go to <see cref="ZeroAddresses"/>.</summary>
    private SiftCounts Collect<TChanges>(ulong firstAddress, int pages, ref TChanges changes)
        where TChanges : struct, IChanges
    {
        if (pages > FreePages)
        {
            throw new ArgumentOutOfRangeException(nameof(pages), pages, $"only {FreePages} pages fit");
        }
        long changed = 0, zero = 0;
        int kept = Count;
        for (int i = 0; i < pages; i++)
        {
            var page = _pages.AsSpan((Count + i) * PageSize.Bytes, PageSize.Bytes);
            ulong address = firstAddress + ((ulong)i << PageSize.Shift);
            if (!changes.Changed(address, page, out bool mayBeZero))
            {
                continue;
            }
            changed++;
            if (mayBeZero && !page.ContainsAnyExcept((byte)0))
            {
                ZeroAddresses.Add(address);
                zero++;
                continue;
            }
            if (kept != Count + i)
            {
                page.CopyTo(_pages.AsSpan(kept * PageSize.Bytes, PageSize.Bytes));
            }
            _addresses[kept++] = address;
        }
        Count = kept;
        return new SiftCounts(pages, changed, zero);
    }

    public void Dispose()
    {
        if (_pages.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_pages);
            ArrayPool<ulong>.Shared.Return(_addresses);
            _pages = [];
            _addresses = [];
        }
    }
}
