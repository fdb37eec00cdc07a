using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Migrate.Lab.Infrastructure;
using Migrate.Lab.Matrix;

namespace Migrate.Lab.Commands;

/// <summary>
/// <c>Migrate.Lab matrix</c>: memory size × dirty rate × link rate, N runs
/// each, for each method, interleaved, in a lab of its own (prefix mx, so it
/// never meets the tests' labs), brought up fresh and taken down whatever
/// happens. Writes results.csv, results.md, downtime.png and
/// frozen-vs-size.png; exits 1 if any run failed to migrate or verify.
/// </summary>
internal sealed partial class MatrixCommand
{
    /// <summary>
    /// What a migration holds at its peak, in multiples of the process's size:
    /// the source, CRIU's dump in the lab's tmpfs, the target's page store and
    /// the pages images it rebuilds, and the restored copy.
    /// </summary>
    private const int PeakCopies = 5;

    private readonly Option<string> _sizes = new("--sizes") { Description = "Process sizes, MiB, comma-separated", DefaultValueFactory = _ => "64" };
    private readonly Option<string> _rates = new("--rates") { Description = "Dirty rates, MiB/s, comma-separated (0: an idle process)", DefaultValueFactory = _ => "0,50" };
    private readonly Option<string> _links = new("--links") { Description = "Link rates as tc writes them (100mbit, 1gbit, 10gbit) or off", DefaultValueFactory = _ => "1gbit,10gbit" };
    private readonly Option<int?> _hot = new("--hot-mib") { Description = "The hot set, MiB, the same at every size (default: size/8)" };
    private readonly Option<int> _runs = new("--runs") { Description = "Runs of each method in each cell", DefaultValueFactory = _ => 3 };
    private readonly Option<string> _methods = new("--methods")
    {
        Description = $"Methods, comma-separated: {string.Join(", ", MigrationMethods.All.Select(method => $"{method.Name} ({method.Label})"))}",
        DefaultValueFactory = _ => string.Join(',', MigrationMethods.All.Select(method => method.Name)),
    };
    private readonly Option<string> _out = new("--out") { Description = "Output directory", DefaultValueFactory = _ => "/var/tmp/migrate-matrix" };
    private readonly Option<string> _prefix = new("--prefix") { Description = "The lab's prefix (hosts P-a, P-b, P-c)", DefaultValueFactory = _ => "mx" };
    private readonly Option<bool> _noSetup = new("--no-setup") { Description = "Do not run scripts/setup.sh first" };

    public Command Build()
    {
        var command = new Command("matrix", "The downtime matrix: size x dirty rate x link rate x method, interleaved, in a lab of its own")
        {
            _sizes, _rates, _links, _hot, _runs, _methods, _out, _prefix, _noSetup,
        };
        command.SetAction(RunAsync);
        return command;
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var plan = Plan(parse);
        if (!Environment.IsPrivilegedProcess)
        {
            throw new LabException("run as root: the lab makes network namespaces, a tmpfs and agents");
        }
        if (plan.Setup)
        {
            await Setup.RunAsync(cancellationToken);
        }
        await Setup.EnsurePackagesAsync([.. plan.Methods.SelectMany(method => method.Mover.Packages).Distinct()], cancellationToken);
        WarnIfShortOfMemory(plan.SizesMiB.Max());

        Directory.CreateDirectory(plan.OutputDirectory);
        var runs = Path.Combine(plan.OutputDirectory, "runs");
        if (Directory.Exists(runs))
        {
            Directory.Delete(runs, recursive: true);
        }
        var csv = new ResultsCsv(Path.Combine(plan.OutputDirectory, "results.csv"));
        csv.Create();

        string started = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture);
        string loadBefore = ProcFs.LoadAverages();
        var clock = Stopwatch.StartNew();
        IReadOnlyList<RunRecord> records;
        Log.Info($"lab '{plan.Prefix}' up (a stale one from a crash is torn down first)");
        await using (var lab = await LabHosts.UpAsync(plan.Prefix, cancellationToken))
        {
            try
            {
                var dirtier = await Workloads.BuildAsync("dirtier", Path.Combine(lab.WorkDirectory, "bin"), cancellationToken);
                records = await new MatrixRunner(plan, lab, dirtier, csv).RunAsync(cancellationToken);
            }
            finally
            {
                lab.KeepAgentLog(Path.Combine(plan.OutputDirectory, "agent-b.log"));
            }
        }
        var context = new MatrixContext(
            started, await MachineDescription.DescribeAsync(cancellationToken), plan.CommandLine, records.Count,
            records.Count(record => !record.Ok), clock.Elapsed, loadBefore, ProcFs.LoadAverages());

