using System.CommandLine;
using Migrate.Engine.Compat;
using Migrate.Engine.Migration.Source;

namespace Migrate.Source;

/// <summary>The options that say how to check a process before it moves: migrate, check and evacuate share them.</summary>
internal sealed class VerificationOptionSet
{
    private readonly Option<bool> _allowUprobes = new("--allow-uprobes")
    {
        Description = "Migrate a process that uprobes have hit (it has a [uprobes] area); see --uprobes",
    };
    private readonly Option<string> _uprobes = new Option<string>("--uprobes")
    {
        Description = "With --allow-uprobes: require (each probe site must have a live probe on the target) or strip (restore the file's bytes; the process runs unprobed there)",
        DefaultValueFactory = _ => "require",
    }.AcceptOnlyFromAmong("require", "strip");
    private readonly Option<string> _ghostLimit = new("--ghost-limit")
    {
        Description = "The most a deleted file the process holds may take on disk (bytes, or with K, M or G): CRIU copies its content into the images (criu --ghost-limit)",
        DefaultValueFactory = _ => "1M",
    };
    private readonly Option<string[]> _ignoreCheck = new("--ignore-check")
    {
        Description = "Let a failed pre-flight check only warn (repeatable); the operator takes the risk it names",
        DefaultValueFactory = _ => [],
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_allowUprobes);
        command.Options.Add(_uprobes);
        command.Options.Add(_ghostLimit);
        command.Options.Add(_ignoreCheck);
    }

    /// <summary>The options with these set; throws <see cref="UsageException"/> on values out of range.</summary>
    public MigrationOptions Apply(ParseResult parse, MigrationOptions options) => options with
    {
        Uprobes = new UprobePolicy(parse.GetValue(_allowUprobes), parse.GetValue(_uprobes) == "strip" ? UprobeMode.Strip : UprobeMode.Require),
        GhostLimit = Units.TryParseBytes(parse.GetValue(_ghostLimit)!, out long ghostLimit) && ghostLimit is > 0 and <= uint.MaxValue
            ? (uint)ghostLimit
            : throw new UsageException("--ghost-limit must be a size from 1 byte to 4095M, such as 8M"),
        IgnoredChecks = parse.GetValue(_ignoreCheck)!.ToHashSet(StringComparer.Ordinal),
    };
}

/// <summary>The options that say how to migrate: migrate and evacuate share them.</summary>
internal sealed class MigrationOptionSet
{
    private readonly VerificationOptionSet _verification = new();
    private readonly Option<bool> _shellJob = new("--shell-job") { Description = "The process belongs to a terminal session (criu --shell-job)" };
    private readonly Option<bool> _tcpEstablished = new("--tcp-established") { Description = "Migrate established TCP connections (criu --tcp-established)" };
    private readonly Option<bool> _tcpClose = new("--tcp-close")
    {
        Description = "Move connected TCP sockets shut down instead: their peers see the connections end (criu --tcp-close)",
    };
    private readonly Option<bool> _skipInFlight = new("--skip-in-flight")
    {
        Description = "Leave behind connections a listening socket has not accepted yet; their clients connect again (criu --skip-in-flight)",
    };
    private readonly Option<bool> _fileLocks = new("--file-locks") { Description = "Migrate the file locks the process holds (criu --file-locks)" };
    private readonly Option<bool> _linkRemap = new("--link-remap")
    {
        Description = "Files the process holds open but that were unlinked are linked back under a temporary name instead of copied (criu --link-remap)",
    };
    private readonly Option<bool> _extUnixSk = new("--ext-unix-sk")
    {
        Description = "Migrate unix sockets connected to a peer outside the process tree, such as /dev/log; the peer's path must exist on the target (criu --ext-unix-sk)",
    };
    private readonly Option<bool> _keepImages = new("--keep-images") { Description = "Keep the source's image files after the migration" };
    private readonly Option<string> _workDir = new("--work-dir")
    {
        Description = "Directory for the source's images and CRIU logs",
        DefaultValueFactory = _ => "/var/tmp/migrate",
    };
    private readonly Option<string> _precopy = new Option<string>("--precopy")
    {
        Description = "How to find memory that changed during pre-copy: auto (soft-dirty where the kernel has it, else write-protect where it has that, else content-hash), write-protect, soft-dirty, content-hash or off",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "write-protect", "soft-dirty", "content-hash", "off");
    private readonly Option<int> _maxRounds = new("--max-rounds")
    {
        Description = "Most pre-copy rounds before the final freeze",
        DefaultValueFactory = _ => 8,
    };
    private readonly Option<int> _downtimeTarget = new("--downtime-target")
    {
        Description = "Stop pre-copy once the final transfer is predicted to take at most this many milliseconds",
        DefaultValueFactory = _ => 300,
    };
    private readonly Option<bool> _requireConvergence = new("--require-convergence")
    {
        Description = "If pre-copy does not converge, stop before the freeze (exit 3) instead of migrating anyway",
    };
    private readonly Option<string> _restore = new Option<string>("--restore")
    {
        Description = "lazy: resume on the target before all memory is loaded; eager: load it all first",
        DefaultValueFactory = _ => "lazy",
    }.AcceptOnlyFromAmong("lazy", "eager");

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _shellJob, _tcpEstablished, _tcpClose, _skipInFlight, _fileLocks, _linkRemap, _extUnixSk, _keepImages, _workDir, _precopy, _maxRounds, _downtimeTarget, _requireConvergence, _restore })
        {
            command.Options.Add(option);
        }
        _verification.AddTo(command);
    }

    /// <summary>The options for migrating <paramref name="pid"/>; throws <see cref="UsageException"/> on values out of range.</summary>
    public MigrationOptions Build(ParseResult parse, int pid)
    {
        int maxRounds = parse.GetValue(_maxRounds);
        int downtimeTarget = parse.GetValue(_downtimeTarget);
        if (maxRounds < 1)
        {
            throw new UsageException("--max-rounds must be at least 1 (use --precopy off for no pre-copy)");
        }
        if (downtimeTarget < 1)
        {
            throw new UsageException("--downtime-target must be a positive number of milliseconds");
        }
        return _verification.Apply(parse, new MigrationOptions
        {
            Pid = pid,
            WorkDirectory = parse.GetValue(_workDir)!,
            ShellJob = parse.GetValue(_shellJob),
            TcpEstablished = parse.GetValue(_tcpEstablished),
            TcpClose = parse.GetValue(_tcpClose),
            SkipInFlight = parse.GetValue(_skipInFlight),
            FileLocks = parse.GetValue(_fileLocks),
            LinkRemap = parse.GetValue(_linkRemap),
            ExternalUnixSockets = parse.GetValue(_extUnixSk),
            KeepImages = parse.GetValue(_keepImages),
            Precopy = parse.GetValue(_precopy) switch
            {
                "soft-dirty" => PrecopyChoice.SoftDirty,
                "write-protect" => PrecopyChoice.WriteProtect,
                "content-hash" => PrecopyChoice.ContentHash,
                "off" => PrecopyChoice.Off,
                _ => PrecopyChoice.Auto,
            },
            MaxRounds = maxRounds,
            DowntimeTarget = TimeSpan.FromMilliseconds(downtimeTarget),
            RequireConvergence = parse.GetValue(_requireConvergence),
            LazyRestore = parse.GetValue(_restore) == "lazy",
        });
    }
}
