using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// The target's copy of the source's pages, by task and address: one file
/// of 4 KiB slots and an index. A page sent again overwrites its slot; a zero
/// page takes no slot at all.
/// </summary>
public sealed class PageStore : IPageSink, IDisposable
{
    private const long ZeroSlot = -1;

    private readonly Dictionary<(int Pid, ulong Address), long> _slots = [];
    private readonly SafeFileHandle _file;
    private readonly long _maxBytes;
    private long _slotCount;

    public PageStore(string path, long maxBytes)
    {
        _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        _maxBytes = maxBytes;
    }

    public long Pages => _slots.Count;

    public long BytesStored => _slotCount * PageSize.Bytes;

    public void Store(int pid, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages, ReadOnlySpan<ulong> zeroAddresses)
    {
        Write(pid, addresses, pages);
        WriteZero(pid, zeroAddresses);
    }

    /// <summary>Stores <paramref name="pages"/>, the content of each address in turn.</summary>
    public void Write(int pid, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages)
    {
        int i = 0;
        while (i < addresses.Length)
        {
            long slot = SlotFor(pid, addresses[i]);
            // Pages that land in consecutive slots (every new page does) go in one write.
            int run = 1;
            while (i + run < addresses.Length && SlotFor(pid, addresses[i + run]) == slot + run)
            {
                run++;
            }
            RandomAccess.Write(_file, pages.Slice(i * PageSize.Bytes, run * PageSize.Bytes), slot * PageSize.Bytes);
            i += run;
        }
    }

    public void WriteZero(int pid, ReadOnlySpan<ulong> addresses)
    {
        foreach (var address in addresses)
        {
            _slots[(pid, address)] = ZeroSlot;
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
            if (slot == ZeroSlot)
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

    private long SlotFor(int pid, ulong address)
    {
        ref long slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_slots, (pid, address), out bool existed);
        if (!existed || slot == ZeroSlot)
        {
            if ((_slotCount + 1) * PageSize.Bytes > _maxBytes)
            {
                _slots.Remove((pid, address));
                throw new PageStoreFullException(_maxBytes);
            }
            slot = _slotCount++;
        }
        return slot;
    }

    public void Dispose() => _file.Dispose();
}

public sealed class PageStoreFullException(long maxBytes)
    : Exception($"the session's pages exceed the limit of {maxBytes} bytes");
