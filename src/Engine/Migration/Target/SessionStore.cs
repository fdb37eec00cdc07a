using Migrate.Engine.Memory;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// What one session holds on disk: its directory, the page store that mirrors
/// the source's pre-copied pages, and the image sets received, all counted
/// against the session's allowance.
/// </summary>
internal sealed class SessionStore(string directory, TargetOptions options) : IDisposable
{
    private readonly HashSet<string> _sets = new(StringComparer.Ordinal);
    private PageStore? _pages;
    private PrecopyImageChain? _chain;
    private long _imageBytes;

    public string Directory { get; } = directory;

    /// <summary>Part of a page stream arrived: the store no longer mirrors the source's view.</summary>
    public bool PagesIncomplete { get; private set; }

    public long RemainingBytes => options.MaxSessionBytes - _imageBytes - (_pages?.BytesStored ?? 0) - (_chain?.BytesStored ?? 0);

    public PageStore Pages => _pages ??= new PageStore(Path.Combine(Directory, "pages.store"), RemainingBytes);

    /// <summary>The write-protect pre-copy's rounds, as CRIU image sets.</summary>
    public PrecopyImageChain Chain => _chain ??= new PrecopyImageChain(Path.Combine(Directory, "images"), () => RemainingBytes);

    /// <summary>The chain, if write-protect pre-copy made one.</summary>
    public PrecopyImageChain? ExistingChain => _chain;

    /// <summary>The pages to rebuild from, or why there are none.</summary>
    public PageStore CompletePages => _pages is { } pages && !PagesIncomplete
        ? pages
        : throw new InvalidSessionStateException("the pages to rebuild from are missing or incomplete");

    public void MarkPagesIncomplete() => PagesIncomplete = true;

    public bool HasSet(string set) => _sets.Contains(set);

    public string SetDirectory(string set) => Path.Combine(Directory, "images", set);

    /// <summary>A set received whole; <paramref name="bytes"/> count against the allowance (a chain's rounds count there already).</summary>
    public void AddSet(string set, long bytes)
    {
        _imageBytes += bytes;
        _sets.Add(set);
    }

    /// <summary>Removes everything the session stored, unless the agent keeps images (--keep-images).</summary>
    public void Remove()
    {
        _pages?.Dispose();
        if (options.KeepImages)
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

    public void Dispose() => _pages?.Dispose();
}
