using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>Where a page stream stores what arrives: one batch of a task's or a shared memory object's pages, with content and as zero pages.</summary>
public interface IPageSink
{
    void Store(PageOwner owner, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages, ReadOnlySpan<ulong> zeroAddresses);
}

/// <summary>
/// The target's copy of write-protect pre-copy: each round kept as a CRIU
/// image set pre-N (pagemap-PID.img and pages-ID.img per task, and
/// pagemap-shmem-SHMID.img per shared memory object) whose parent is
/// the previous round's, the way CRIU's own pre-dumps chain. The pages are
/// written as they arrive, while the process runs; at the freeze CRIU's final
/// dump names the last round as parent and holds only what changed, and CRIU
/// restores from the chain, eagerly or lazily (ENVIRONMENT.md, fact 3). Zero
/// pages take no disk: they are holes in the sparse pages files. Every page a
/// round receives, zero or not, costs 4 KiB of the allowance, as in the page
/// store: the rounds' page ranges live on the heap.
/// </summary>
public sealed class PrecopyImageChain(string imagesDirectory, StorageAllowance allowance)
{
    private readonly Dictionary<PageOwner, PageRanges> _held = [];
    private readonly StorageAllowance _allowance = allowance;

    /// <summary>The last complete round's set, or null before the first.</summary>
    public string? TopSet { get; private set; }

    public static string SetName(int round) => $"pre-{round}";

    /// <summary>Starts round <paramref name="round"/>: the next set after <see cref="TopSet"/>.</summary>
    public ChainRound BeginRound(int round)
    {
        var set = SetName(round);
        if (set == TopSet || Directory.Exists(Path.Combine(imagesDirectory, set)))
        {
            throw new InvalidDataException($"round {round} was already received");
        }
        return new ChainRound(this, set, Path.Combine(imagesDirectory, set));
    }

    /// <summary>Every page of the run is in some round of the chain: a PE_PARENT run of a later dump may name it.</summary>
    public bool Holds(PageOwner owner, ulong address, long pages) => _held.TryGetValue(owner, out var held) && held.Contains(address, pages);

    private void Complete(ChainRound round, IReadOnlyDictionary<PageOwner, PageRanges> received)
    {
        foreach (var (owner, pages) in received)
        {
            var held = HeldBy(owner);
            foreach (var (start, end) in pages.Runs)
            {
                held.Add(start, (long)((end - start) >> PageSize.Shift));
            }
        }
        TopSet = round.Name;
    }

    private PageRanges HeldBy(PageOwner owner)
    {
        if (!_held.TryGetValue(owner, out var ranges))
        {
            _held[owner] = ranges = new PageRanges();
        }
        return ranges;
    }

    /// <summary>
    /// One round's set being written. The pages of a task or a shared memory
    /// object must arrive in ascending address order, as a scan reads them; that is what lets them go straight
    /// into CRIU's pages file, which holds them in pagemap order.
    /// </summary>
    public sealed class ChainRound : IPageSink, IDisposable
    {
        private readonly PrecopyImageChain _chain;
        private readonly string _directory;
        private readonly Dictionary<PageOwner, TaskPages> _tasks = [];
        private long _charged;
        private bool _completed;

        internal ChainRound(PrecopyImageChain chain, string name, string directory)
        {
            _chain = chain;
            Name = name;
            _directory = directory;
            PrivateFiles.CreateDirectory(directory);
        }

        public string Name { get; }

        public void Store(PageOwner owner, ReadOnlySpan<ulong> addresses, ReadOnlySpan<byte> pages, ReadOnlySpan<ulong> zeroAddresses)
        {
            long bytes = (long)(addresses.Length + zeroAddresses.Length) * PageSize.Bytes;
            _chain._allowance.Charge(bytes);
            _charged += bytes;
            var task = Task(owner);
            int present = 0, zero = 0;
            while (present < addresses.Length || zero < zeroAddresses.Length)
            {
                bool takeZero = present == addresses.Length || (zero < zeroAddresses.Length && zeroAddresses[zero] < addresses[present]);
                ulong address = takeZero ? zeroAddresses[zero] : addresses[present];
                long index = task.Place(address, Name);
                if (takeZero)
                {
                    zero++;
                    continue;
                }
                // Consecutive pages that land in consecutive slots go in one write.
                int run = 1;
                while (present + run < addresses.Length && addresses[present + run] == address + ((ulong)run << PageSize.Shift) &&
                       (zero == zeroAddresses.Length || zeroAddresses[zero] > addresses[present + run]))
                {
                    task.Place(addresses[present + run], Name);
                    run++;
                }
                RandomAccess.Write(task.File, pages.Slice(present * PageSize.Bytes, run * PageSize.Bytes), index * PageSize.Bytes);
                present += run;
            }
        }

