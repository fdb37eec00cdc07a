using Migrate.Engine.Compat;
using Migrate.Engine.Memory;
using Migrate.Protocol;
using Migrate.Engine.Transfer;

namespace Migrate.Engine.Migration;

public sealed partial class SourceSession
{
    private MigrationReport Report(MigrationOutcome outcome, string processState, string? error = null) =>
        Report(outcome, processState, error, cause: null);

    private MigrationReport Report(MigrationOutcome outcome, string processState, string? error, Exception? cause)
    {
        _context.Outcome = outcome;
        var final = _context.Final.ToReport(_timeline);
        return new MigrationReport
        {
            Outcome = outcome,
            SessionId = _context.SessionId,
            Pid = options.Pid,
            Command = _context.Tree?.Command,
            TargetAddress = target.Address.ToString(),
            Source = _context.Source,
            Target = _context.Target,
            BytesRaw = _context.Rounds.Sum(r => r.BytesRaw) + (final?.BytesRaw ?? 0),
            BytesOnWire = _context.Rounds.Sum(r => r.BytesOnWire) + (final?.BytesOnWire ?? 0),
            FrozenMs = _timeline.FreezeStart is { } start && _timeline.Resume is { } resume ? resume - start : null,
            TotalMs = Now(),
            Timeline = _timeline,
            Precopy = _context.Precopy,
            Rounds = _context.Rounds,
            Final = final,
            Restore = _timeline.RestoreEnd is null ? null : _context.LazyRestore ? "lazy" : "eager",
            RestoreNote = string.IsNullOrEmpty(_context.RestoreNote) ? null : _context.RestoreNote,
            RestoredPid = outcome == MigrationOutcome.Migrated ? _context.RestoredPid : null,
            Checks = _context.Checks.Select(CheckReport.From).ToList(),
            TransientFailure = outcome is MigrationOutcome.Refused or MigrationOutcome.RolledBack &&
                               cause is Grpc.Core.RpcException rpc && TargetClient.IsTransient(rpc),
            ProcessState = processState,
            Error = error,
        };
    }

    /// <summary>What the run learnt so far, for the report.</summary>
    private sealed class RunContext
    {
        public ProcessTree? Tree { get; set; }
        public string? SessionId { get; set; }
        public HostFacts? SourceFacts { get; set; }
        public HostSummary? Source { get; set; }
        public HostSummary? Target { get; set; }
        public PrecopyReport? Precopy { get; set; }
        public List<RoundStats> Rounds { get; } = [];
        public FinalStage Final { get; } = new();
        public int? RestoredPid { get; set; }
        public bool LazyRestore { get; set; }
        public string? RestoreNote { get; set; }
        public MigrationOutcome? Outcome { get; set; }
        public PreflightOutcome? Preflight { get; set; }
        public List<CheckResult> Checks { get; } = [];
    }

    /// <summary>The final freeze, measured as it happens.</summary>
    private sealed class FinalStage
    {
        public FinalPages? Pages { get; set; }
        public TransferStats? Images { get; set; }

        /// <summary>Pages inside the pages images that were sent as files (no pre-copy, or soft-dirty).</summary>
        public long ImagePages { get; set; }
        public double DiffMs { get; set; }
        public double TransferMs { get; set; }
        public double RestoreCallMs { get; set; }
        public double ResumeMs { get; set; }
        public IReadOnlyDictionary<string, double> TargetTimings { get; set; } = new Dictionary<string, double>();

        public FinalReport? ToReport(MigrationTimeline timeline)
        {
            if (Pages is null || Images is not { } images)
            {
                return null;
            }
            double rebuild = TargetTimings.GetValueOrDefault("rebuild");
            double verify = TargetTimings.GetValueOrDefault("verify");
            var frozen = new FrozenBreakdown(
                DumpMs: (timeline.DumpEnd - timeline.FreezeStart) ?? 0,
                DiffMs: DiffMs,
                TransferMs: TransferMs,
                RebuildMs: rebuild,
                // The restore call's own time, network and CRIU, without the stages the target timed apart.
                RestoreMs: Math.Max(0, RestoreCallMs - rebuild - verify),
                VerifyMs: verify,
                ResumeMs: ResumeMs);
            return new FinalReport(
                PagesSent: Pages.PagesSent + ImagePages,
                ZeroPages: Pages.ZeroPages,
                BytesRaw: Pages.BytesRaw + images.BytesRaw,
                BytesOnWire: Pages.BytesOnWire + images.BytesOnWire,
                Frozen: frozen);
        }
    }
}
