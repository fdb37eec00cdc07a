using System.Diagnostics;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>How a program the tests ran ended, with all it printed.</summary>
internal sealed record ProcessOutcome(string Command, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"{Command}: exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs a program to its end, as a user would from a shell.</summary>
internal static class ChildProcess
{
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/>; it and its children were killed.</exception>
    public static async Task<ProcessOutcome> RunAsync(
        string program, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var command = string.Join(' ', [program, .. start.ArgumentList]);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{command} did not finish within {timeout}");
        }
        return new ProcessOutcome(command, process.ExitCode, await stdout, await stderr);
    }
}
