using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>What a target agent's CRIU restore logged, read from a session it kept (--keep-images).</summary>
internal static partial class CriuRestoreLog
{
    /// <summary>
    /// The pages the restore of the reported migration loaded itself and those
    /// it left to the lazy-pages daemon, as CRIU logs them for each task
    /// (criu/mem.c, restore_priv_vma_content).
    /// </summary>
    public static (long Loaded, long Lazy) Pages(TargetAgent target, JsonElement report)
    {
        var log = File.ReadAllText(Path.Combine(target.WorkDirectory, report.GetProperty("sessionId").GetString()!, "criu-restore.log"));
        var counts = Count().Matches(log);
        Assert.True(counts.Count > 0, "CRIU's restore log has no nr_restored_pages or nr_lazy line");
        return (Sum(counts, "nr_restored_pages"), Sum(counts, "nr_lazy"));
    }

    private static long Sum(MatchCollection counts, string name) => counts
        .Where(count => count.Groups["name"].Value == name)
        .Sum(count => long.Parse(count.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"(?<name>nr_restored_pages|nr_lazy):\s+(?<value>\d+)")]
    private static partial Regex Count();
}
