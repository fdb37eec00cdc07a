using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// What one session holds on disk: its directory (0700, every file in it
/// 0600), the page store that mirrors the source's pre-copied pages, and the
/// image sets received, all charged to one allowance as they arrive, itself
/// drawn from the agent's.
/// </summary>
internal sealed class SessionStore : IDisposable
{
    /// <summary>A session directory renamed so, because its images are kept for the operator, is never removed at start.</summary>
    public const string KeptPrefix = "kept-";

    private readonly HashSet<string> _sets = new(StringComparer.Ordinal);
    private readonly TargetOptions _options;
    private PageStore? _pages;
    private PrecopyImageChain? _chain;

    public SessionStore(string directory, TargetOptions options, StorageAllowance agent)
    {
        Directory = directory;
        _options = options;
        Allowance = new StorageAllowance("the session", options.MaxSessionBytes, parent: agent);
        PrivateFiles.CreateDirectory(directory);
    }

    public string Directory { get; private set; }

    /// <summary>Everything the session stores is charged here.</summary>
    public StorageAllowance Allowance { get; }

    /// <summary>Part of a page stream arrived: the store no longer mirrors the source's view.</summary>
    public bool PagesIncomplete { get; private set; }

    public PageStore Pages => _pages ??= new PageStore(Path.Combine(Directory, "pages.store"), Allowance);

    /// <summary>The write-protect pre-copy's rounds, as CRIU image sets.</summary>
    public PrecopyImageChain Chain => _chain ??= new PrecopyImageChain(Path.Combine(Directory, "images"), Allowance);

    /// <summary>The chain, if write-protect pre-copy made one.</summary>
    public PrecopyImageChain? ExistingChain => _chain;

    /// <summary>The pages to rebuild from, or why there are none.</summary>
    public PageStore CompletePages => _pages is { } pages && !PagesIncomplete
        ? pages
        : throw new InvalidSessionStateException("the pages to rebuild from are missing or incomplete");

    public void MarkPagesIncomplete() => PagesIncomplete = true;

    public bool HasSet(string set) => _sets.Contains(set);

    public string SetDirectory(string set) => Path.Combine(Directory, "images", set);

    /// <summary>A set received whole; its bytes were charged as they arrived.</summary>
    public void AddSet(string set) => _sets.Add(set);

    /// <summary>Removes everything the session stored, unless the agent keeps images (--keep-images); its bytes no longer count.</summary>
    public void Remove()
    {
        _pages?.Dispose();
        Allowance.RefundAll();
        if (_options.KeepImages)
        {
            return;
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>
    /// Keeps the images for the operator, under a name the agent's start-up
    /// clean-up leaves alone (<see cref="KeptPrefix"/>); returns where they are.
    /// </summary>
    public string Keep()
    {
        _pages?.Dispose();
        Allowance.RefundAll();
        var kept = Path.Combine(Path.GetDirectoryName(Directory)!, KeptPrefix + Path.GetFileName(Directory));
        try
        {
            System.IO.Directory.Move(Directory, kept);
            Directory = kept;
        }
        catch (IOException)
        {
            // Left where it is; the log line names that place.
        }
        return Directory;
    }

    public void Dispose()
    {
        _pages?.Dispose();
        Allowance.RefundAll();
    }
}
