namespace Migrate.Lab.Matrix;

/// <summary>What a matrix run measures, and where it writes.</summary>
internal sealed record MatrixPlan(
    IReadOnlyList<int> SizesMiB,
    IReadOnlyList<int> RatesMiBs,
    IReadOnlyList<string> Links,
    int? HotMiB,
    int Runs,
    IReadOnlyList<MigrationMethod> Methods,
    string OutputDirectory,
    string Prefix,
    bool Setup,
    string CommandLine)
{
    /// <summary>
    /// Every run in the order they are made: per link, size, rate and run,
    /// each method in turn, so that drift in the machine's load hits all
    /// methods alike.
    /// </summary>
    public IEnumerable<(Cell Cell, int Run, MigrationMethod Method)> Interleaved() =>
        from link in Links
        from size in SizesMiB
        from rate in RatesMiBs
        from run in Enumerable.Range(1, Runs)
        from method in Methods
        select (new Cell(size, rate, link, HotMiB), run, method);
}