        var cells = CellSummary.Of(records);
        var markdown = ResultsMarkdown.Render(context, cells, plan.Methods);
        await File.WriteAllTextAsync(Path.Combine(plan.OutputDirectory, "results.md"), markdown, cancellationToken);
        string title = $"Downtime lab: {Environment.ProcessorCount} cores, medians and min–max of {plan.Runs} runs";
        Plots.SaveDowntime(Path.Combine(plan.OutputDirectory, "downtime.png"), cells, plan.Methods, title);
        Plots.SaveFrozenAgainstSize(Path.Combine(plan.OutputDirectory, "frozen-vs-size.png"), cells, plan.Methods, title);
        Log.Info($"wrote {csv.Path}, results.md, downtime.png and frozen-vs-size.png in {plan.OutputDirectory}");
        Console.Write(markdown);
        return context.Failures == 0 ? 0 : 1;
    }

    private MatrixPlan Plan(ParseResult parse)
    {
        var links = Lists.Words("--links", parse.GetValue(_links)!);
        foreach (var link in links.Where(link => !LinkRate().IsMatch(link)))
        {
            throw new UsageException($"--links: '{link}' is not a rate such as 100mbit, 1gbit, 10gbit, or off");
        }
        var prefix = parse.GetValue(_prefix)!;
        if (!Prefix().IsMatch(prefix))
        {
            throw new UsageException("--prefix: 1-12 letters, digits or _");
        }
        int runs = parse.GetValue(_runs);
        return new MatrixPlan(
            SizesMiB: Lists.Numbers("--sizes", parse.GetValue(_sizes)!, minimum: 1),
            RatesMiBs: Lists.Numbers("--rates", parse.GetValue(_rates)!, minimum: 0),
            Links: links,
            HotMiB: parse.GetValue(_hot) is { } hot ? (hot >= 1 ? hot : throw new UsageException("--hot-mib: at least 1")) : null,
            Runs: runs >= 1 ? runs : throw new UsageException("--runs: at least 1"),
            Methods: [.. Lists.Words("--methods", parse.GetValue(_methods)!).Select(MigrationMethods.Find)],
            OutputDirectory: Path.GetFullPath(parse.GetValue(_out)!),
            Prefix: prefix,
            Setup: !parse.GetValue(_noSetup),
            CommandLine: string.Join(' ', ["Migrate.Lab", .. Environment.GetCommandLineArgs().Skip(1)]));
    }

    private static void WarnIfShortOfMemory(int largestMiB)
    {
        long available = ProcFs.AvailableMiB();
        if (available < (long)PeakCopies * largestMiB)
        {
            Log.Warning($"a {largestMiB} MiB migration may hold up to {PeakCopies} x its size at its peak; MemAvailable is {available} MiB");
        }
    }

    // The units tc accepts, as hosts.sh's tbf_args converts them.
    [GeneratedRegex(@"^([0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps)|off)$", RegexOptions.IgnoreCase)]
    private static partial Regex LinkRate();

    [GeneratedRegex("^[A-Za-z0-9_]{1,12}$")]
    private static partial Regex Prefix();
}
