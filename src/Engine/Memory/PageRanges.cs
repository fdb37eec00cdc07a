using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// A set of page addresses as sorted, disjoint runs. Pages are added mostly in
/// ascending order (a round scans memory in address order), which costs O(1);
/// anything else costs a binary search and a merge.
/// </summary>
public sealed class PageRanges
{
    // Half-open [Start, End) byte ranges, page aligned, sorted, never touching.
    private readonly List<(ulong Start, ulong End)> _runs = [];

    public long Pages => _runs.Sum(run => (long)((run.End - run.Start) >> PageSize.Shift));

    public IReadOnlyList<(ulong Start, ulong End)> Runs => _runs;

    public void Add(ulong address, long pages = 1)
    {
        ulong start = address;
        ulong end = address + ((ulong)pages << PageSize.Shift);
        if (_runs.Count == 0 || _runs[^1].End < start)
        {
            _runs.Add((start, end));
            return;
        }
        if (_runs[^1].End == start)
        {
            _runs[^1] = (_runs[^1].Start, end);
            return;
        }
        // The first run that ends at or after start may touch the new one.
        int first = LowerBoundByEnd(start);
        int last = first;
        while (last < _runs.Count && _runs[last].Start <= end)
        {
            start = Math.Min(start, _runs[last].Start);
            end = Math.Max(end, _runs[last].End);
            last++;
        }
        _runs.RemoveRange(first, last - first);
        _runs.Insert(first, (start, end));
    }

    /// <summary>Every page of [<paramref name="address"/>, +<paramref name="pages"/>) is in the set.</summary>
    public bool Contains(ulong address, long pages = 1)
    {
        ulong end = address + ((ulong)pages << PageSize.Shift);
        int i = LowerBoundByEnd(address + 1);
        return i < _runs.Count && _runs[i].Start <= address && _runs[i].End >= end;
    }

    /// <summary>The parts of [<paramref name="address"/>, +<paramref name="pages"/>) that are not in the set, in address order.</summary>
    public IEnumerable<PageRange> Gaps(ulong address, long pages)
    {
        ulong start = address;
        ulong end = address + ((ulong)pages << PageSize.Shift);
        for (int i = LowerBoundByEnd(start + 1); i < _runs.Count && _runs[i].Start < end && start < end; i++)
        {
            if (_runs[i].Start > start)
            {
                yield return new PageRange(start, _runs[i].Start);
            }
            start = Math.Max(start, _runs[i].End);
        }
        if (start < end)
        {
            yield return new PageRange(start, end);
        }
    }

    private int LowerBoundByEnd(ulong value)
    {
        int low = 0, high = _runs.Count;
        while (low < high)
        {
            int middle = (low + high) >>> 1;
            if (_runs[middle].End < value)
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
}
