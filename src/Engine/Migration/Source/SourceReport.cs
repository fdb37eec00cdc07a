namespace Migrate.Engine.Migration.Source;

/// <summary>Turns the phase a migration ended in into its <see cref="MigrationReport"/>.</summary>
internal sealed class SourceReport(SourceServices services, MigrationOptions options)
{
    public MigrationReport Refused(PreflightRefusal refusal, string processState) => Base(MigrationOutcome.Refused, processState, refusal.Cause) with
    {
        SessionId = refusal.SessionId,
        Command = refusal.Tree?.Command,
        Source = refusal.SourceFacts is { } source ? HostSummary.From(source) : null,
        Target = refusal.TargetFacts is { } target ? HostSummary.From(target) : null,
        Checks = refusal.Checks,
    };

    public MigrationReport Checked(Preflighted preflight, string processState) =>
        FromPreflight(MigrationOutcome.Refused, processState, null, preflight) with { Timeline = new MigrationTimeline { PreflightEnd = preflight.EndedAt } };

    public MigrationReport Refused(PrecopyRefusal refusal, string processState) =>
        FromPreflight(MigrationOutcome.Refused, processState, refusal.Cause, refusal.Preflight) with
        {
            Timeline = new MigrationTimeline { PreflightEnd = refusal.Preflight.EndedAt },
            Precopy = refusal.Report,
            Rounds = refusal.Rounds,
            BytesRaw = refusal.Rounds.Sum(r => r.BytesRaw),
            BytesOnWire = refusal.Rounds.Sum(r => r.BytesOnWire),
        };

    public MigrationReport RolledBack(FreezeRolledBack rolledBack)
    {
        var precopy = rolledBack.Precopy;
        var times = rolledBack.Times;
        var final = rolledBack.Transfer is { } transfer && times is not null ? Final(transfer, times, restore: null, resumeMs: 0) : null;
        var (outcome, state) = rolledBack.SourceRunning
            ? (MigrationOutcome.RolledBack, $"running on the source as PID {options.Pid}")
            : (MigrationOutcome.Failed, $"not running on the source after the roll-back (state {rolledBack.SourceState?.ToString() ?? "gone"})");
        return FromPrecopy(outcome, state, rolledBack.Cause, precopy, final) with
        {
            Timeline = new MigrationTimeline
            {
                PreflightEnd = precopy.Preflight.EndedAt,
                FreezeStart = times?.FreezeStart,
                DumpEnd = times?.DumpEnd,
                TransferEnd = times?.TransferEnd,
                RestoreEnd = times?.RestoreEnd,
                RollBack = rolledBack.RolledBackAt,
            },
            Checks = [.. precopy.Preflight.Checks, .. rolledBack.Checks],
        };
    }

    public MigrationReport Ended(CommitOutcome ended)
    {
        var frozen = ended.Frozen;
        var times = frozen.Times;
        double resumeMs = ended.Times.Resume is { } resume && times.RestoreEnd is { } restored ? resume - restored : 0;
        var final = Final(frozen.Transfer, times, frozen, resumeMs);
        bool lazy = frozen.Restored.LazyPages && ended.Committed?.RestoredAgain is null;
        return FromPrecopy(ended.Outcome, ended.ProcessState, ended.Cause, frozen.Precopy, final) with
        {
            Error = ended.Error,
            FrozenMs = ended.Times.Resume is { } resumed ? resumed - times.FreezeStart : null,
            Timeline = new MigrationTimeline
            {
                PreflightEnd = frozen.Precopy.Preflight.EndedAt,
                FreezeStart = times.FreezeStart,
                DumpEnd = times.DumpEnd,
                TransferEnd = times.TransferEnd,
                RestoreEnd = times.RestoreEnd,
                Commit = ended.Times.Commit,
                Resume = ended.Times.Resume,
                RollBack = ended.Times.RollBack,
                LastPage = ended.Times.LastPage,
            },
            Restore = lazy ? "lazy" : "eager",
            RestoreNote = ended.Committed?.RestoredAgain ?? frozen.Restored.LazyPagesNote,
            RestoredPid = ended.Outcome == MigrationOutcome.Migrated ? ended.Committed?.RootPid ?? frozen.Restored.RootPid : null,
            Checks = [.. frozen.Precopy.Preflight.Checks, .. frozen.Checks, .. ended.Checks],
        };
    }

    private MigrationReport FromPrecopy(MigrationOutcome outcome, string state, Exception? cause, Precopied precopy, FinalReport? final) =>
        FromPreflight(outcome, state, cause, precopy.Preflight) with
        {
            Precopy = precopy.Report,
            Rounds = precopy.Rounds,
            Final = final,
            BytesRaw = precopy.Rounds.Sum(r => r.BytesRaw) + (final?.BytesRaw ?? 0),
            BytesOnWire = precopy.Rounds.Sum(r => r.BytesOnWire) + (final?.BytesOnWire ?? 0),
        };

    private MigrationReport FromPreflight(MigrationOutcome outcome, string state, Exception? cause, Preflighted preflight) =>
        Base(outcome, state, cause) with
        {
            SessionId = preflight.SessionId,
            Command = preflight.Tree.Command,
            Source = HostSummary.From(preflight.SourceFacts),
            Target = HostSummary.From(preflight.TargetFacts),
            Checks = preflight.Checks,
        };

    private MigrationReport Base(MigrationOutcome outcome, string processState, Exception? cause) => new()
    {
        Outcome = outcome,
        Pid = options.Pid,
        TargetAddress = services.Target.Address.ToString(),
        TotalMs = services.Clock.Now(),
        Timeline = new MigrationTimeline(),
        ProcessState = processState,
        Error = cause is null ? null : SourceFailures.Describe(cause),
        TransientFailure = outcome is MigrationOutcome.Refused or MigrationOutcome.RolledBack && SourceFailures.IsTransient(cause),
    };

    /// <summary>What moved while frozen and where the time went; the parts add up to frozenMs.</summary>
    private static FinalReport Final(FinalTransfer transfer, FreezeTimes times, Frozen? restore, double resumeMs)
    {
        var timings = restore?.Restored.Timings;
        double rebuild = timings?.RebuildMs ?? 0;
        double verify = timings?.VerifyMs ?? 0;
        var frozen = new FrozenBreakdown(
            DumpMs: (times.DumpEnd - times.FreezeStart) ?? 0,
            DiffMs: transfer.DiffMs,
            TransferMs: transfer.TransferMs,
            RebuildMs: rebuild,
            // The restore call's own time, network and CRIU, without the stages the target timed apart.
            RestoreMs: restore is null ? 0 : Math.Max(0, restore.RestoreCallMs - rebuild - verify),
            VerifyMs: verify,
            ResumeMs: resumeMs);
        return new FinalReport(
            PagesSent: transfer.Pages.PagesSent + transfer.ImagePages,
            ZeroPages: transfer.Pages.ZeroPages,
            BytesRaw: transfer.Pages.BytesRaw + transfer.Images.BytesRaw,
            BytesOnWire: transfer.Pages.BytesOnWire + transfer.Images.BytesOnWire,
            Frozen: frozen,
            BytesRead: transfer.Pages.BytesRead + transfer.Images.BytesRaw,
            // Zero pages cost the target no write: they are holes, or implicit.
            BytesWritten: transfer.Images.BytesRaw + transfer.Pages.BytesRaw + (restore?.Restored.RebuiltBytes ?? 0));
    }
}
