using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Source;
using Migrate.Engine.Protocol;
using Migrate.Engine.Tests.Migration.Fakes;

namespace Migrate.Engine.Tests.Migration;

/// <summary>
/// The source's commit protocol, driven through every path with fakes of
/// CRIU, the target and this host: the rows of the README's crash table that
/// are the source's to handle, and a failure at every step around the commit
/// point. Whatever happens, the report says where the process is and names the
/// session.
/// </summary>
public sealed class SourceMigrationTests : IDisposable
{
    private readonly TempDirectory _work = new();
    private readonly FakeTimeProvider _time = new();
    private readonly Journal _journal = new();
    private readonly FakeCriu _criu;
    private readonly FakeTarget _target;
    private readonly FakeHost _host;
    private MigrationOptions _options;

    public SourceMigrationTests()
    {
        _criu = new FakeCriu(_journal, _time);
        _target = new FakeTarget(_journal, _time);
        _host = new FakeHost(_journal);
        _options = new MigrationOptions { Pid = FakeHost.Pid, WorkDirectory = _work.Path, Precopy = PrecopyChoice.Off };
    }

    [Fact]
    public async Task The_target_resumes_its_copy_only_after_the_source_copy_is_killed()
    {
        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.True(_journal.IndexOf("tasks killed") < _journal.IndexOf("target commit"), _journal.ToString());
        // The target resumes without waiting for the kernel to tear the source copy down.
        Assert.True(_journal.IndexOf("target commit") < _journal.IndexOf("tasks gone"), _journal.ToString());
        Assert.True(_journal.IndexOf("target restore") < _journal.IndexOf("criu leaves the tasks stopped"), _journal.ToString());
        Assert.Null(_host.State(FakeHost.Pid));
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
        Assert.StartsWith("running on the target 10.0.0.2:7070 as PID", report.ProcessState, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_work.Path, FakeTarget.SessionId)));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task File_locks_and_link_remap_reach_both_the_dump_and_the_restore(bool fileLocks, bool linkRemap)
    {
        _options = _options with { FileLocks = fileLocks, LinkRemap = linkRemap };

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.Equal((fileLocks, linkRemap), (_criu.LastDump!.FileLocks, _criu.LastDump.LinkRemap));
        var restore = _target.LastRestore!.Options;
        Assert.Equal((fileLocks, linkRemap), (restore.FileLocks, restore.LinkRemap));
    }

    [Fact]
    public async Task Frozen_time_runs_from_the_freeze_to_the_resume_and_its_parts_add_up()
    {
        _criu.DumpTime = TimeSpan.FromMilliseconds(40);
        _target.RestoreTime = TimeSpan.FromMilliseconds(150);
        _target.CommitTime = TimeSpan.FromMilliseconds(10);

        var report = await RunAsync();

        Assert.Equal(200, report.FrozenMs!.Value, precision: 3);
        var frozen = report.Final!.Frozen;
        Assert.Equal(40, frozen.DumpMs, precision: 3);
        Assert.Equal(report.FrozenMs.Value,
            frozen.DumpMs + frozen.DiffMs + frozen.TransferMs + frozen.RebuildMs + frozen.RestoreMs + frozen.VerifyMs + frozen.ResumeMs, precision: 3);
        Assert.Equal(report.Timeline.Resume + 25, report.Timeline.LastPage);
    }

    [Fact]
    public async Task A_check_that_fails_in_pre_flight_freezes_nothing_and_closes_the_session()
    {
        _target.PreflightChecks = [Checks.Fail("files", "/srv/data.db is missing on the target", "copy it")];

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Refused, report.Outcome);
        Assert.Equal(0, _criu.Dumps);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Contains("/srv/data.db is missing", report.Error, StringComparison.Ordinal);
        Assert.Equal("running on the source, never frozen", report.ProcessState);
        Assert.Contains(report.Checks, check => check is { Name: "files", Failed: true });
    }

    [Fact]
    public async Task A_check_the_operator_ignores_only_warns()
    {
        _target.PreflightChecks = [Checks.Fail("files", "/srv/data.db is missing on the target", "copy it")];
        _options = _options with { IgnoredChecks = new HashSet<string> { "files" } };

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.Contains(report.Checks, check => check.Name == "files" && check.Verdict == CheckVerdict.Warn && check.Detail.StartsWith("ignored by --ignore-check files", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_target_whose_health_service_says_it_is_down_is_never_handshaken()
    {
        _target.Health = new TargetHealth(_target.Address, false, "NOT_SERVING: the file system of /var/lib/migrate is full");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Refused, report.Outcome);
        Assert.True(report.TransientFailure);
        Assert.DoesNotContain("target handshake", _journal.Entries);
        Assert.Equal("cannot reach the target 10.0.0.2:7070: NOT_SERVING: the file system of /var/lib/migrate is full", report.Error);
        Assert.Equal("running on the source, never frozen", report.ProcessState);
    }

    [Fact]
    public async Task An_unreachable_target_is_a_refusal_worth_another_try()
    {
        _target.HandshakeFailure = new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: connection refused");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Refused, report.Outcome);
        Assert.True(report.TransientFailure);
        Assert.Null(report.SessionId);
        Assert.Equal("cannot reach the target 10.0.0.2:7070: connection refused", report.Error);
        Assert.DoesNotContain("target abort", _journal.Entries);
    }

    [Fact]
    public async Task A_dump_that_fails_leaves_the_process_running_and_drops_the_target_s_session()
    {
        _criu.DumpFailure = new CriuException("dump", "Can't dump", ["Error (criu/cr-dump.c): Can't dump"], null);

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.Contains("target abort", _journal.Entries);
        Assert.DoesNotContain("target restore", _journal.Entries);
        Assert.NotNull(report.Timeline.RollBack);
    }

    [Fact]
    public async Task A_roll_back_resumes_the_tree_but_leaves_a_task_stopped_that_was_stopped_before()
    {
        _host.StopBefore(FakeHost.Child);
        _target.RestoreFailure = new TargetException(TargetFailure.Refused, "the target 10.0.0.2:7070 refused: criu restore failed");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.Equal('S', _host.State(FakeHost.Pid));
        Assert.Equal('T', _host.State(FakeHost.Child));
    }

    [Fact]
    public async Task A_restore_the_target_refuses_makes_criu_resume_the_process_and_names_the_check()
    {
        var stripped = Checks.Fail("uprobes", "the restored process still has 0xcc at /bin/x+0x10", "report this");
        _target.RestoreFailure = new TargetException(TargetFailure.Refused, "the target 10.0.0.2:7070 refused: the uprobes check failed", failedCheck: stripped);

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.True(_journal.IndexOf("target restore") < _journal.IndexOf("criu resumes the tasks"), _journal.ToString());
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Equal(stripped, report.Checks[^1]);
        Assert.NotNull(report.Final);
    }

    [Fact]
    public async Task Cancelled_while_frozen_the_process_is_resumed_on_the_source()
    {
        using var cancel = new CancellationTokenSource();
        _target.RestoreFailure = null;
        var target = new CancellingTarget(_target, cancel);

        var report = await RunAsync(target, cancel.Token);

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.Equal("cancelled", report.Error);
        Assert.Contains("criu resumes the tasks", _journal.Entries);
    }

    [Fact]
    public async Task A_thread_in_a_dangerous_spot_is_frozen_again_and_after_the_last_try_the_process_stays()
    {
        _host.ChecksHazards = true;
        _host.Hazards = [new FreezeHazard("return-probes", "thread 4242 has a pending return probe")];
        _options = _options with { MaxFreezeAttempts = 3 };

        var report = await RunWithClockAsync();

        Assert.Equal(3, _criu.Dumps);
        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.Contains("after 3 freezes", report.Error, StringComparison.Ordinal);
        var failed = Assert.Single(report.Checks, check => check.Failed);
        Assert.Equal("return-probes", failed.Name);
        Assert.DoesNotContain("target restore", _journal.Entries);
    }

    [Fact]
    public async Task A_hazard_that_clears_on_the_next_freeze_is_reported_as_a_warning()
    {
        _host.ChecksHazards = true;
        _host.Hazards = [new FreezeHazard("vdso-patch", "thread 4243 is inside __vdso_time")];
        var clearing = new ClearingHost(_host);

        var report = await RunWithClockAsync(host: clearing);

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.Equal(2, _criu.Dumps);
        var freeze = Assert.Single(report.Checks, check => check.Name == "freeze");
        Assert.Equal(CheckVerdict.Warn, freeze.Verdict);
        Assert.StartsWith("frozen 2 times", freeze.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reading_the_dumped_tree_fails_before_the_commit_point_so_the_source_copy_is_resumed()
    {
        _host.DumpedPidsFailure = new InvalidDataException("pstree.img ends early");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.Contains("tasks resumed", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Equal('S', _host.State(FakeHost.Pid));
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task With_established_connections_a_roll_back_after_criu_exited_also_unlocks_the_network()
    {
        _host.DumpedPidsFailure = new InvalidDataException("pstree.img ends early");
        _options = _options with { TcpEstablished = true };

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome);
        Assert.True(_journal.IndexOf("tasks resumed") < _journal.IndexOf("connections unlocked"), _journal.ToString());
        Assert.DoesNotContain("connections quarantined", _journal.Entries);
    }

    [Fact]
    public async Task Killing_the_source_copy_fails_and_the_report_says_the_process_is_in_doubt_with_the_session()
    {
        _host.KillFailure = new UnauthorizedAccessException("pidfd_send_signal: EPERM");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Failed, report.Outcome);
        Assert.DoesNotContain("target commit", _journal.Entries);
        Assert.Contains("in doubt", report.ProcessState, StringComparison.Ordinal);
        Assert.Contains($"migrate commit --to 10.0.0.2:7070 --session {FakeTarget.SessionId}", report.ProcessState, StringComparison.Ordinal);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task Pinning_the_stopped_source_copy_fails_and_it_stays_stopped_in_doubt_with_the_session()
    {
        // Crash table, "after CRIU finished, before killing its copy": both copies wait stopped.
        _host.PinFailure = new UnauthorizedAccessException("pidfd_open 4243: EPERM");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Failed, report.Outcome); // exit 1
        Assert.Equal('T', _host.State(FakeHost.Pid));
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.DoesNotContain("target commit", _journal.Entries);
        // The target's copy is the one the operator may still resume: it is not aborted.
        Assert.DoesNotContain("target abort", _journal.Entries);
        Assert.Contains("in doubt: the source copy (PID 4242) is stopped", report.ProcessState, StringComparison.Ordinal);
        Assert.Contains($"migrate commit --to 10.0.0.2:7070 --session {FakeTarget.SessionId}", report.ProcessState, StringComparison.Ordinal);
        Assert.Equal("pidfd_open 4243: EPERM", report.Error);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
        Assert.Null(report.Timeline.Commit);
    }

    [Fact]
    public async Task A_target_lost_during_pre_copy_leaves_the_process_running_never_frozen_and_worth_another_try()
    {
        // Crash table, "target, before the restore", while pre-copy runs: nothing was frozen.
        _options = _options with { Precopy = PrecopyChoice.ContentHash };
        _host.Tracker = new RoundTracker();
        _target.SendPagesFailure = new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: the stream was reset");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Refused, report.Outcome); // exit 3
        Assert.Equal("running on the source, never frozen", report.ProcessState);
        Assert.Equal(0, _criu.Dumps);
        Assert.Contains("target pages 1", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Equal("cannot reach the target 10.0.0.2:7070: the stream was reset", report.Error);
        Assert.True(report.TransientFailure);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task A_target_lost_during_the_final_transfer_makes_criu_resume_the_process_on_the_source()
    {
        // Crash table, "target, before the restore", while frozen: CRIU resumes the process.
        _target.SendImagesFailure = new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: the stream was reset");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome); // exit 4
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.Equal('S', _host.State(FakeHost.Pid));
        Assert.Contains("criu resumes the tasks", _journal.Entries);
        Assert.DoesNotContain("target restore", _journal.Entries);
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Equal("cannot reach the target 10.0.0.2:7070: the stream was reset", report.Error);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task A_target_lost_during_the_restore_makes_criu_resume_the_process_on_the_source()
    {
        // Crash table, "target, after the restore, before the commit": the commit point is never reached.
        _target.RestoreFailure = new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: connection reset");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome); // exit 4
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.True(_journal.IndexOf("target restore") < _journal.IndexOf("criu resumes the tasks"), _journal.ToString());
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.DoesNotContain("target commit", _journal.Entries);
        // Told to abort in case it still runs; one that cannot be told keeps its copy stopped.
        Assert.Contains("target abort", _journal.Entries);
        Assert.True(report.TransientFailure);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task Criu_failing_after_it_was_told_to_leave_the_tree_stopped_resumes_the_tree_here()
    {
        // KeepStopped throws: CRIU left the tasks stopped and cannot roll back, so the source resumes them itself.
        _criu.LeftStopped = _host.Freeze;
        _criu.ExitFailure = new CriuException("dump", "Can't write the inventory", ["Error (criu/image.c:104): Can't write the inventory"], null);

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome); // exit 4
        Assert.True(_journal.IndexOf("criu leaves the tasks stopped") < _journal.IndexOf("tasks resumed"), _journal.ToString());
        Assert.Equal('S', _host.State(FakeHost.Pid));
        Assert.Equal('S', _host.State(FakeHost.Child));
        Assert.DoesNotContain("tasks killed", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.Contains("Can't write the inventory", report.Error, StringComparison.Ordinal);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task A_network_lock_left_by_a_roll_back_is_reported_since_the_process_s_connections_stay_blocked()
    {
        _host.DumpedPidsFailure = new InvalidDataException("pstree.img ends early");
        _host.NetworkLockFailure = new IOException("nft delete table inet CRIU-0123 failed: Operation not permitted");
        _options = _options with { TcpEstablished = true };

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.RolledBack, report.Outcome); // exit 4
        Assert.Equal($"running on the source as PID {FakeHost.Pid}", report.ProcessState);
        Assert.Contains("connections unlocked", _journal.Entries);
        Assert.Contains("target abort", _journal.Entries);
        var check = Assert.Single(report.Checks, check => check.Name == "network-lock");
        Assert.Equal(CheckVerdict.Warn, check.Verdict);
        Assert.Contains("Operation not permitted", check.Detail, StringComparison.Ordinal);
        Assert.Contains("connections stay blocked", check.Remedy, StringComparison.Ordinal);
        Assert.Equal("pstree.img ends early", report.Error);
    }

    [Fact]
    public async Task A_source_copy_slow_to_die_after_sigkill_still_commits()
    {
        _host.KillFailure = new IOException("task 4243 did not exit within 10 s of SIGKILL");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.Contains("target commit", _journal.Entries);
    }

    [Fact]
    public async Task A_network_lock_that_cannot_be_removed_is_a_warning_after_a_successful_move()
    {
        _options = _options with { TcpEstablished = true };
        _host.NetworkLockFailure = new IOException("nft delete table inet CRIU-0123 failed: No such file or directory");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        var check = Assert.Single(report.Checks, check => check.Name == "network-lock");
        Assert.Equal(CheckVerdict.Warn, check.Verdict);
        Assert.True(_journal.IndexOf("tasks killed") < _journal.IndexOf("connections quarantined"), _journal.ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_commit_that_never_reaches_the_target_says_how_to_resume_the_process(bool transportFailure)
    {
        _target.CommitFailure = transportFailure
            ? new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: connection refused")
            : new InvalidOperationException("something unexpected");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Failed, report.Outcome);
        Assert.Null(_host.State(FakeHost.Pid));
        Assert.Contains("the source copy is gone", report.ProcessState, StringComparison.Ordinal);
        Assert.Contains($"migrate commit --to 10.0.0.2:7070 --session {FakeTarget.SessionId}", report.ProcessState, StringComparison.Ordinal);
        Assert.False(report.TransientFailure);
        Assert.NotNull(report.Timeline.Commit);
        Assert.Null(report.Timeline.Resume);
    }

    [Fact]
    public async Task A_lazy_pages_daemon_that_fails_after_the_resume_is_reported_as_possible_corruption()
    {
        _target.Pages = new PagesArrival(false, 0, "criu lazy-pages failed: uffd: died");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Failed, report.Outcome);
        Assert.Contains("memory may be corrupt", report.ProcessState, StringComparison.Ordinal);
        Assert.Contains($"the target keeps the images of session {FakeTarget.SessionId}", report.ProcessState, StringComparison.Ordinal);
        Assert.Equal("criu lazy-pages failed: uffd: died", report.Error);
        Assert.Null(report.Timeline.LastPage);
    }

    [Fact]
    public async Task Waiting_for_the_last_pages_fails_after_the_commit_and_the_process_is_still_reported_on_the_target()
    {
        _target.AwaitPagesFailure = new TargetException(TargetFailure.Unreachable, "cannot reach the target 10.0.0.2:7070: connection reset");

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Failed, report.Outcome); // exit 1
        Assert.Null(_host.State(FakeHost.Pid));
        Assert.True(_journal.IndexOf("target commit") < _journal.IndexOf("target await pages"), _journal.ToString());
        Assert.StartsWith($"running on the target 10.0.0.2:7070 as PID {FakeHost.Pid}", report.ProcessState, StringComparison.Ordinal);
        Assert.Contains(FakeTarget.SessionId, report.ProcessState, StringComparison.Ordinal);
        Assert.Equal("cannot reach the target 10.0.0.2:7070: connection reset", report.Error);
        Assert.NotNull(report.Timeline.Resume);
        Assert.Null(report.Timeline.LastPage);
        Assert.Equal(FakeTarget.SessionId, report.SessionId);
    }

    [Fact]
    public async Task Without_a_lazy_restore_nobody_waits_for_pages()
    {
        _target.RestoresLazily = false;

        var report = await RunAsync();

        Assert.Equal(MigrationOutcome.Migrated, report.Outcome);
        Assert.Equal("eager", report.Restore);
        Assert.DoesNotContain("target await pages", _journal.Entries);
    }

    [Fact]
    public async Task A_failed_migration_keeps_criu_s_logs_and_drops_the_images()
    {
        _criu.DumpFailure = new CriuException("dump", "Can't dump", [], null);
        var session = Path.Combine(_work.Path, FakeTarget.SessionId);
        Directory.CreateDirectory(session);
        await File.WriteAllTextAsync(Path.Combine(session, "criu-dump.log"), "why");

        await RunAsync();

        Assert.True(File.Exists(Path.Combine(session, "criu-dump.log")));
        Assert.False(Directory.Exists(Path.Combine(session, SourceWorkDirectory.ImagesFolder)));
    }

    [Fact]
    public async Task Checks_only_freeze_nothing_and_close_the_session()
    {
        var report = await Migration(_target, _host).CheckAsync(CancellationToken.None);

        Assert.Null(report.Error);
        Assert.Equal("running on the source, untouched (checks only)", report.ProcessState);
        Assert.Equal(0, _criu.Dumps);
        Assert.Contains("target abort", _journal.Entries);
    }

    public void Dispose() => _work.Dispose();

    private Task<MigrationReport> RunAsync(ITargetAgent? target = null, CancellationToken cancellationToken = default) =>
        Migration(target ?? _target, _host).RunAsync(cancellationToken);

    /// <summary>Runs with the fake clock moving, for the pauses between freezes.</summary>
    private async Task<MigrationReport> RunWithClockAsync(ISourceHost? host = null)
    {
        var run = Migration(_target, host ?? _host).RunAsync(CancellationToken.None);
        while (!run.IsCompleted)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(1);
        }
        return await run;
    }

    private SourceMigration Migration(ITargetAgent target, ISourceHost host) =>
        new(new SourceServices(_criu, target, host, new MigrationClock(_time), NullLogger.Instance, Progress: null), _options);

    /// <summary>The operator presses Ctrl-C while the target restores.</summary>
    private sealed class CancellingTarget(FakeTarget inner, CancellationTokenSource cancel) : ITargetAgent
    {
        public TargetAddress Address => inner.Address;
        public Task<TargetHealth> CheckHealthAsync(CancellationToken ct) => inner.CheckHealthAsync(ct);
        public Task<TargetHandshake> HandshakeAsync(HostFacts source, CancellationToken ct) => inner.HandshakeAsync(source, ct);
        public Task<IReadOnlyList<CheckResult>> PreflightAsync(string s, PreflightQuery q, CancellationToken ct) => inner.PreflightAsync(s, q, ct);
        public Task<PageStreamStats> SendPagesAsync(string s, PageRound r, PageScan scan, IProgress<long>? p, CancellationToken ct) => inner.SendPagesAsync(s, r, scan, p, ct);
        public Task<TransferStats> SendImagesAsync(string s, ImageSetUpload set, IProgress<long>? p, CancellationToken ct) => inner.SendImagesAsync(s, set, p, ct);

        public Task<RestoreResult> RestoreAsync(string s, RestoreOrder order, TimeSpan timeout, CancellationToken ct)
        {
            cancel.Cancel();
            return inner.RestoreAsync(s, order, timeout, ct);
        }

        public Task<CommitResult> CommitAsync(string s, CancellationToken ct) => inner.CommitAsync(s, ct);
        public Task<int> AbortAsync(string s, string reason, CancellationToken ct) => inner.AbortAsync(s, reason, ct);
        public Task<PagesArrival> AwaitPagesAsync(string s, CancellationToken ct) => inner.AwaitPagesAsync(s, ct);
        public void Dispose() => inner.Dispose();
    }

    /// <summary>The thread leaves the dangerous spot after the first freeze.</summary>
    private sealed class ClearingHost(FakeHost inner) : ISourceHost
    {
        private int _checks;
        public char? State(int pid) => inner.State(pid);
        public IStoppedTasks Pin(IEnumerable<int> pids) => inner.Pin(pids);
        public ProcessTree Discover(int pid) => inner.Discover(pid);
        public Task<HostFacts> CollectFactsAsync(CancellationToken ct) => inner.CollectFactsAsync(ct);
        public SourceInspection Inspect(ProcessTree tree, HostFacts source, HostFacts target, MigrationOptions options) => inner.Inspect(tree, source, target, options);
        public bool HasUprobesArea(IReadOnlyList<int> pids) => inner.HasUprobesArea(pids);
        public IMemoryTracker CreateTracker(PrecopyMode mode, int pid, string dir) => inner.CreateTracker(mode, pid, dir);
        public IReadOnlyList<FreezeHazard> FindFreezeHazards(string images, VdsoLayout? vdso) =>
            _checks++ == 0 ? inner.FindFreezeHazards(images, vdso) : [];
        public IReadOnlyList<int> DumpedPids(string images) => inner.DumpedPids(images);
        public Task QuarantineConnectionsAsync(string images, CancellationToken ct) => inner.QuarantineConnectionsAsync(images, ct);
        public Task UnlockConnectionsAsync(string images, CancellationToken ct) => inner.UnlockConnectionsAsync(images, ct);
    }
}
