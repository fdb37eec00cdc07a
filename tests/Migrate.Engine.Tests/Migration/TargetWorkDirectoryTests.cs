using Microsoft.Extensions.Logging;
using Migrate.Engine.Linux;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Tests.Migration;

/// <summary>The agent's work directory at start: private, or refused; what a crash left is cleared.</summary>
public sealed class TargetWorkDirectoryTests : IDisposable
{
    private readonly TempDirectory _parent = new();
    private readonly ListLogger _log = new();

    private string Work => _parent.Combine("work");

    [Fact]
    public void A_missing_work_directory_is_made_0700()
    {
        TargetWorkDirectory.Prepare(Options(), _log);

        Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(Work));
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.GroupExecute)]
    [InlineData(UnixFileMode.OtherWrite)]
    [InlineData(UnixFileMode.OtherRead | UnixFileMode.OtherExecute)]
    public void A_work_directory_others_may_use_is_refused(UnixFileMode loose)
    {
        Directory.CreateDirectory(Work);
        File.SetUnixFileMode(Work, PrivateFiles.DirectoryMode | loose);

        var e = Assert.Throws<WorkDirectoryException>(() => TargetWorkDirectory.Prepare(Options(), _log));

        Assert.Contains("others may use the work directory", e.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 700", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_work_directory_of_another_user_or_behind_a_link_is_refused()
    {
        Directory.CreateDirectory(Work);
        File.SetUnixFileMode(Work, PrivateFiles.DirectoryMode);
        var link = _parent.Combine("link");
        File.CreateSymbolicLink(link, Work);

        Assert.Contains("symbolic link", Assert.Throws<WorkDirectoryException>(() => TargetWorkDirectory.Prepare(Options() with { WorkDirectory = link }, _log)).Message,
            StringComparison.Ordinal);
        Chown(Work, 65534);
        Assert.Contains("belongs to uid 65534", Assert.Throws<WorkDirectoryException>(() => TargetWorkDirectory.Prepare(Options(), _log)).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Session_directories_a_crash_left_are_removed_with_a_line_each_and_kept_images_and_strangers_are_left()
    {
        PrivateFiles.CreateDirectory(Work);
        var leftover = Path.Combine(Work, SessionIds.NewId());
        PrivateFiles.CreateDirectory(Path.Combine(leftover, "images", "final"));
        var kept = Path.Combine(Work, "kept-" + SessionIds.NewId());
        PrivateFiles.CreateDirectory(kept);
        var stranger = Path.Combine(Work, "notes.txt");
        File.WriteAllText(stranger, "mine");

        TargetWorkDirectory.Prepare(Options(), _log);

        Assert.False(Directory.Exists(leftover));
        Assert.True(Directory.Exists(kept));
        Assert.True(File.Exists(stranger));
        Assert.Contains(_log.Lines, line => line.StartsWith($"Removed session {Path.GetFileName(leftover)}'s directory", StringComparison.Ordinal));
        Assert.Contains(_log.Lines, line => line.Contains(kept, StringComparison.Ordinal) && line.Contains("remove it when done", StringComparison.Ordinal));
        Assert.Contains(_log.Lines, line => line.Contains(stranger, StringComparison.Ordinal) && line.Contains("left alone", StringComparison.Ordinal));
    }

    [Fact]
    public void With_keep_images_leftovers_are_listed_not_removed()
    {
        PrivateFiles.CreateDirectory(Work);
        var leftover = Path.Combine(Work, SessionIds.NewId());
        PrivateFiles.CreateDirectory(leftover);

        TargetWorkDirectory.Prepare(Options() with { KeepImages = true }, _log);

        Assert.True(Directory.Exists(leftover));
        Assert.Contains(_log.Lines, line => line.Contains(leftover, StringComparison.Ordinal) && line.Contains("kept (--keep-images)", StringComparison.Ordinal));
    }

    public void Dispose() => _parent.Dispose();

    private TargetOptions Options() => new() { WorkDirectory = Work };

    private static void Chown(string path, int uid)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    /// <summary>Keeps what is logged, as lines.</summary>
    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
