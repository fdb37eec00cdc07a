using System.Globalization;
using BenchmarkDotNet.Running;
using Migrate.Benchmarks;

// Benchmarks of the pre-copy data path: hashing, compression, receiving, image rebuild.
//   dotnet run -c Release --project tests/Migrate.Benchmarks -- --filter '*'
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkConfig.Create(args));

// One line per benchmark, GB/s per core: every benchmark here runs on one thread.
var invariant = CultureInfo.InvariantCulture;
Console.WriteLine();
Console.WriteLine("Throughput, GB/s per core (mean, slowest-fastest iteration):");
foreach (var summary in summaries)
{
    foreach (var benchmarkCase in summary.BenchmarksCases)
    {
        if (ThroughputColumn.Measure(summary, benchmarkCase) is { } throughput)
        {
            Console.WriteLine(string.Create(invariant,
                $"  {benchmarkCase.Descriptor.DisplayInfo,-50} {benchmarkCase.Parameters.DisplayInfo,-24} {throughput.Mean,6:F2} GB/s  ({throughput.Min:F2}-{throughput.Max:F2})"));
        }
    }
}
