using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Compat;
using Migrate.Engine.Credentials;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;
using Migrate.Engine.Tests.Images;
using Wire = Migrate.Protocol;
using Migrate.Engine.Tests.Migration.Fakes;

namespace Migrate.Engine.Tests.Migration;

/// <summary>
/// The target's session state machine with fakes of CRIU and this host: the
/// rows of the README's crash table that are the target's to handle, and the
/// janitor, on a fake clock.
/// </summary>
public sealed class TargetSessionTests : IAsyncLifetime, IAsyncDisposable
{
    private static readonly RestoreOrder Final = new("final", new RestoreOptions(false, false, false, false, LazyPages: true, false), [], []);

    private readonly TempDirectory _work = new();
    private readonly FakeTimeProvider _time = new();
    private readonly Journal _journal = new();
    private readonly FakeCriu _criu;
    private readonly FakeTargetHost _host;
    private readonly string _operatorSecret = SessionSecrets.New();
    private readonly Dictionary<string, string> _secrets = [];
    private TargetSessions _sessions;

    public TargetSessionTests()
    {
        _criu = new FakeCriu(_journal, _time);
        _host = new FakeTargetHost(_journal);
        _sessions = Sessions(options => options);
    }

    [Fact]
    public async Task A_restored_copy_stays_stopped_until_the_commit_and_a_repeated_commit_gets_the_first_answer()
    {
        var session = await RestoredSessionAsync();
        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
        Assert.Equal('T', _host.State(FakeTargetHost.RestoredPid));

        var first = await session.CommitAsync(CancellationToken.None);
        var again = await session.CommitAsync(CancellationToken.None);

        Assert.Same(first, again);
        Assert.Equal('S', _host.State(FakeTargetHost.RestoredPid));
        Assert.Equal(1, _journal.Entries.Count(entry => entry == "tasks resumed"));
    }

    [Fact]
    public async Task The_commit_resumes_the_tree_but_a_task_that_was_stopped_on_the_source_stays_stopped()
    {
        _host.TreePids = [FakeTargetHost.RestoredPid, 101];
        _host.StoppedOnSource = new HashSet<int> { 101 };
        var session = await RestoredSessionAsync();

        await session.CommitAsync(CancellationToken.None);

        Assert.Equal('S', _host.State(FakeTargetHost.RestoredPid));
        Assert.Equal('T', _host.State(101));
    }

    [Fact]
    public async Task A_committed_session_cannot_be_aborted()
    {
        var session = await RestoredSessionAsync();
        await session.CommitAsync(CancellationToken.None);

        await Assert.ThrowsAsync<InvalidSessionStateException>(() => session.AbortAsync("operator", CancellationToken.None));
        Assert.Equal('S', _host.State(FakeTargetHost.RestoredPid));
    }

    [Fact]
    public async Task An_abort_kills_the_stopped_copy_and_removes_the_images()
    {
        var session = await RestoredSessionAsync();

        int killed = await session.AbortAsync("source rolled back", CancellationToken.None);

        Assert.Equal(1, killed);
        Assert.Null(_host.State(FakeTargetHost.RestoredPid));
        Assert.Equal(TargetSessionState.Aborted, session.State);
        Assert.False(Directory.Exists(session.WorkDirectory));
        Assert.Contains("lazy-pages daemon stopped", _journal.Entries);
    }

