using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// tests/workloads/counter.c: counts, and checks a buffer against a known
/// checksum, writing both to a status file that follows it wherever it runs.
/// </summary>
internal sealed partial class Counter : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _directory;

    private Counter(Process process, TempDirectory directory)
    {
        _process = process;
        _directory = directory;
    }

    /// <summary>The PID on the source, which is also its PID inside the target's namespace after a migration.</summary>
    public int Pid => _process.Id;

    private string StatusFile => _directory.Combine("status");

    public static async Task<Counter> StartAsync(Workloads workloads, int bufferMiB)
    {
        var directory = new TempDirectory("counter");
        var process = Process.Start(new ProcessStartInfo(workloads.Binary("counter"))
        {
            ArgumentList = { directory.Combine("status"), bufferMiB.ToString(CultureInfo.InvariantCulture) },
        })!;
        var counter = new Counter(process, directory);
        await counter.WaitForProgressAsync();
        return counter;
    }

    public (ulong Count, bool ChecksumOk)? ReadStatus()
    {
        try
        {
            var match = StatusLine().Match(File.ReadAllText(StatusFile));
            return match.Success ? (ulong.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value == "ok") : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Waits until the counter has moved on from where it is now, with its checksum intact.</summary>
    public async Task WaitForProgressAsync()
    {
        ulong start = ReadStatus()?.Count ?? 0;
        await Eventually.WaitAsync(() => ReadStatus() is { } status && status.Count > start, "the counter to advance");
        Assert.True(ReadStatus()!.Value.ChecksumOk, "the counter's buffer no longer matches its checksum");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        _directory.Dispose();
    }

    [GeneratedRegex(@"counter=(\d+) checksum=(ok|BAD)")]
    private static partial Regex StatusLine();
}
