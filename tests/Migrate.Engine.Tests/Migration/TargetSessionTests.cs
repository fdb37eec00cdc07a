using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Criu;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;
using Migrate.Engine.Tests.Migration.Fakes;

namespace Migrate.Engine.Tests.Migration;

/// <summary>
/// The target's session state machine with fakes of CRIU and this host: the
/// rows of the README's crash table that are the target's to handle, and the
/// janitor, on a fake clock.
/// </summary>
public sealed class TargetSessionTests : IAsyncDisposable
{
    private static readonly RestoreOrder Final = new("final", new RestoreOptions(false, false, false, false, LazyPages: true, false), [], []);

    private readonly TempDirectory _work = new();
    private readonly FakeTimeProvider _time = new();
    private readonly Journal _journal = new();
    private readonly FakeCriu _criu;
    private readonly FakeTargetHost _host;
    private readonly TargetSessions _sessions;
    private readonly string _operatorSecret = SessionSecrets.New();
    private readonly Dictionary<string, string> _secrets = [];

    public TargetSessionTests()
    {
        _criu = new FakeCriu(_journal, _time);
        _host = new FakeTargetHost(_journal);
        var options = new TargetOptions { WorkDirectory = _work.Path, IdleTimeout = TimeSpan.FromMinutes(10) };
        _sessions = new TargetSessions(
            new TargetServices(_criu, new CriuFeatureSet(false, LazyPages: true), _host, options, _time, NullLogger.Instance), _operatorSecret);
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
        var secrets = Enumerable.Range(0, 100).Select(_ => _sessions.Open(FakeHost.Facts("source")).Secret).ToList();

        Assert.All(secrets, secret => Assert.True(SessionSecrets.IsValid(secret)));
        Assert.Equal(secrets.Count, secrets.Distinct(StringComparer.Ordinal).Count());
    }

    public async ValueTask DisposeAsync()
    {
        await _sessions.DisposeAsync();
        _work.Dispose();
    }

    private TargetSession Open()
    {
        var (session, secret) = _sessions.Open(FakeHost.Facts("source"));
        _secrets[session.Id] = secret;
        return session;
    }

    private async Task<TargetSession> ReceivedSessionAsync()
    {
        var session = Open();
        await session.ReceiveImagesAsync("final", "", (directory, _, _) =>
        {
            Directory.CreateDirectory(directory);
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