    [Fact]
    public async Task A_commit_before_any_restore_is_refused()
    {
        var session = Open();

        await Assert.ThrowsAsync<InvalidSessionStateException>(() => session.CommitAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_copy_that_is_not_stopped_after_the_restore_is_killed_and_never_waits_for_a_commit()
    {
        _host.RestoredState = 'S';
        var session = await ReceivedSessionAsync();
        var restore = session.RestoreAsync(Final, CancellationToken.None);
        while (!restore.IsCompleted)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(1);
        }

        var e = await Assert.ThrowsAsync<InvalidSessionStateException>(() => restore);
        Assert.Contains("not stopped", e.Message, StringComparison.Ordinal);
        Assert.Contains("tasks killed", _journal.Entries);
        Assert.Equal(TargetSessionState.Open, session.State);
    }

    [Fact]
    public async Task A_lazy_pages_daemon_that_died_before_the_commit_makes_the_target_restore_again_with_all_memory()
    {
        _criu.LazyPagesFail = true;
        var session = await RestoredSessionAsync();

        var commit = await session.CommitAsync(CancellationToken.None);

        Assert.NotNull(commit.RestoredAgain);
        var order = _journal.Entries.ToList();
        Assert.True(order.IndexOf("tasks killed") < order.IndexOf("criu restore eagerly"), _journal.ToString());
        Assert.True(order.IndexOf("children reaped") < order.IndexOf("criu restore eagerly"), _journal.ToString());
        var pages = await session.AwaitPagesAsync(CancellationToken.None);
        Assert.True(pages.Complete);
    }

    [Fact]
    public async Task The_janitor_drops_a_session_that_restored_nothing_and_went_quiet()
    {
        var session = Open();

        _time.Advance(TimeSpan.FromMinutes(9));
        await _sessions.ExpireAsync(CancellationToken.None);
        Assert.Equal(TargetSessionState.Open, session.State);

        _time.Advance(TimeSpan.FromMinutes(2));
        await _sessions.ExpireAsync(CancellationToken.None);
        Assert.Equal(TargetSessionState.Aborted, session.State);
    }

    [Fact]
    public async Task The_janitor_never_drops_a_stopped_copy_that_waits_for_its_commit()
    {
        var session = await RestoredSessionAsync();

        _time.Advance(TimeSpan.FromHours(5));
        await _sessions.ExpireAsync(CancellationToken.None);

        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
        Assert.Equal('T', _host.State(FakeTargetHost.RestoredPid));
        var commit = await _sessions.Get(session.Id, _secrets[session.Id]).CommitAsync(CancellationToken.None);
        Assert.Equal(FakeTargetHost.RestoredPid, commit.RootPid);
    }

    [Fact]
    public async Task The_janitor_leaves_a_session_alone_while_a_call_is_in_progress_however_long()
    {
        var session = Open();
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource<SiftCounts>();
        var receiving = session.ReceivePagesAsync(new PageRound(1), async (store, _) =>
        {
            started.SetResult();
            return await release.Task;
        }, CancellationToken.None);
        await started.Task;

        _time.Advance(TimeSpan.FromHours(1));
        await _sessions.ExpireAsync(CancellationToken.None);

        Assert.Equal(TargetSessionState.Open, session.State);
        release.SetResult(default);
        await receiving;
    }

    [Fact]
    public async Task A_restore_that_outlasts_the_idle_limit_does_not_make_the_session_idle()
    {
        var session = await ReceivedSessionAsync();
        _criu.RestoreTime = TimeSpan.FromMinutes(15);

        await session.RestoreAsync(Final, CancellationToken.None);
        await _sessions.ExpireAsync(CancellationToken.None);

        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
    }

    [Fact]
    public void An_unknown_or_malformed_session_id_is_not_found_and_not_echoed()
    {
        var unknown = Assert.Throws<SessionNotFoundException>(() => _sessions.Get(SessionIds.NewId(), SessionSecrets.New()));
        var malformed = Assert.Throws<SessionNotFoundException>(() => _sessions.Get("../../etc", SessionSecrets.New()));

        Assert.Contains("never opened, or expired", unknown.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("etc", malformed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_janitor_leaves_a_restore_alone_while_criu_runs_past_the_idle_limit()
    {
        var session = await ReceivedSessionAsync();
        var release = new TaskCompletionSource();
        var restoring = new TaskCompletionSource();
        _criu.Restoring = restoring.SetResult;
        _criu.RestoreReleased = release.Task;
        var restore = session.RestoreAsync(Final, CancellationToken.None);
        await restoring.Task;

        _time.Advance(TimeSpan.FromMinutes(30));
        await _sessions.ExpireAsync(CancellationToken.None);

        Assert.Equal(TargetSessionState.Restoring, session.State);
        release.SetResult();
        await restore;
        await _sessions.ExpireAsync(CancellationToken.None);
        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
    }

    [Fact]
    public async Task A_caller_that_disconnects_during_the_restore_cancels_nothing_and_an_abort_kills_what_criu_made()
    {
        var session = await ReceivedSessionAsync();
        var release = new TaskCompletionSource();
        var restoring = new TaskCompletionSource();
        _criu.Restoring = restoring.SetResult;
        _criu.RestoreReleased = release.Task;
        using var caller = new CancellationTokenSource();
        var restore = session.RestoreAsync(Final, caller.Token);
        await restoring.Task;

        await caller.CancelAsync();
        release.SetResult();
        await restore;

        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
        Assert.Equal('T', _host.State(FakeTargetHost.RestoredPid));
        Assert.Equal(1, await session.AbortAsync("source gone", CancellationToken.None));
        Assert.Null(_host.State(FakeTargetHost.RestoredPid));
    }

    [Fact]
    public async Task Tasks_a_criu_killed_half_way_had_created_are_killed_and_the_session_can_restore_again()
    {
        var session = await ReceivedSessionAsync();
        _criu.Restoring = () => _host.CreatedByCriu(FakeTargetHost.RestoredPid);
        _criu.RestoreFailure = new CriuException("restore", "criu swrk exited with 137", [], null);

        await Assert.ThrowsAsync<CriuException>(() => session.RestoreAsync(Final, CancellationToken.None));

        Assert.Null(_host.State(FakeTargetHost.RestoredPid));
        Assert.Contains("tasks killed", _journal.Entries);
        Assert.Contains("lazy-pages daemon stopped", _journal.Entries);
        Assert.Equal(TargetSessionState.Open, session.State);
        _criu.Restoring = null;
        await session.RestoreAsync(Final, CancellationToken.None);
        Assert.Equal(TargetSessionState.RestoredStopped, session.State);
    }

    [Fact]
    public async Task Images_the_restore_policy_refuses_never_reach_criu()
    {
        _sessions = Sessions(options => options with { Policy = new RestorePolicy { DenyRoot = true } });
        var session = await ReceivedSessionAsync();

        var e = await Assert.ThrowsAsync<CheckFailedException>(() => session.RestoreAsync(Final, CancellationToken.None));

        Assert.Equal("policy", e.Check.Name);
        Assert.Contains("would run as root (uid 0), which is not allowed", e.Check.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(_journal.Entries, entry => entry.StartsWith("criu restore", StringComparison.Ordinal));
        Assert.Equal(TargetSessionState.Open, session.State);
    }

    [Fact]
    public async Task The_policy_check_is_reported_with_the_restore()
    {
        var session = await ReceivedSessionAsync();

        var result = await session.RestoreAsync(Final, CancellationToken.None);

        var policy = Assert.Single(result.Checks, check => check.Name == "policy");
        Assert.Equal(CheckVerdict.Pass, policy.Verdict);
    }

    [Fact]
    public async Task No_more_sessions_open_than_the_target_allows()
    {
        _sessions = Sessions(options => options with { MaxSessions = 2 });
        var first = Open("a");
        Open("b");

        var e = Assert.Throws<TransferRejectedException>(() => Open("c"));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
        await first.AbortAsync("done", CancellationToken.None);
        Open("c");
    }

    [Fact]
    public async Task Page_and_image_streams_draw_on_one_allowance_so_interleaving_them_cannot_double_it()
    {
        _sessions = Sessions(options => options with { MaxSessionBytes = 8 * Page });
        var session = Open();

        await session.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 4, zeroPages: 1), CancellationToken.None);
        var images = session.ReceiveImagesAsync("pre-1", "", (directory, limits, _) =>
        {
            limits.Allowance.Charge(3 * Page);
            limits.Allowance.Charge(1);
            return Task.FromResult(new TransferStats(1, 3 * Page + 1, 0));
        }, CancellationToken.None);

        var e = await Assert.ThrowsAsync<StorageLimitException>(() => images);
        Assert.Contains("the session would store more than its limit of", e.Message, StringComparison.Ordinal);
        var pages = session.ReceivePagesAsync(new PageRound(2), (sink, _) => Stored(sink, pages: 4, zeroPages: 0, firstPage: 100), CancellationToken.None);
        await Assert.ThrowsAsync<StorageLimitException>(() => pages);
    }

    [Fact]
    public async Task Zero_pages_cost_the_allowance_like_any_page_the_target_holds()
    {
        _sessions = Sessions(options => options with { MaxSessionBytes = 1000 * Page });
        var session = Open();

        var flood = session.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 0, zeroPages: 1001), CancellationToken.None);

        await Assert.ThrowsAsync<StorageLimitException>(() => flood);
    }

    [Fact]
    public async Task All_sessions_together_and_the_free_disk_bound_what_arrives()
    {
        _sessions = Sessions(options => options with { MaxTotalBytes = 6 * Page, MinFreeDiskBytes = 0 });
        var first = Open("a");
        var second = Open("b");
        await first.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 4, zeroPages: 0), CancellationToken.None);

