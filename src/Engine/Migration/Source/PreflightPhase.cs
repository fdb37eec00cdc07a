using Migrate.Engine.Compat;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>How pre-flight ended: <see cref="Preflighted"/> or <see cref="PreflightRefusal"/>.</summary>
public abstract record PreflightOutcome;

/// <summary>Pre-flight passed: the process may move to this target, and this is what the next phases need.</summary>
/// <param name="ProxifiedVdso">The process's vDSO layout when CRIU will proxify it on the target; null when the layouts match.</param>
/// <param name="EndedAt">When pre-flight ended, on the migration's clock.</param>
public sealed record Preflighted(
    ProcessTree Tree,
    string SessionId,
    HostFacts SourceFacts,
    HostFacts TargetFacts,
    IReadOnlyList<CheckResult> Checks,
    IReadOnlyList<UprobeSite> UprobeSites,
    VdsoLayout? ProxifiedVdso,
    bool HasUprobesArea,
    double EndedAt) : PreflightOutcome;

/// <summary>Pre-flight refused the migration; what it learnt before, for the report. Nothing was frozen.</summary>
public sealed record PreflightRefusal(
    ProcessTree? Tree, string? SessionId, HostFacts? SourceFacts, HostFacts? TargetFacts, IReadOnlyList<CheckResult> Checks, Exception Cause) : PreflightOutcome;

/// <summary>
/// The first phase: finds the tree, opens a session with the target, exchanges
/// host facts and runs every check that can run before anything is frozen,
/// here and on the target.
/// </summary>
public sealed class PreflightPhase(SourceServices services, MigrationOptions options)
{
    public async Task<PreflightOutcome> RunAsync(CancellationToken cancellationToken)
    {
        services.Report(MigrationStage.Preflight);
        ProcessTree? tree = null;
        HostFacts? source = null;
        TargetHandshake? handshake = null;
        var checks = new List<CheckResult>();
        try
        {
            tree = services.Host.Discover(options.Pid);
            // Before three CRIU runs and a handshake with its 10 s connect timeout.
            if (await services.Target.CheckHealthAsync(cancellationToken).ConfigureAwait(false) is { IsUp: false } down)
            {
                throw new TargetException(TargetFailure.Unreachable, $"cannot reach the target {down.Target}: {down.Detail}");
            }
            source = await services.Host.CollectFactsAsync(cancellationToken).ConfigureAwait(false);
            handshake = await services.Target.HandshakeAsync(source, cancellationToken).ConfigureAwait(false);
            checks.AddRange(HostChecks.Compare(source, handshake.Target));
            var inspection = services.Host.Inspect(tree, source, handshake.Target, options);
            checks.AddRange(inspection.Checks);
            var query = new PreflightQuery(inspection.Files, tree.Pids, inspection.UprobeSites, options.Uprobes.Mode);
            var onTarget = await services.Target.PreflightAsync(handshake.SessionId, query, cancellationToken).ConfigureAwait(false);
            // One file-locks check in the report: the source's refusal (no --file-locks), else the target's verdict.
            var locks = FileLocks.Check(inspection.Files, options.FileLocks);
            checks.AddRange(locks.Failed ? onTarget.Where(check => check.Name != FileLocks.CheckName).Append(locks) : onTarget);
            checks = checks.Select(Ignore).ToList();
            if (checks.FirstOrDefault(check => check.Failed) is { } failure)
            {
                throw new MigrationRefusedException($"the {failure.Name} check failed: {failure.Detail}. {failure.Remedy}");
            }
            var vdso = checks.First(check => check.Name == VdsoLayouts.CheckName);
            return new Preflighted(tree, handshake.SessionId, source, handshake.Target, checks, inspection.UprobeSites,
                VdsoLayouts.WillProxify(vdso) ? source.Vdso : null, inspection.HasUprobesArea, services.Clock.Now());
        }
        catch (Exception e) when (SourceFailures.BeforeFreeze(e))
        {
            return new PreflightRefusal(tree, handshake?.SessionId, source, handshake?.Target, checks, e);
        }
    }

    /// <summary>A check the operator takes on (--ignore-check) warns instead of failing.</summary>
    private CheckResult Ignore(CheckResult check) => check.Failed && options.IgnoredChecks.Contains(check.Name)
        ? check with { Verdict = CheckVerdict.Warn, Detail = $"ignored by --ignore-check {check.Name}: {check.Detail}" }
        : check;
}
