namespace Migrate.Lab.Infrastructure;

/// <summary>What a measurement needs on the machine: the published agents and CRIU (scripts/setup.sh), and Debian packages.</summary>
internal static class Setup
{
    /// <summary>Runs scripts/setup.sh, its output on standard error. A failure is survivable only with agents already published.</summary>
    public static async Task RunAsync(CancellationToken cancellationToken)
    {
        var setup = await ChildProcess.RunAsync(Repository.Setup, [], TimeSpan.FromMinutes(30), cancellationToken, echo: true);
        if (!setup.Succeeded)
        {
            if (!File.Exists(Repository.Migrate))
            {
                throw new LabException($"scripts/setup.sh failed (exit {setup.ExitCode}) and there is no bin/migrate");
            }
            Log.Warning("scripts/setup.sh failed; using the bin/migrate already published");
        }
        if (!File.Exists(Repository.Criu))
        {
            throw new LabException($"no CRIU at {Repository.Criu} (scripts/setup.sh builds it)");
        }
    }

    /// <summary>Installs the missing ones of PACKAGES from Debian, through the project's own scripts/lib/packages.sh.</summary>
    public static async Task EnsurePackagesAsync(IReadOnlyList<string> packages, CancellationToken cancellationToken)
    {
        if (packages.Count == 0)
        {
            return;
        }
        var install = await ChildProcess.RunAsync(
            "bash", ["-c", "source \"$0\" && ensure_packages \"$@\"", Repository.Packages, .. packages],
            TimeSpan.FromMinutes(10), cancellationToken, echo: true);
        if (!install.Succeeded)
        {
            throw new LabException($"cannot install {string.Join(", ", packages)}");
        }
    }
}
