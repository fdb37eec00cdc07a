using System.Globalization;
using System.Text;
using Migrate.Lab.Infrastructure;
using Migrate.Lab.Matrix;
using Migrate.Lab.Statistics;

namespace Migrate.Lab.Bench;

/// <summary>The floor's Markdown: migrate's freeze step by step beside CRIU by hand, and their ratio.</summary>
internal static class FloorTable
{
    public static string Render(FloorPlan plan, FloorRunner runner)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        string Row(params string[] cells) => $"| {string.Join(" | ", cells)} |";

        Line(string.Create(CultureInfo.InvariantCulture,
            $"## The floor: migrate, idle {plan.SizeMiB} MiB, default options, loopback; CRIU by hand, idle {plan.ByHandMiB} MiB, images on tmpfs (median (min–max) of {plan.Runs} runs)"));
        Line();
        Line(Row("step, ms", string.Create(CultureInfo.InvariantCulture, $"migrate {plan.SizeMiB} MiB"), string.Create(CultureInfo.InvariantCulture, $"CRIU by hand {plan.ByHandMiB} MiB")));
        Line("|---|---:|---:|");
        var byHandParts = new Dictionary<string, Func<ByHandRun, double>> { ["dump"] = run => run.DumpMs, ["restore"] = run => run.RestoreMs };
        foreach (var (_, title, part) in FreezeParts.Columns)
        {
            var migrate = Summary.Of(runner.Migrations.Select(report => part(FreezeParts.From(report.Final!.Frozen))));
            var byHand = byHandParts.TryGetValue(title, out var value) ? Summary.Of(runner.ByHand.Select(run => (double?)value(run))) : null;
            Line(Row(title, Summary.Text(migrate, "F0"), Summary.Text(byHand, "F0")));
        }
        var frozen = Summary.Of(runner.Migrations.Select(report => (double?)report.FrozenMs));
        var byHandFrozen = Summary.Of(runner.ByHand.Select(run => (double?)run.FrozenMs));
        Line(Row("**frozenMs**", $"**{Summary.Text(frozen, "F0")}**", $"**{Summary.Text(byHandFrozen, "F0")}**"));
        Line();
        if (frozen is not null && byHandFrozen is not null)
        {
            Line(string.Create(CultureInfo.InvariantCulture,
                $"migrate's floor is {frozen.Median / byHandFrozen.Median:F2} x CRIU's own (medians; issue 13 asks for at most 1.2 x)"));
        }
        Line($"load average at the end: {ProcFs.LoadAverages()}");
        return text.ToString();
    }
}
