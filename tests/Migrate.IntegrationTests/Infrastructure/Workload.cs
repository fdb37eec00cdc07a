using System.Diagnostics;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// A workload of tests/workloads, started by this test and ended by its own
/// PID. It reports through a status file of key=value tokens that it rewrites
/// in place, and that follows it wherever it is restored.
/// </summary>
internal abstract class Workload : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _directory;

    protected Workload(Workloads workloads, string name, Func<string, IEnumerable<string>> arguments)
    {
        _directory = new TempDirectory(name);
        var start = new ProcessStartInfo(workloads.Binary(name));
        foreach (var argument in arguments(_directory.Path))
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start)!;
    }

    /// <summary>The PID on the source, which is also its PID inside the target's namespace after a migration.</summary>
    public int Pid => _process.Id;

    protected string Directory => _directory.Path;

    protected virtual string StatusFile => "status";

    /// <summary>The status file's tokens, or null before the workload first wrote it.</summary>
    public IReadOnlyDictionary<string, string>? Status()
    {
        try
        {
            var tokens = File.ReadAllText(Path.Combine(Directory, StatusFile))
                .Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                .Select(token => token.Split('=', 2))
                .Where(pair => pair.Length == 2)
                .ToDictionary(pair => pair[0], pair => pair[1]);
            return tokens.Count > 0 ? tokens : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    protected ulong Number(string key) =>
        Status() is { } status && status.TryGetValue(key, out var value) ? ulong.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>Waits until <paramref name="key"/> exceeds <paramref name="value"/>.</summary>
    protected Task WaitBeyondAsync(string key, ulong value, string what) =>
        Eventually.WaitAsync(() => Number(key) > value, what);

    /// <summary>Releases what a workload holds besides its process.</summary>
    protected virtual void Release()
    {
    }

    public void Dispose()
    {
        Release();
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        _directory.Dispose();
    }
}
