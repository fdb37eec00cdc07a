using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Bench;

/// <summary>
/// A target agent on loopback as the integration tests start one: in its own
/// PID and mount namespace (unshare --pid --fork --mount-proc --kill-child),
/// so restored PIDs are free there, on 127.0.0.1 at a port the kernel picks.
/// Disposing it ends the namespace and whatever was migrated into it.
/// </summary>
internal sealed partial class LocalTarget : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _unshare;
    private readonly StreamWriter _log;

    private LocalTarget(Process unshare, StreamWriter log, int port, string pidNamespace)
    {
        _unshare = unshare;
        _log = log;
        Port = port;
        PidNamespace = pidNamespace;
    }

    public int Port { get; }

    public string TokenFile { get; private init; } = "";

    /// <summary>The agent's PID namespace, where migrated processes live.</summary>
    public string PidNamespace { get; }

    public static async Task<LocalTarget> StartAsync(string directory, CancellationToken cancellationToken)
    {
        var token = Path.Combine(directory, "token");
        var log = new StreamWriter(Path.Combine(directory, "target.log")) { AutoFlush = true };
        var unshare = ChildProcess.Start("unshare",
            ["--pid", "--fork", "--mount-proc", "--kill-child", Repository.MigrateTarget,
             "--listen", "127.0.0.1:0", "--work-dir", Path.Combine(directory, "target"), "--token-file", token], redirect: true);
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                listening.TrySetException(new LabException($"the target agent exited before it listened (log: {directory}/target.log)"));
                return;
            }
            lock (log)
            {
                log.WriteLine(line);
            }
            if (Listening().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
            }
        }
        unshare.OutputDataReceived += (_, e) => OnLine(e.Data);
        unshare.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                OnLine(e.Data);
            }
        };
        unshare.BeginOutputReadLine();
        unshare.BeginErrorReadLine();
        try
        {
            int port = await listening.Task.WaitAsync(StartTimeout, cancellationToken);
            // The agent is unshare's only child, PID 1 of the new namespace.
            var agent = ProcFs.Children(unshare.Id) is [int pid] ? pid : throw new LabException("cannot find the agent under unshare");
            var pidNamespace = ProcFs.PidNamespace(agent) ?? throw new LabException("the target agent is gone");
            return new LocalTarget(unshare, log, port, pidNamespace) { TokenFile = token };
        }
        catch
        {
            KillNamespace(unshare);
            await log.DisposeAsync();
            unshare.Dispose();
            throw;
        }
    }

    public bool IsAlive => !_unshare.HasExited;

    /// <summary>The process that is <paramref name="namespacePid"/> in the agent's namespace, or null.</summary>
    public OwnedProcess? Find(int namespacePid) =>
        ProcFs.ProcessesIn(PidNamespace).Where(p => p.NamespacePid == namespacePid).Select(p => OwnedProcess.Find(p.Pid)).FirstOrDefault();

    public async ValueTask DisposeAsync()
    {
        KillNamespace(_unshare);
        await _unshare.WaitForExitAsync();
        _unshare.Dispose();
        await _log.DisposeAsync();
    }

    /// <summary>unshare ignores SIGTERM while it waits; SIGKILL ends it, --kill-child the agent, and the namespace goes with it.</summary>
    private static void KillNamespace(Process unshare)
    {
        if (!unshare.HasExited)
        {
            unshare.Kill(entireProcessTree: false);
        }
    }

    [GeneratedRegex(@"listening on https://127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();
}