        /// <summary>Writes each task's pagemap (this round's pages present, the rest in the parent) and makes the set the chain's top.</summary>
        public void Complete()
        {
            // A task that wrote nothing since the last round still needs its
            // pagemap here, all of it in the parent: the final dump names this
            // set as its parent, and CRIU finds a task's earlier pages only
            // through the parent's pagemap of that task ("No parent for
            // snapshot pagemap", criu/pagemap.c).
            // The same holds for a shared memory object (pagemap-shmem-SHMID.img).
            foreach (var owner in _chain._held.Keys)
            {
                Task(owner);
            }
            var received = new Dictionary<PageOwner, PageRanges>();
            foreach (var (owner, task) in _tasks)
            {
                // A round that ends in zero pages still needs them in the file: holes.
                RandomAccess.SetLength(task.File, task.Count * PageSize.Bytes);
                var entries = Pagemap(task.Pages, _chain._held.GetValueOrDefault(owner));
                PrivateFiles.WriteNew(Path.Combine(_directory, owner.PagemapFileName),
                    ImageWriter.Write(ImageMagic.Pagemap, [new PagemapHead { PagesId = task.PagesId }, .. entries]));
                received[owner] = task.Pages;
            }
            if (_chain.TopSet is { } parent)
            {
                // CRIU follows "parent" to the previous set (criu/image.c, open_parent).
                File.CreateSymbolicLink(Path.Combine(_directory, "parent"), Path.Combine("..", parent));
            }
            _chain.Complete(this, received);
            _completed = true;
        }

        public void Dispose()
        {
            foreach (var task in _tasks.Values)
            {
                task.File.Dispose();
            }
            if (!_completed)
            {
                // Part of a round: the chain no longer mirrors the source's view of it.
                if (Directory.Exists(_directory))
                {
                    Directory.Delete(_directory, recursive: true);
                }
                _chain._allowance.Refund(_charged);
            }
        }

        private TaskPages Task(PageOwner owner)
        {
            if (!_tasks.TryGetValue(owner, out var task))
            {
                uint pagesId = (uint)_tasks.Count + 1;
                var file = PrivateFiles.CreateNew(Path.Combine(_directory, $"pages-{pagesId}.img"), FileAccess.ReadWrite);
                _tasks[owner] = task = new TaskPages(pagesId, file);
            }
            return task;
        }

        /// <summary>This round's pages as present runs, every page held from earlier rounds as runs in the parent, in address order.</summary>
        private static IEnumerable<PagemapEntry> Pagemap(PageRanges round, PageRanges? earlier)
        {
            var marks = new SortedDictionary<ulong, int>();
            void Mark(ulong at, int change) => marks[at] = marks.GetValueOrDefault(at) + change;
            foreach (var (start, end) in round.Runs)
            {
                Mark(start, 2);
                Mark(end, -2);
            }
            foreach (var (start, end) in earlier?.Runs ?? [])
            {
                Mark(start, 1);
                Mark(end, -1);
            }
            // A sweep over the run boundaries: weight 2 or 3 is this round's, 1 the parent's.
            int weight = 0;
            ulong from = 0;
            uint? flags = null;
            foreach (var (at, change) in marks)
            {
                if (flags is { } open && at > from)
                {
                    yield return Entry(from, at, open);
                }
                weight += change;
                flags = weight >= 2 ? PagemapRun.Present : weight == 1 ? PagemapRun.InParent : null;
                from = at;
            }
        }

        private static PagemapEntry Entry(ulong start, ulong end, uint flags)
        {
            ulong pages = (end - start) >> PageSize.Shift;
            return new PagemapEntry { Vaddr = start, NrPages = pages, CompatNrPages = (uint)Math.Min(pages, uint.MaxValue), Flags = flags };
        }
    }

    /// <summary>One task's or shared memory object's pages in one round: its pages file, and where the next page goes.</summary>
    private sealed class TaskPages(uint pagesId, SafeFileHandle file)
    {
        private ulong _next;

        public uint PagesId { get; } = pagesId;

        public SafeFileHandle File { get; } = file;

        public long Count { get; private set; }

        public PageRanges Pages { get; } = new();

        /// <summary>Takes the next slot for <paramref name="address"/>, which must lie past every page before it.</summary>
        public long Place(ulong address, string set)
        {
            if (address < _next || (address & (PageSize.Bytes - 1)) != 0)
            {
                throw new InvalidDataException($"{set}: page 0x{address:x} arrived out of address order");
            }
            _next = address + PageSize.Bytes;
            Pages.Add(address);
            return Count++;
        }
    }
}
