using System.Diagnostics;

namespace Migrate.Lab.Infrastructure;

/// <summary>How a program ended, with all it printed.</summary>
internal sealed record ProcessOutcome(string Command, int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The last lines it printed, to say why it failed.</summary>
    public string Tail(int lines = 5) =>
        string.Join('\n', (Stdout + Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));

    public override string ToString() => $"{Command}: exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs programs as a user would from a shell, each with a deadline.</summary>
internal static class ChildProcess
{
    /// <summary>Runs PROGRAM to its end.</summary>
    /// <param name="echo">Also copy its output, line by line, to standard error as it comes.</param>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/> and was killed.</exception>
    /// <remarks>
    /// On a timeout or a cancellation only the program itself is killed, never
    /// its children: a killed migrate leaves CRIU to resume the process, as the
    /// README's crash table says, where killing CRIU too could damage it.
    /// </remarks>
    public static async Task<ProcessOutcome> RunAsync(
        string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, bool echo = false)
    {
        using var process = Start(program, arguments, redirect: true);
        var command = Describe(process.StartInfo);
        var stdout = new System.Text.StringBuilder();
        var stderr = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, line) => Collect(stdout, line.Data, echo);
        process.ErrorDataReceived += (_, line) => Collect(stderr, line.Data, echo);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: false);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{command} did not finish within {timeout.TotalSeconds:F0} s");
        }
        // WaitForExitAsync returns once both output streams have ended: every line is in.
        return new ProcessOutcome(command, process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// Starts PROGRAM without waiting. With <paramref name="redirect"/> its
    /// standard streams are pipes for the caller (standard input closed at
    /// once); without, it shares this tool's, as a workload that detaches at
    /// once may.
    /// </summary>
    public static Process Start(string program, IEnumerable<string> arguments, bool redirect)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = redirect,
            RedirectStandardError = redirect,
            RedirectStandardInput = redirect,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new LabException($"cannot start {program}");
        if (redirect)
        {
            process.StandardInput.Close();
        }
        return process;
    }

    public static string Describe(ProcessStartInfo start) => string.Join(' ', [start.FileName, .. start.ArgumentList]);

    private static void Collect(System.Text.StringBuilder into, string? line, bool echo)
    {
        if (line is null)
        {
            return;
        }
        lock (into)
        {
            into.Append(line).Append('\n');
        }
        if (echo)
        {
            Console.Error.WriteLine(line);
        }
    }
}
