using Migrate.Engine.Migration.Source;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Migrate.Source;

/// <summary>
/// Shows an evacuation's progress on standard error. On a terminal, a live
/// list: a line for each process that has finished, then one for each in
/// flight with its stage and, during pre-copy, its round's progress and time
/// left. Otherwise a plain line as each process finishes.
/// </summary>
internal sealed class EvacuationDisplay : IProgress<EvacuationStep>, IProgress<EvacuationRow>
{
    private readonly Lock _lock = new();
    private readonly List<string> _done = [];
    private readonly SortedDictionary<int, (string Line, RoundClock Clock)> _inFlight = [];
    private Action? _refresh;
    private long _lastRefresh;

    /// <summary>Runs the migrations, with the live list when standard error is a terminal.</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        if (ProgressDisplay.InteractiveErrorConsole() is not { } console)
        {
            return await work();
        }
        return await console.Live(Render()).AutoClear(false).StartAsync(async context =>
        {
            lock (_lock)
            {
                _refresh = () => context.UpdateTarget(Render());
            }
            try
            {
                return await work();
            }
            finally
            {
                lock (_lock)
                {
                    _refresh = null;
                }
                context.UpdateTarget(Render());
            }
        });
    }

    public void Report(EvacuationStep value)
    {
        lock (_lock)
        {
            var clock = _inFlight.TryGetValue(value.Pid, out var known) ? known.Clock : new RoundClock(TimeProvider.System);
            var stage = ProgressDisplay.Describe(value.Progress, clock.Left(value.Progress.Scan));
            _inFlight[value.Pid] = ($"{value.Pid} ({value.Command}) -> {value.Target}: {stage}", clock);
            // Byte counts arrive per batch; a few redraws a second are enough.
            long now = Environment.TickCount64;
            if (value.Progress.Scan is not null && now - _lastRefresh < 100)
            {
                return;
            }
            _lastRefresh = now;
            _refresh?.Invoke();
        }
    }

    public void Report(EvacuationRow value)
    {
        var line = $"evacuate: {EvacuationOutcome.Summary(value)}";
        lock (_lock)
        {
            _inFlight.Remove(value.Pid);
            if (_refresh is null)
            {
                Console.Error.WriteLine(line);
                return;
            }
            _done.Add(line);
            _refresh();
        }
    }

    private Rows Render()
    {
        lock (_lock)
        {
            var lines = new List<IRenderable>(_done.Select(line => new Text(line)));
            lines.AddRange(_inFlight.Values.Select(entry => new Markup($"[bold]migrating[/] {Markup.Escape(entry.Line)}")));
            return new Rows(lines);
        }
    }
}
