using Migrate.Engine.Migration;
using Migrate.Engine.Transfer;
using Migrate.Protocol;

namespace Migrate.Engine.Compat;

public enum UprobeMode
{
    /// <summary>Every probe site must have a live probe on the target.</summary>
    Require,

    /// <summary>The sites get the file's bytes back: the process runs unprobed on the target.</summary>
    Strip,
}

/// <summary>What the operator allows about uprobes (--allow-uprobes, --uprobes).</summary>
public sealed record UprobePolicy(bool Allow, UprobeMode Mode)
{
    public static readonly UprobePolicy Refuse = new(false, UprobeMode.Require);
}

/// <summary>The pre-flight checks and what the freeze needs from them.</summary>
public sealed record PreflightOutcome(IReadOnlyList<CheckResult> Checks, IReadOnlyList<UprobeSite> UprobeSites, VdsoLayout? ProxifiedVdso)
{
    public CheckResult? FirstFailure => Checks.FirstOrDefault(check => check.Failed());
}

/// <summary>
/// Every check that can run before anything is frozen: the hosts' facts, the
/// process's capabilities and uprobes here, and the target's view of its CPU,
/// files and PIDs.
/// </summary>
public static class SourcePreflight
{
    /// <param name="ignored">Checks whose failure the operator takes on (--ignore-check): they warn instead.</param>
    public static async Task<PreflightOutcome> RunAsync(
        ProcessTree tree, HostFacts source, HostFacts target, TargetClient client, string sessionId, UprobePolicy uprobes,
        IReadOnlySet<string> ignored, CancellationToken cancellationToken)
    {
        var checks = HostChecks.Compare(source, target).ToList();
        checks.Add(Capabilities.Compare(tree.Pids, target.CapabilityBoundingSet));

        IReadOnlyList<UprobeSite> sites = [];
        var probed = tree.Pids.Where(UprobeSites.HasUprobesArea).ToList();
        if (probed.Count > 0 && !uprobes.Allow)
        {
            checks.Add(Checks.Fail(UprobeSites.CheckName,
                $"task {probed[0]} has a [uprobes] area: uprobes were hit in it, and restored where they are not active it would die of SIGTRAP",
                "pass --allow-uprobes; then --uprobes require (the default) checks the probes are active on the target, --uprobes strip removes them"));
        }
        else if (probed.Count > 0)
        {
            sites = UprobeSites.Find(probed);
        }

        var request = new PreflightRequest { SessionId = sessionId, UprobeMode = uprobes.Mode == UprobeMode.Strip ? "strip" : "require" };
        request.Files.AddRange(ProcessFiles.Collect(tree.Pids));
        request.Pids.AddRange(tree.Pids);
        request.UprobeSites.AddRange(sites);
        var reply = await client.PreflightAsync(request, cancellationToken).ConfigureAwait(false);
        checks.AddRange(reply.Checks);

        foreach (var check in checks.Where(check => check.Failed() && ignored.Contains(check.Name)))
        {
            check.Verdict = CheckResult.Types.Verdict.Warn;
            check.Detail = $"ignored by --ignore-check {check.Name}: {check.Detail}";
        }
        var vdso = checks.First(check => check.Name == VdsoLayouts.CheckName);
        return new PreflightOutcome(checks, sites, VdsoLayouts.WillProxify(vdso) ? source.Vdso : null);
    }
}
