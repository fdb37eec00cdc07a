
namespace Migrate.Engine.Compat;

/// <summary>The checks that need only the two hosts' facts.</summary>
public static class HostChecks
{
    public static readonly Version MinimumCriu = new(4, 2);

    public static IEnumerable<CheckResult> Compare(HostFacts source, HostFacts target)
    {
        yield return source.Architecture == target.Architecture
            ? Checks.Pass("architecture", $"both hosts are {source.Architecture}")
            : Checks.Fail("architecture", $"the target runs on {target.Architecture}, the process on {source.Architecture}",
                "migrate to a host of the same architecture");
        yield return Version.TryParse(target.CriuVersion, out var criu) && criu >= MinimumCriu
            ? Checks.Pass("criu", $"CRIU {source.CriuVersion} here, {target.CriuVersion} on the target")
            : Checks.Fail("criu", $"the target has CRIU {target.CriuVersion}; {MinimumCriu} or newer is needed",
                "run scripts/setup.sh on the target");
        yield return VdsoLayouts.Compare(source.Vdso, target.Vdso);
    }
}
