using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Tracks the writes of a process tree without soft-dirty, from outside it:
/// each process gets a userfaultfd of its own (threads share their process's
/// memory), made inside it by <see cref="UserfaultfdInjector"/>, in
/// asynchronous write-protect mode. Every round registers the process's
/// private areas and runs PAGEMAP_SCAN over them, which returns the pages
/// written since the last round and write-protects them again in the same
/// walk (ENVIRONMENT.md, "Write tracking without soft-dirty"). The process
/// never waits for the tracker: the kernel lifts a page's protection itself
/// at the first write.
/// </summary>
/// <remarks>
/// What each round returns as wholly written instead: a process seen for the
/// first time (a child loses the protection of its pages at fork,
/// mm/memory.c, copy_present_pte); areas or parts of areas that were not there
/// before (mremap drops the registration of a moved area and the uffd-wp bits
/// of its pages, mm/mremap.c, so it is registered again and read whole like a
/// new one); areas the kernel will not register (EBUSY: the process registered
/// them with a userfaultfd of its own). Areas are registered again every round:
/// an area moved onto a range that was tracked comes back registered, with
/// its pages unprotected, so written. A process whose memory was replaced by
/// exec is tracked anew.
/// Disposing closes every userfaultfd: the kernel then unregisters every
/// range and lifts every protection (fs/userfaultfd.c, userfaultfd_release).
/// Not thread-safe: one round at a time.
/// </remarks>
public sealed partial class WriteProtectTracker : IDisposable
{
    private const int RegionsPerScan = 4096;

    private static readonly Lazy<(ulong Features, string? Problem)> KernelSupport = new(ProbeKernel);

    private readonly Dictionary<int, TrackedProcess> _processes = [];
    private readonly Interop.PageRegion[] _regions = new Interop.PageRegion[RegionsPerScan];
    private readonly ILogger _logger;
    private readonly TimeSpan? _stopTimeout;
    private bool _disposed;

    /// <exception cref="UserfaultfdUnavailableException">The kernel cannot do it (<see cref="WriteTrackingProblem.KernelUnsupported"/>).</exception>
    public WriteProtectTracker(ILogger? logger = null, TimeSpan? stopTimeout = null)
    {
        if (Unsupported() is { } problem)
        {
            throw new UserfaultfdUnavailableException(Environment.ProcessId, WriteTrackingProblem.KernelUnsupported, problem);
        }
        _logger = logger ?? NullLogger.Instance;
        _stopTimeout = stopTimeout;
    }

    /// <summary>Why this kernel cannot track writes this way, or null when it can.</summary>
    public static string? Unsupported() => KernelSupport.Value.Problem;

    /// <summary>The rounds run so far; the first is 1.</summary>
    public int Round { get; private set; }

