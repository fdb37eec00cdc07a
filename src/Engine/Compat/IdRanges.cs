using System.Globalization;

namespace Migrate.Engine.Compat;

/// <summary>A set of user or group IDs as sorted, disjoint, inclusive ranges: "1000-1999,33".</summary>
public sealed class IdRanges
{
    private readonly List<(uint First, uint Last)> _ranges;

    private IdRanges(List<(uint First, uint Last)> ranges) => _ranges = ranges;

    /// <summary>IDs and ranges separated by commas: "33", "1000-1999", "33,1000-1999".</summary>
    public static IdRanges Parse(string list)
    {
        var ranges = new List<(uint First, uint Last)>();
        foreach (var item in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('-', 2, StringSplitOptions.TrimEntries);
            uint first = ParseId(parts[0], item);
            uint last = parts.Length == 2 ? ParseId(parts[1], item) : first;
            if (last < first)
            {
                throw new FormatException($"'{item}' ends below where it starts");
            }
            ranges.Add((first, last));
        }
        if (ranges.Count == 0)
        {
            throw new FormatException("no IDs given");
        }
        ranges.Sort();
        var merged = new List<(uint First, uint Last)> { ranges[0] };
        foreach (var (first, last) in ranges.Skip(1))
        {
            if (merged[^1].Last != uint.MaxValue && first <= merged[^1].Last + 1)
            {
                merged[^1] = (merged[^1].First, Math.Max(merged[^1].Last, last));
            }
            else if (first > merged[^1].Last)
            {
                merged.Add((first, last));
            }
        }
        return new IdRanges(merged);
    }

    /// <summary>Every ID of [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) is in the set.</summary>
    public bool Contains(uint first, ulong count = 1)
    {
        if (count == 0)
        {
            return true;
        }
        ulong last = first + count - 1;
        return last <= uint.MaxValue && _ranges.Any(range => range.First <= first && last <= range.Last);
    }

    public override string ToString() =>
        string.Join(",", _ranges.Select(range => range.First == range.Last
            ? range.First.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{range.First}-{range.Last}")));

    private static uint ParseId(string text, string item) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint id)
            ? id
            : throw new FormatException($"'{item}' is not an ID or a range of IDs (such as 1000-1999)");
}
