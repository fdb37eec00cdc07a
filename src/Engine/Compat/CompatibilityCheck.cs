using Migrate.Protocol;

namespace Migrate.Engine.Compat;

/// <summary>The checks that need only the two hosts' facts, run before anything is frozen.</summary>
public static class CompatibilityCheck
{
    public static readonly Version MinimumCriu = new(4, 2);

    /// <summary>Why the two hosts cannot migrate, or null when they can.</summary>
    public static string? FindProblem(HostFacts source, HostFacts target)
    {
        if (source.Architecture != target.Architecture)
        {
            return $"the target runs on {target.Architecture}, the process on {source.Architecture}";
        }
        if (!Version.TryParse(target.CriuVersion, out var targetCriu) || targetCriu < MinimumCriu)
        {
            return $"the target has CRIU {target.CriuVersion}; {MinimumCriu} or newer is needed";
        }
        return null;
    }
}
