using System.Diagnostics;
using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>
/// A downtime lab of its own prefix (the test hosts' hosts.sh: network
/// namespaces, a tbf-limited A–B link, B's target agent in its own PID
/// namespace), brought up fresh and taken down on dispose whatever happened.
/// </summary>
internal sealed class LabHosts : IAsyncDisposable
{
    /// <summary>B's agent listens there, on B's end of the link.</summary>
    public const int AgentPort = 7700;

    private static readonly TimeSpan Quick = TimeSpan.FromMinutes(2);

    private LabHosts(string prefix) => Prefix = prefix;

    public string Prefix { get; }

    /// <summary>The lab's tmpfs: B's agent works in b/, the CLI in src/, anything else may go beside.</summary>
    public string WorkDirectory { get; private set; } = "";

    /// <summary>The token B's agent and the CLI share.</summary>
    public string TokenFile { get; private set; } = "";

    /// <summary>B's address on the migration link.</summary>
    public string AddressOfB { get; private set; } = "";

    /// <summary>The lab's state (agents' PIDs and logs), which goes with the lab.</summary>
    private string StateDirectory { get; set; } = "";

    /// <summary>Brings the lab up (a stale one of the prefix, left by a crash, goes first) with its tmpfs and B's agent.</summary>
    public static async Task<LabHosts> UpAsync(string prefix, CancellationToken cancellationToken)
    {
        var lab = new LabHosts(prefix);
        try
        {
            await lab.HostsAsync(["up", "--tmpfs"], cancellationToken);
            // hosts.sh gives an agent 120 s to listen: .NET starts slowly on a loaded machine.
            await lab.HostsAsync(["agent", "b"], cancellationToken, TimeSpan.FromMinutes(3));
            lab.WorkDirectory = await lab.HostsAsync(["path", "work"], cancellationToken);
            lab.TokenFile = await lab.HostsAsync(["path", "token"], cancellationToken);
            lab.AddressOfB = await lab.HostsAsync(["addr", "b"], cancellationToken);
            lab.StateDirectory = await lab.HostsAsync(["path", "state"], cancellationToken);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    /// <summary>(Re)sets the A–B link's limit, e.g. 1gbit, or off.</summary>
    public Task SetRateAsync(string rate, CancellationToken cancellationToken) => HostsAsync(["rate", rate], cancellationToken);

    /// <summary>Runs COMMAND on HOST to its end; with <paramref name="agentNamespace"/>, inside B's agent's PID and mount namespaces.</summary>
    public Task<ProcessOutcome> RunAsync(
        string host, IEnumerable<string> command, TimeSpan timeout, CancellationToken cancellationToken, bool agentNamespace = false) =>
        ChildProcess.RunAsync(Repository.LabHosts, RunArguments(host, command, agentNamespace), timeout, cancellationToken);

    /// <summary>Starts COMMAND on HOST in the background; hosts.sh run execs it, so the process is COMMAND's own.</summary>
    public Process Start(string host, IEnumerable<string> command) =>
        ChildProcess.Start(Repository.LabHosts, RunArguments(host, command, agentNamespace: false), redirect: true);

    /// <summary>Starts COMMAND detached on HOST (its own session, no inherited descriptors) and returns it.</summary>
    public async Task<OwnedProcess> SpawnAsync(string host, IEnumerable<string> command, CancellationToken cancellationToken)
    {
        var pid = await HostsAsync(["spawn", host, "--", .. command], cancellationToken);
        return OwnedProcess.Of(int.Parse(pid, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The process that is <paramref name="namespacePid"/> under B's agent, or
    /// null. hosts.sh looks only at processes in B's network namespace
    /// (ip netns pids) and in its agent's PID namespace, so one found is on B.
    /// </summary>
    public async Task<OwnedProcess?> FindOnBAsync(int namespacePid, CancellationToken cancellationToken)
    {
        var found = await ChildProcess.RunAsync(
            Repository.LabHosts, ["pid", "b", namespacePid.ToString(CultureInfo.InvariantCulture), "--prefix", Prefix], Quick, cancellationToken);
        return found.Succeeded && int.TryParse(found.Stdout.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            ? OwnedProcess.Of(pid)
            : null;
    }

    /// <summary>Copies B's agent's log to <paramref name="destination"/>: the target's side of any failure, kept past the lab.</summary>
    public void KeepAgentLog(string destination)
    {
        var log = Path.Combine(StateDirectory, "agent-b.log");
        if (File.Exists(log))
        {
            File.Copy(log, destination, overwrite: true);
        }
    }

    /// <summary>Ends the agents and everything left in the hosts' namespaces, removes the tmpfs. Safe to repeat.</summary>
    public async ValueTask DisposeAsync()
    {
        var down = await ChildProcess.RunAsync(Repository.LabHosts, ["down", "--prefix", Prefix], Quick, CancellationToken.None);
        if (!down.Succeeded)
        {
            Log.Warning($"'hosts.sh down --prefix {Prefix}' failed: {down.Tail()}");
        }
    }

    private string[] RunArguments(string host, IEnumerable<string> command, bool agentNamespace) =>
        ["run", host, "--prefix", Prefix, .. agentNamespace ? ["--agent-ns"] : Array.Empty<string>(), "--", .. command];

    /// <summary>One hosts.sh command; what it printed, trimmed.</summary>
    private async Task<string> HostsAsync(string[] arguments, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        // Options go before a "--": what follows it is the command to run.
        var outcome = await ChildProcess.RunAsync(
            Repository.LabHosts, [arguments[0], "--prefix", Prefix, .. arguments[1..]], timeout ?? Quick, cancellationToken);
        return outcome.Succeeded ? outcome.Stdout.Trim() : throw new LabException($"hosts.sh {arguments[0]} failed: {outcome.Tail()}");
    }
}
