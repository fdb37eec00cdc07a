using System.Reflection;
using Migrate.Engine.Criu;

namespace Migrate.Engine.Compat;

/// <summary>
/// What this build is: the version and commit Directory.Build.targets embeds
/// from git (every assembly of one build carries the same), and the CRIU it
/// runs. Both agents print it for --version, and the handshake exchanges it.
/// </summary>
public static class BuildInfo
{
    private static readonly Assembly Own = typeof(BuildInfo).Assembly;

    /// <summary>For example 0.1.0+git32.0338d0ef34d2 (VersionPrefix, commits, short hash).</summary>
    public static string Version { get; } =
        Own.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>The full commit hash, or "unknown" when built outside a git checkout.</summary>
    public static string Commit { get; } =
        Own.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "SourceRevisionId")?.Value ?? "unknown";

    /// <summary>The lines --version prints: the program's version, the commit and the CRIU it runs.</summary>
    public static async Task<string> DescribeAsync(string program, CriuClient criu, CancellationToken cancellationToken)
    {
        var path = criu.Settings.CriuPath;
        string criuLine;
        if (CriuLocation.Resolve(path) is not { } resolved)
        {
            criuLine = $"criu not found ({path}): migrations need CRIU 4.2 or newer";
        }
        else
        {
            try
            {
                criuLine = $"criu {await criu.GetVersionAsync(cancellationToken).ConfigureAwait(false)} ({resolved})";
            }
            catch (Exception e) when (e is CriuException or CriuNotFoundException or IOException or TimeoutException)
            {
                criuLine = $"criu {resolved} does not answer: {e.Message}";
            }
        }
        return $"{program} {Version}\ncommit {Commit}\n{criuLine}";
    }
}
