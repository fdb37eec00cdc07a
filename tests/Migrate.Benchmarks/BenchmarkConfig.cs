using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Migrate.Benchmarks;

internal static class BenchmarkConfig
{
    /// <summary>
    /// The default config plus the throughput columns. Unless the command line
    /// picks a job (<c>--job short</c>, <c>--job medium</c>, ...), one launch of
    /// 3 warm-up and 10 measured iterations: enough to show the spread, and the
    /// whole suite finishes in a few minutes on a 2-core machine.
    /// </summary>
    public static IConfig Create(IReadOnlyCollection<string> args)
    {
        var config = DefaultConfig.Instance.AddColumn(ThroughputColumn.Mean, ThroughputColumn.Range);
        if (!args.Any(arg => arg is "--job" or "-j" || arg.StartsWith("--job=", StringComparison.Ordinal)))
        {
            config = config.AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithId("Quick"));
        }
        return config;
    }
}
