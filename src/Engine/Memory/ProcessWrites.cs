using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>The pages [<see cref="Start"/>, <see cref="End"/>), page-aligned.</summary>
public readonly record struct PageRange(ulong Start, ulong End)
{
    public long Pages => (long)((End - Start) >> PageSize.Shift);

    /// <summary>The range as runs for <see cref="PageScanner"/>'s reads.</summary>
    public IEnumerable<PageRun> Runs()
    {
        const int MaxRunPages = 1 << 20;
        for (ulong address = Start; address < End; address += (ulong)MaxRunPages << PageSize.Shift)
        {
            yield return new PageRun(address, (int)Math.Min(MaxRunPages, (End - address) >> PageSize.Shift));
        }
    }

    public override string ToString() => $"0x{Start:x}-0x{End:x}";
}

/// <summary>Why a range's every page is to be treated as written this round.</summary>
public enum WholeReason
{
    /// <summary>The process is new to the tracker: the first round, or a child forked since the last one (its pages lost the protection at fork).</summary>
    NewProcess,

    /// <summary>
    /// An area that was not there in the last round: mapped, or moved by mremap
    /// (this kernel shows no offset for anonymous memory, so a move looks like a new mapping).
    /// </summary>
    NewArea,

    /// <summary>The part of an area that it grew by since the last round.</summary>
    GrownArea,

    /// <summary>An area that could not be registered (<see cref="WholeRange.RegisterError"/>): EBUSY when the process registered it with a userfaultfd of its own.</summary>
    NotRegistered,

    /// <summary>The process cannot be tracked at all (<see cref="ProcessWrites.Unavailable"/>).</summary>
    ProcessNotTracked,
}

/// <summary>A range all of whose pages holding data are to be read, with why.</summary>
public readonly record struct WholeRange(PageRange Range, WholeReason Reason, bool FileBacked, Errno? RegisterError = null);

/// <summary>
/// One process's round: the pages written since the previous round (now
/// write-protected again), and the ranges to treat as wholly written. Read
/// them with <see cref="PageScanner.ReadWritesAsync"/>: a write after this
/// round shows in the next.
/// </summary>
public sealed record ProcessWrites(int Pid, int Round, IReadOnlyList<PageRange> Written, IReadOnlyList<WholeRange> Whole)
{
    /// <summary>Why the process is not tracked, or null when it is. Not tracked, its every area is in <see cref="Whole"/>.</summary>
    public UserfaultfdUnavailableException? Unavailable { get; init; }

    public long WrittenPages => Written.Sum(range => range.Pages);

    /// <summary>
    /// The pages to read, in ascending address order (an image chain's round
    /// stores a task's pages in that order): the written ranges, and the pages
    /// of the whole ranges that hold data, as <paramref name="resident"/> (this
    /// process's pagemap) shows them.
    /// </summary>
    /// <remarks>
    /// Each page comes once, in order, also where ranges overlap: the chain
    /// refuses a page that does not lie past the last one. A lab run at 64 MiB
    /// hit that once in round 2 (a page "out of address order"), so overlaps
    /// do occur; reading such a page once, now, loses nothing.
    /// </remarks>
    public IEnumerable<PageRun> Runs(ResidentPages resident)
    {
        var runs = Written.Select(range => (range.Start, Runs: range.Runs()))
            .Concat(Whole.Select(whole => (whole.Range.Start, Runs: resident.Runs(whole.Range.Start, whole.Range.End, whole.FileBacked))))
            .OrderBy(part => part.Start)
            .SelectMany(part => part.Runs);
        ulong next = 0;
        foreach (var run in runs)
        {
            if (run.End <= next)
            {
                continue;
            }
            ulong start = Math.Max(run.Address, next);
            yield return new PageRun(start, (int)((run.End - start) >> PageSize.Shift));
            next = run.End;
        }
    }

    public long WholePages => Whole.Sum(whole => whole.Range.Pages);
}

/// <summary>
/// What the tracker knows of one area of a process, as of the last round: for
/// the freeze, to tell which pages the target's copy holds as they are.
/// </summary>
/// <param name="Registered">Registered with the tracker's userfaultfd: every write since <paramref name="LastScannedRound"/> is caught.</param>
/// <param name="FirstRound">The round it was first seen, and read whole.</param>
/// <param name="LastScannedRound">The last round whose written pages were read from it.</param>
public sealed record TrackedArea(
    ulong Start, ulong End, ulong Offset, DeviceNumber Device, ulong Inode, string Path,
    bool Registered, Errno? RegisterError, int FirstRound, int LastScannedRound);
