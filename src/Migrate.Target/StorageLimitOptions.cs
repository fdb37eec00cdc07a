using System.CommandLine;

namespace Migrate.Target;

/// <summary>What sessions may store and how many may be open: the flags (or their lines in the configuration file), and the engine's options they make.</summary>
internal sealed class StorageLimitOptions
{
    private readonly Option<int> _maxSessionGiB = new("--max-session-gib")
    {
        Description = "Most one session may store, in GiB: its pages (zero pages included), images and rebuilt pages images (default 64)",
    };

    private readonly Option<int> _maxTotalGiB = new("--max-total-gib")
    {
        Description = "Most all sessions together may store, in GiB (default 256)",
    };

    private readonly Option<int> _minFreeDiskMiB = new("--min-free-disk-mib")
    {
        Description = "Free space, in MiB, the work directory's file system keeps: data that would eat into it is refused (default 1024)",
    };

    private readonly Option<int> _maxSessions = new("--max-sessions")
    {
        Description = "Most sessions open at once (default 32)",
    };

    public IEnumerable<Option> All => [_maxSessionGiB, _maxTotalGiB, _minFreeDiskMiB, _maxSessions];

    /// <summary>The limits from the command line, else the configuration file, else the defaults; a value out of range is refused wherever it came from.</summary>
    public StorageLimits Read(ParseResult parse, TargetConfigFile file) => new(
        (long)Get(parse, file, _maxSessionGiB, 64, least: 0) << 30,
        (long)Get(parse, file, _maxTotalGiB, 256, least: 0) << 30,
        (long)Get(parse, file, _minFreeDiskMiB, 1024, least: 0) << 20,
        Get(parse, file, _maxSessions, 32, least: 1));

    private static int Get(ParseResult parse, TargetConfigFile file, Option<int> option, int fallback, int least)
    {
        int value = file.Get(parse, option, fallback);
        return value >= least ? value : throw new TargetConfigException($"{option.Name} must be at least {least}, not {value}");
    }
}

internal sealed record StorageLimits(long MaxSessionBytes, long MaxTotalBytes, long MinFreeDiskBytes, int MaxSessions);
