using System.CommandLine;

namespace Migrate.Target;

/// <summary>What sessions may store and how many may be open: the flags, and the engine's options they make.</summary>
internal sealed class StorageLimitOptions
{
    private readonly Option<int> _maxSessionGiB = new("--max-session-gib")
    {
        Description = "Most one session may store, in GiB: its pages (zero pages included), images and rebuilt pages images",
        DefaultValueFactory = _ => 64,
    };

    private readonly Option<int> _maxTotalGiB = new("--max-total-gib")
    {
        Description = "Most all sessions together may store, in GiB",
        DefaultValueFactory = _ => 256,
    };

    private readonly Option<int> _minFreeDiskMiB = new("--min-free-disk-mib")
    {
        Description = "Free space, in MiB, the work directory's file system keeps: data that would eat into it is refused",
        DefaultValueFactory = _ => 1024,
    };

    private readonly Option<int> _maxSessions = new("--max-sessions")
    {
        Description = "Most sessions open at once",
        DefaultValueFactory = _ => 32,
    };

    public StorageLimitOptions()
    {
        foreach (var option in new[] { _maxSessionGiB, _maxTotalGiB, _minFreeDiskMiB })
        {
            option.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<int>() < 0)
                {
                    result.AddError($"{option.Name} cannot be negative");
                }
            });
        }
        _maxSessions.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--max-sessions must be at least 1");
            }
        });
    }

    public IEnumerable<Option> All => [_maxSessionGiB, _maxTotalGiB, _minFreeDiskMiB, _maxSessions];

    public StorageLimits Read(ParseResult parse) => new(
        (long)parse.GetValue(_maxSessionGiB) << 30,
        (long)parse.GetValue(_maxTotalGiB) << 30,
        (long)parse.GetValue(_minFreeDiskMiB) << 20,
        parse.GetValue(_maxSessions));
}

internal sealed record StorageLimits(long MaxSessionBytes, long MaxTotalBytes, long MinFreeDiskBytes, int MaxSessions);
