using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Migrate.Benchmarks;

internal static class BenchmarkConfig
{
    /// <summary>
    /// The default config plus the throughput columns, every job running with
    /// the agents' runtime settings (src/Migrate.Source/Migrate.Source.csproj):
    /// no tiered compilation, so the code measured is the optimized code the
    /// agents run from their first call; server GC that keeps its memory; a
    /// 4 MiB large-object threshold. Unless the command line picks a job
    /// (<c>--job short</c>, <c>--job medium</c>, ...), one launch of 3 warm-up and
    /// 10 measured iterations: enough to show the spread, and the whole suite
    /// takes a few minutes on a 2-core machine.
    /// </summary>
    public static IConfig Create(IReadOnlyCollection<string> args)
    {
        var agentRuntime = Job.Default
            .WithGcServer(true)
            .WithGcRetainVm(true)
            .WithEnvironmentVariable("DOTNET_TieredCompilation", "0")
            .WithEnvironmentVariable("DOTNET_GCLOHThreshold", "0x400000")
            .AsMutator();
        var config = DefaultConfig.Instance
            .AddJob(agentRuntime)
            .AddColumn(ThroughputColumn.Mean, ThroughputColumn.Range);
        if (!args.Any(arg => arg is "--job" or "-j" || arg.StartsWith("--job=", StringComparison.Ordinal)))
        {
            config = config.AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithId("Quick"));
        }
        return config;
    }
}