    /// <summary>
    /// One round over the processes <paramref name="pids"/> (the tree as it is
    /// now): attaches to those new to it, forgets those gone or no longer
    /// listed, and returns each one's writes since the last round. A process
    /// that cannot be tracked is in the result with its reason and all its
    /// areas wholly written, and its siblings are tracked on.
    /// </summary>
    public IReadOnlyList<ProcessWrites> Scan(IReadOnlyList<int> pids)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Round++;
        var listed = pids.ToHashSet();
        foreach (var (pid, gone) in _processes.Where(entry => !listed.Contains(entry.Key) || entry.Value.Pidfd.HasExited).ToList())
        {
            gone.Dispose();
            _processes.Remove(pid);
        }
        var results = new List<ProcessWrites>(pids.Count);
        foreach (int pid in pids)
        {
            if (!_processes.TryGetValue(pid, out var process))
            {
                if (Attach(pid) is not { } attached)
                {
                    continue;
                }
                _processes[pid] = process = attached;
            }
            var writes = ScanProcess(process);
            if (writes is null && !process.Pidfd.HasExited)
            {
                // Its memory is not the one the userfaultfd serves any more: it exec'd.
                LogReplaced(_logger, pid);
                process.Dispose();
                _processes.Remove(pid);
                if (Attach(pid) is { } again)
                {
                    _processes[pid] = again;
                    writes = ScanProcess(again);
                }
            }
            if (writes is not null)
            {
                results.Add(writes);
            }
        }
        return results;
    }

    /// <summary>What the tracker knows of <paramref name="pid"/>'s areas as of the last round; empty for a process it does not track.</summary>
    public IReadOnlyList<TrackedArea> Areas(int pid) => _processes.TryGetValue(pid, out var process) ? process.Areas ?? [] : [];

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var process in _processes.Values)
        {
            process.Dispose();
        }
        _processes.Clear();
    }

    private TrackedProcess? Attach(int pid)
    {
        if (PidfdHandle.Open(pid) is not { } pidfd)
        {
            return null;
        }
        var clock = Stopwatch.StartNew();
        try
        {
            var userfaultfd = UserfaultfdInjector.Create(pid, pidfd, _processes.Values.Select(p => p.Userfaultfd).OfType<UserfaultfdHandle>(), _stopTimeout);
            try
            {
                userfaultfd.EnableFeatures(KernelSupport.Value.Features);
                var pagemap = ProcFs.Pagemap.Open(pid) ?? throw new TraceeExitedException(pid);
                LogAttached(_logger, pid, clock.Elapsed.TotalMilliseconds);
                return new TrackedProcess(pid, pidfd, userfaultfd, pagemap, unavailable: null);
            }
            catch
            {
                userfaultfd.Dispose();
                throw;
            }
        }
        catch (UserfaultfdUnavailableException e)
        {
            LogUnavailable(_logger, pid, e.Problem, e.Message);
            return new TrackedProcess(pid, pidfd, userfaultfd: null, pagemap: null, e);
        }
        catch (TraceeExitedException)
        {
            pidfd.Dispose();
            return null;
        }
        catch
        {
            pidfd.Dispose();
            throw;
        }
    }

    /// <summary>One process's round; null when its memory is gone (it exited, or exec'd).</summary>
    private ProcessWrites? ScanProcess(TrackedProcess process)
    {
        var areas = ProcFs.Maps.Read(process.Pid).Where(area => area.HoldsProcessData).ToList();
        if (process.Unavailable is { } why)
        {
            if (areas.Count == 0 && process.Pidfd.HasExited)
            {
                return null;
            }
            return new ProcessWrites(process.Pid, Round, [],
                areas.Select(area => new WholeRange(Range(area), WholeReason.ProcessNotTracked, area.IsFileBacked)).ToList())
            { Unavailable = why };
        }
        if (process.Pagemap!.MemoryIsGone())
        {
            return null;
        }
        var userfaultfd = process.Userfaultfd!;
        var previous = process.Areas;
        var tracked = previous?.Where(area => area.Registered).Select(area => new PageRange(area.Start, area.End)).ToList() ?? [];
        var whole = new List<WholeRange>();
        var registered = new List<MemoryArea>(areas.Count);
        var snapshot = new List<TrackedArea>(areas.Count);
        foreach (var area in areas)
        {
            var error = userfaultfd.RegisterWriteProtect(area.Start, area.End);
            int firstRound = FirstRound(area, previous);
            snapshot.Add(new TrackedArea(area.Start, area.End, area.Offset, area.Device, area.Inode, area.Path,
                error is null, error, firstRound, Round));
            if (error is not null)
            {
                if (previous is null || !previous.Any(known => known.Start == area.Start && known.RegisterError == error))
                {
                    LogNotRegistered(_logger, process.Pid, area.Start, area.End, area.Path, error.Value);
                }
                whole.Add(new WholeRange(Range(area), WholeReason.NotRegistered, area.IsFileBacked, error));
                continue;
            }
            registered.Add(area);
            if (previous is null)
            {
                whole.Add(new WholeRange(Range(area), WholeReason.NewProcess, area.IsFileBacked));
                continue;
            }
            foreach (var part in Subtract(Range(area), tracked))
            {
                whole.Add(new WholeRange(part, part == Range(area) ? WholeReason.NewArea : WholeReason.GrownArea, area.IsFileBacked));
            }
        }
        var written = new List<PageRange>();
        var wholeRanges = whole.Select(range => range.Range).ToList();
        foreach (var run in Contiguous(registered))
        {
            if (!ScanWritten(process, run, wholeRanges, written))
            {
                return null;
            }
        }
        process.Areas = snapshot;
        return new ProcessWrites(process.Pid, Round, written, whole);
    }

    /// <summary>
    /// PAGEMAP_SCAN over <paramref name="run"/>, write-protecting what it
    /// reports; adds the written ranges but those in <paramref name="whole"/>
    /// (read whole anyway) to <paramref name="written"/>. False when the memory is gone.
    /// </summary>
    private bool ScanWritten(TrackedProcess process, PageRange run, List<PageRange> whole, List<PageRange> written)
    {
        for (ulong start = run.Start; start < run.End;)
        {
            int count = process.Pagemap!.ScanWritten(start, run.End, _regions, protect: true, out ulong walkEnd);
            if (count < 0)
            {
                return false;
            }
            for (int i = 0; i < count; i++)
            {
                foreach (var part in Subtract(new PageRange(_regions[i].Start, _regions[i].End), whole))
                {
                    if (written.Count > 0 && written[^1].End == part.Start)
                    {
                        written[^1] = written[^1] with { End = part.End };
                    }
                    else
                    {
                        written.Add(part);
                    }
                }
            }
            // walk_end is where the walk stopped: the end, unless the regions ran out.
            start = walkEnd > start ? walkEnd : run.End;
        }
        return true;
    }

    /// <summary>The round an area was first seen: when all of it was known last round, the earliest round of what it covers.</summary>
    private int FirstRound(MemoryArea area, IReadOnlyList<TrackedArea>? previous)
    {
        if (previous is null)
        {
            return Round;
        }
        var known = previous.Where(old => old.Registered).Select(old => new PageRange(old.Start, old.End)).ToList();
        if (Subtract(Range(area), known).Any())
        {
            return Round;
        }
        return previous.Where(old => old.Start < area.End && area.Start < old.End).Min(old => old.FirstRound);
    }

    /// <summary>Registered areas that touch end to end, as one range each: one scan for all of them.</summary>
    private static IEnumerable<PageRange> Contiguous(List<MemoryArea> areas)
    {
        for (int i = 0; i < areas.Count;)
        {
            ulong start = areas[i].Start, end = areas[i].End;
            for (i++; i < areas.Count && areas[i].Start == end; i++)
            {
                end = areas[i].End;
            }
            yield return new PageRange(start, end);
        }
    }

    /// <summary>The parts of <paramref name="range"/> that none of <paramref name="sorted"/> (ascending, not overlapping) covers.</summary>
    internal static IEnumerable<PageRange> Subtract(PageRange range, IReadOnlyList<PageRange> sorted)
    {
        ulong start = range.Start;
        int first = FirstEndingAfter(sorted, start);
        for (int i = first; i < sorted.Count && sorted[i].Start < range.End; i++)
        {
            if (sorted[i].Start > start)
            {
                yield return new PageRange(start, sorted[i].Start);
            }
            start = Math.Max(start, sorted[i].End);
            if (start >= range.End)
            {
                yield break;
            }
        }
        if (start < range.End)
        {
            yield return new PageRange(start, range.End);
        }
    }

    private static int FirstEndingAfter(IReadOnlyList<PageRange> sorted, ulong address)
    {
        int low = 0, high = sorted.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (sorted[middle].End <= address)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }
        return low;
    }

    private static PageRange Range(MemoryArea area) => new(area.Start, area.End);

    /// <summary>
    /// The features to ask for, and what the kernel lacks: asynchronous
    /// write-protect with PTE markers for unpopulated pages (without those,
    /// PAGEMAP_SCAN refuses anonymous memory, ENVIRONMENT.md), hugetlbfs and
    /// shmem too where it has them, and the PAGEMAP_SCAN ioctl.
    /// </summary>
    private static (ulong Features, string? Problem) ProbeKernel()
    {
        const ulong Required = Interop.UFFD_FEATURE_WP_ASYNC | Interop.UFFD_FEATURE_WP_UNPOPULATED;
        if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return (0, "write tracking by userfaultfd injects system calls with x86-64 registers only");
        }
        ulong available = UserfaultfdHandle.AvailableFeatures();
        if ((available & Required) != Required)
        {
            return (0, $"the kernel's userfaultfd lacks asynchronous write-protect with PTE markers (features 0x{available:x}): Linux 6.7 or newer is needed");
        }
        using var pagemap = ProcFs.Pagemap.Open(Environment.ProcessId)!;
        try
        {
            pagemap.ScanWritten(0, PageSize.Bytes, new Interop.PageRegion[1], protect: false, out _);
        }
        catch (LinuxException e) when (e.Errno is Errno.ENOTTY or Errno.EINVAL)
        {
            return (0, $"the kernel has no PAGEMAP_SCAN ioctl: {e.Message}");
        }
        return (Required | (available & Interop.UFFD_FEATURE_WP_HUGETLBFS_SHMEM), null);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Tracking writes of {Pid}: userfaultfd made in it in {Milliseconds:0.00} ms")]
    private static partial void LogAttached(ILogger logger, int pid, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot track writes of {Pid} ({Problem}): {Detail}")]
    private static partial void LogUnavailable(ILogger logger, int pid, WriteTrackingProblem problem, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Area 0x{Start:x}-0x{End:x} {Path} of {Pid} cannot be registered ({Error}): it is read whole every round")]
    private static partial void LogNotRegistered(ILogger logger, int pid, ulong start, ulong end, string path, Errno error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Pid} has new memory (exec): tracking it anew")]
    private static partial void LogReplaced(ILogger logger, int pid);

    /// <summary>One tracked process: its pidfd, and its userfaultfd and pagemap unless it cannot be tracked.</summary>
    private sealed class TrackedProcess(int pid, PidfdHandle pidfd, UserfaultfdHandle? userfaultfd, ProcFs.Pagemap? pagemap, UserfaultfdUnavailableException? unavailable)
        : IDisposable
    {
        public int Pid { get; } = pid;

        public PidfdHandle Pidfd { get; } = pidfd;

        public UserfaultfdHandle? Userfaultfd { get; } = userfaultfd;

        public ProcFs.Pagemap? Pagemap { get; } = pagemap;

        public UserfaultfdUnavailableException? Unavailable { get; } = unavailable;

        /// <summary>Its areas as of the last round it was scanned; null before the first.</summary>
        public IReadOnlyList<TrackedArea>? Areas { get; set; }

        public void Dispose()
        {
            Userfaultfd?.Dispose();
            Pagemap?.Dispose();
            Pidfd.Dispose();
        }
    }
}
