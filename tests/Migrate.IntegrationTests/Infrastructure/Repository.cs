namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>Paths in the repository the tests run from. The agents come from bin/, as scripts/setup.sh publishes them.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Migrate => Path.Combine(Root, "bin", "migrate");

    public static string MigrateTarget => Path.Combine(Root, "bin", "migrate-target");

    public static string Workloads => Path.Combine(Root, "tests", "workloads");

    /// <summary>The downtime lab's hosts: network namespaces on this machine (hosts.sh, redis.sh).</summary>
    public static string LabHosts => Path.Combine(Root, "tests", "hosts", "lab");

    /// <summary>Debian's stock kernel under qemu (host.sh).</summary>
    public static string StockKernelHost => Path.Combine(Root, "tests", "hosts", "stock-kernel");

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