        var e = await Assert.ThrowsAsync<StorageLimitException>(() =>
            second.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 4, zeroPages: 0), CancellationToken.None));
        Assert.Contains("the target's sessions together would store more than", e.Message, StringComparison.Ordinal);

        // An aborted session's bytes count no more.
        await first.AbortAsync("done", CancellationToken.None);
        await second.ReceivePagesAsync(new PageRound(2), (sink, _) => Stored(sink, pages: 4, zeroPages: 0), CancellationToken.None);

        _sessions = Sessions(options => options with { MinFreeDiskBytes = 1L << 30 });
        _host.FreeDisk = (1L << 30) + 2 * Page;
        var third = Open("c");
        var disk = await Assert.ThrowsAsync<StorageLimitException>(() =>
            third.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 4, zeroPages: 0), CancellationToken.None));
        Assert.Contains("the target's disk has 8 KiB free beyond the 1 GiB it keeps, too little to write 16 KiB", disk.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rebuilt_pages_images_count_against_the_session_and_a_refused_rebuild_leaves_nothing()
    {
        _sessions = Sessions(options => options with { MaxSessionBytes = 8 * Page });
        var session = Open();
        await session.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 5, zeroPages: 0), CancellationToken.None);
        await ReceiveFinalAsync(session, [new PagemapEntry { Vaddr = 0x1000, NrPages = 5, CompatNrPages = 5, Flags = PagemapRun.Present }]);

        var e = await Assert.ThrowsAsync<TransferRejectedException>(() => session.RestoreAsync(Rebuilding, CancellationToken.None));

        Assert.Equal(TransferRejection.TooLarge, e.Reason);
        Assert.Contains("cannot be rebuilt", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(session.WorkDirectory, "images", "final", "pages-1.img")));
        Assert.DoesNotContain(_journal.Entries, entry => entry.StartsWith("criu restore", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0x5000UL, 2UL, 0x1000UL, 1UL, "starts below the end of the run before it")]
    [InlineData(0x1000UL, 4UL, 0x3000UL, 1UL, "starts below the end of the run before it")]
    [InlineData(0x1000UL, 0UL, 0x3000UL, 1UL, "is not pages of user memory")]
    [InlineData(0x1001UL, 1UL, 0x3000UL, 1UL, "is not pages of user memory")]
    [InlineData(0x1000UL, 1UL, 0x1FFFFFFFFFFF000UL, 2UL, "is not pages of user memory")]
    public async Task A_pagemap_out_of_order_overlapping_or_outside_user_memory_is_refused_before_any_rebuild(
        ulong firstAddress, ulong firstPages, ulong secondAddress, ulong secondPages, string problem)
    {
        var session = Open();
        await session.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 8, zeroPages: 0), CancellationToken.None);
        await ReceiveFinalAsync(session,
        [
            new PagemapEntry { Vaddr = firstAddress, NrPages = firstPages, CompatNrPages = (uint)firstPages, Flags = PagemapRun.Present },
            new PagemapEntry { Vaddr = secondAddress, NrPages = secondPages, CompatNrPages = (uint)secondPages, Flags = PagemapRun.Present },
        ]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => session.RestoreAsync(Rebuilding, CancellationToken.None));

        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(session.WorkDirectory, "images", "final", "pages-1.img")));
    }

    [Fact]
    public async Task Everything_a_session_stores_is_private_to_the_agent_s_user_whatever_the_umask()
    {
        var session = Open();
        await session.ReceivePagesAsync(new PageRound(1), (sink, _) => Stored(sink, pages: 5, zeroPages: 0), CancellationToken.None);
        await session.ReceivePagesAsync(new PageRound(1, ImageChain: true), (sink, _) => Stored(sink, pages: 2, zeroPages: 1), CancellationToken.None);
        using var recorded = new TempDirectory();
        RecordedImages.CopyTo(RecordedImages.Tree, recorded.Path);
        File.WriteAllBytes(Path.Combine(recorded.Path, PagemapImage.FileName(RecordedRoot)), ImageWriter.Write(ImageMagic.Pagemap,
            [new PagemapHead { PagesId = 1 }, new PagemapEntry { Vaddr = 0x1000, NrPages = 5, CompatNrPages = 5, Flags = PagemapRun.Present }]));
        await session.ReceiveImagesAsync("final", "", (directory, limits, token) =>
            ImageSetReceiver.ReceiveAsync(Upload(recorded.Path), directory, limits, token), CancellationToken.None);
        await session.RestoreAsync(Rebuilding, CancellationToken.None);

        var entries = Directory.GetFileSystemEntries(session.WorkDirectory, "*", SearchOption.AllDirectories)
            .Where(path => new FileInfo(path).LinkTarget is null).ToList();
        Assert.Contains(entries, path => path.EndsWith("pages.store", StringComparison.Ordinal));
        Assert.Contains(entries, path => path.EndsWith(Path.Combine("pre-1", "pages-1.img"), StringComparison.Ordinal));
        Assert.Contains(entries, path => path.EndsWith(Path.Combine("final", "pages-1.img"), StringComparison.Ordinal));
        Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(session.WorkDirectory));
        Assert.All(entries, path => Assert.True(
            File.GetUnixFileMode(path) == (Directory.Exists(path) ? PrivateFiles.DirectoryMode : PrivateFiles.FileMode),
            $"{path} is {File.GetUnixFileMode(path)}"));
    }

    [Fact]
    public void A_session_is_found_only_with_its_own_secret()
    {
        var (mine, mySecret) = _sessions.Open(FakeHost.Facts("source"));
        var (_, otherSecret) = _sessions.Open(FakeHost.Facts("another source"));

        Assert.Same(mine, _sessions.Get(mine.Id, mySecret));
        Assert.Same(mine, _sessions.GetToSettle(mine.Id, mySecret));
        Assert.Throws<SessionAccessDeniedException>(() => _sessions.Get(mine.Id, otherSecret));
        Assert.Throws<SessionAccessDeniedException>(() => _sessions.Get(mine.Id, null));
        Assert.Throws<SessionAccessDeniedException>(() => _sessions.Get(mine.Id, mySecret.ToUpperInvariant()));
        Assert.Throws<SessionAccessDeniedException>(() => _sessions.GetToSettle(mine.Id, otherSecret));
        Assert.Throws<SessionAccessDeniedException>(() => _sessions.GetToSettle(mine.Id, ""));
    }

    [Fact]
    public void The_operator_secret_settles_any_session_and_does_nothing_else()
    {
        var session = Open();

        Assert.Same(session, _sessions.GetToSettle(session.Id, _operatorSecret));
        var denied = Assert.Throws<SessionAccessDeniedException>(() => _sessions.Get(session.Id, _operatorSecret));
        Assert.DoesNotContain(_operatorSecret, denied.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_session_gets_a_secret_of_its_own()
    {
        _sessions = Sessions(options => options with { MaxSessions = 100 });
        var secrets = Enumerable.Range(0, 100).Select(_ => _sessions.Open(FakeHost.Facts("source")).Secret).ToList();

        Assert.All(secrets, secret => Assert.True(SessionSecrets.IsValid(secret)));
        Assert.Equal(secrets.Count, secrets.Distinct(StringComparer.Ordinal).Count());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xUnit 2 disposes a test class through IDisposable or IAsyncLifetime, never IAsyncDisposable: with that alone every test left its work directory behind.
    public async Task DisposeAsync()
    {
        await _sessions.DisposeAsync();
        _work.Dispose();
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    /// <summary>A directory's files as an image stream: one chunk each, then the manifest.</summary>
    private static async IAsyncEnumerable<Wire.ImageStreamMessage> Upload(string directory)
    {
        var end = new Wire.ImageSetEnd();
        foreach (var file in Directory.GetFiles(directory))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            using var frame = FrameCodec.Encode(bytes);
            yield return new Wire.ImageStreamMessage { Chunk = new Wire.ImageChunk { File = Path.GetFileName(file), Offset = 0, Frame = frame.Frame } };
            end.Files.Add(new Wire.ImageFile { Name = Path.GetFileName(file), Size = (ulong)bytes.Length });
            end.TotalBytes += (ulong)bytes.Length;
        }
        yield return new Wire.ImageStreamMessage { End = end };
    }

    private const int Page = PageSize.Bytes;
    private const int RecordedRoot = 5224;

    private static readonly RestoreOrder Rebuilding =
        Final with { Rebuild = [new PagesRebuild(RecordedRoot, PagemapImage.FileName(RecordedRoot), "pages-1.img")] };

    private TargetSessions Sessions(Func<TargetOptions, TargetOptions> configure)
    {
        var options = configure(new TargetOptions { WorkDirectory = _work.Path, IdleTimeout = TimeSpan.FromMinutes(10), MinFreeDiskBytes = 0 });
        return new TargetSessions(new TargetServices(_criu, new CriuFeatureSet(false, LazyPages: true), _host, options, _time, NullLogger.Instance), _operatorSecret);
    }

    /// <summary>Stores <paramref name="pages"/> pages with content from <paramref name="firstPage"/> on, then zero pages after them, as one batch of task 1.</summary>
    private static Task<SiftCounts> Stored(IPageSink sink, int pages, int zeroPages, int firstPage = 1)
    {
        ulong[] Addresses(int from, int count) => Enumerable.Range(from, count).Select(page => (ulong)page * Page).ToArray();
        sink.Store(PageOwner.Task(RecordedRoot), Addresses(firstPage, pages), new byte[pages * Page], Addresses(firstPage + pages, zeroPages));
        return Task.FromResult(default(SiftCounts));
    }

    /// <summary>Receives the recorded tree as set "final", with a pagemap of <paramref name="runs"/> for its root task.</summary>
    private static Task<TransferStats> ReceiveFinalAsync(TargetSession session, PagemapEntry[] runs) =>
        session.ReceiveImagesAsync("final", "", (directory, _, _) =>
        {
            RecordedImages.CopyTo(RecordedImages.Tree, directory);
            File.WriteAllBytes(Path.Combine(directory, PagemapImage.FileName(RecordedRoot)),
                ImageWriter.Write(ImageMagic.Pagemap, [new PagemapHead { PagesId = 1 }, .. runs]));
            return Task.FromResult(new TransferStats(1, 4096, 4096));
        }, CancellationToken.None);

    /// <summary>A session that received the images CRIU wrote for a real tree, as set "final".</summary>
    private TargetSession Open(string source = "source")
    {
        var (session, secret) = _sessions.Open(FakeHost.Facts(source));
        _secrets[session.Id] = secret;
        return session;
    }

    private async Task<TargetSession> ReceivedSessionAsync()
    {
        var session = Open();
        await session.ReceiveImagesAsync("final", "", (directory, _, _) =>
        {
            RecordedImages.CopyTo(RecordedImages.Tree, directory);
            return Task.FromResult(new TransferStats(1, 4096, 4096));
        }, CancellationToken.None);
        return session;
    }

    private async Task<TargetSession> RestoredSessionAsync()
    {
        var session = await ReceivedSessionAsync();
        await session.RestoreAsync(Final, CancellationToken.None);
        return session;
    }
}
