namespace Migrate.Lab.Infrastructure;

/// <summary>Paths in the repository the tool runs from. The agents come from bin/, as scripts/setup.sh publishes them.</summary>
internal static class Repository
{
    /// <summary>The CRIU that scripts/setup.sh provides, and the one the agents run.</summary>
    public const string Criu = "/usr/local/sbin/criu";

    public static string Root { get; } = FindRoot();

    public static string Migrate => Path.Combine(Root, "bin", "migrate");

    public static string MigrateTarget => Path.Combine(Root, "bin", "migrate-target");

    public static string Setup => Path.Combine(Root, "scripts", "setup.sh");

    public static string Packages => Path.Combine(Root, "scripts", "lib", "packages.sh");

    public static string LabHosts => Path.Combine(Root, "tests", "hosts", "lab", "hosts.sh");

    public static string Workload(string name) => Path.Combine(Root, "tests", "workloads", name + ".c");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Migration.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("cannot find the repository root (Migration.sln) above " + AppContext.BaseDirectory);
    }
}
