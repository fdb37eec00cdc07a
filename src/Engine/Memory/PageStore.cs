using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// The target's copy of the source's pages, by task and address: one file
/// of 4 KiB slots and an index. A page sent again overwrites its slot; a zero
/// page takes no slot, and keeps the one it had for when it gets content again.
/// Every page the index holds, zero or not, costs 4 KiB of the allowance: so
/// the file never outgrows it, and neither does the index's heap.
/// </summary>
public sealed class PageStore : IPageSink, IDisposable
{
    // Index values: a slot (>= 0), or a zero page: ~slot for one that had a slot, NoSlot for one that never had.
    private const long NoSlot = long.MinValue;

    private readonly Dictionary<(int Pid, ulong Address), long> _slots = [];
    private readonly SafeFileHandle _file;
    private readonly StorageAllowance _allowance;
    private long _slotCount;

    public PageStore(string path, StorageAllowance allowance)
    {
        _file = PrivateFiles.CreateNew(path, FileAccess.ReadWrite);
        _allowance = allowance;
    }

    public long Pages => _slots.Count;

    public long BytesStored => _slotCount * PageSize.Bytes;

    public void Store(PageOwner owner, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages, ReadOnlySpan<ulong> zeroAddresses)
    {
        if (owner.IsSharedMemory)
        {
            // Content-hash pre-copy rebuilds the tasks' pages images; shared memory travels in the final dump.
            throw new InvalidDataException($"pages of {owner} arrived in a round that keeps only tasks' pages");
        }
        Write(owner.Pid, addresses, pages);
        WriteZero(owner.Pid, zeroAddresses);
    }

    /// <summary>Stores <paramref name="pages"/>, the content of each address in turn.</summary>
    public void Write(int pid, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages)
    {
        int charged = ChargeNew(pid, addresses);
        int added = 0;
        try
        {
            WriteCharged(pid, addresses, pages, ref added);
        }
        finally
        {
            _allowance.Refund((long)(charged - added) * PageSize.Bytes);
        }
    }

    /// <summary>
    /// Charges the pages of a batch the index does not hold yet, in one charge
    /// made before any is indexed. An address twice in the batch is charged
    /// twice; the caller gives back what was not added.
    /// </summary>
    private int ChargeNew(int pid, ReadOnlySpan<ulong> addresses)
    {
        int fresh = 0;
        foreach (var address in addresses)
        {
            if (!_slots.ContainsKey((pid, address)))
            {
                fresh++;
            }
        }
        _allowance.Charge((long)fresh * PageSize.Bytes);
        return fresh;
    }

    private void WriteCharged(int pid, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages, ref int added)
    {
        int i = 0;
        while (i < addresses.Length)
        {
            long slot = SlotFor(pid, addresses[i], ref added);
            // Pages that land in consecutive slots (every new page does) go in one write.
            int run = 1;
            while (i + run < addresses.Length && SlotFor(pid, addresses[i + run], ref added) == slot + run)
            {
                run++;
            }
            RandomAccess.Write(_file, pages.Slice(i * PageSize.Bytes, run * PageSize.Bytes), slot * PageSize.Bytes);
            i += run;
        }
    }

    public void WriteZero(int pid, ReadOnlySpan<ulong> addresses)
    {
        int charged = ChargeNew(pid, addresses);
        int added = 0;
        try
        {
            foreach (var address in addresses)
            {
                ref long slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_slots, (pid, address), out bool existed);
                if (!existed)
                {
                    added++;
                    slot = NoSlot;
                }
                else if (slot >= 0)
                {
                    slot = ~slot;
                }
            }
        }
        finally
        {
            _allowance.Refund((long)(charged - added) * PageSize.Bytes);
        }
    }

    /// <summary>Copies the page into <paramref name="destination"/>; false if the store never received it.</summary>
    public bool TryRead(int pid, ulong address, Span<byte> destination) => TryRead(pid, address, 1, destination) == 1;

    /// <summary>
    /// Copies up to <paramref name="pages"/> consecutive pages from <paramref name="address"/>
    /// into <paramref name="destination"/>, reading runs of adjacent slots at once.
    /// Returns how many pages it found, stopping at the first missing one.
    /// </summary>
    public int TryRead(int pid, ulong address, int pages, Span<byte> destination)
    {
        int done = 0;
        while (done < pages)
        {
            if (!_slots.TryGetValue((pid, address + ((ulong)done << PageSize.Shift)), out long slot))
            {
                return done;
            }
            if (slot < 0)
            {
                destination.Slice(done * PageSize.Bytes, PageSize.Bytes).Clear();
                done++;
                continue;
            }
            int run = 1;
            while (done + run < pages &&
                   _slots.TryGetValue((pid, address + ((ulong)(done + run) << PageSize.Shift)), out long next) && next == slot + run)
            {
                run++;
            }
            var span = destination.Slice(done * PageSize.Bytes, run * PageSize.Bytes);
            if (RandomAccess.Read(_file, span, slot * PageSize.Bytes) != span.Length)
            {
                throw new IOException("the page store is shorter than its index");
            }
            done += run;
        }
        return done;
    }

    private long SlotFor(int pid, ulong address, ref int added)
    {
        ref long slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_slots, (pid, address), out bool existed);
        if (!existed)
        {
            added++;
            slot = _slotCount++;
        }
        else if (slot == NoSlot)
        {
            slot = _slotCount++;
        }
        else if (slot < 0)
        {
            slot = ~slot;
        }
        return slot;
    }

    public void Dispose() => _file.Dispose();
}
