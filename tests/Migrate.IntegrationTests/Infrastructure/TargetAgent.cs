using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Migrate.Engine.Credentials;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// A real migrate-target on loopback, in a PID and mount namespace of its
/// own, as another host would be. Disposing it ends the namespace, which
/// kills everything restored into it.
/// </summary>
internal sealed partial class TargetAgent : IAsyncDisposable
{
    private readonly Process _unshare;
    private readonly StringBuilder _output = new();
    private readonly TempDirectory _directory;

    private TargetAgent(Process unshare, TempDirectory directory, string tokenFile, string workDirectory)
    {
        _unshare = unshare;
        _directory = directory;
        TokenFile = tokenFile;
        WorkDirectory = workDirectory;
    }

    public int Port { get; private set; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The credential file the agent wrote (or shares): what an operator copies to the source.</summary>
    public string TokenFile { get; }

    /// <summary>The agent's operator secret, beside its token file: it settles sessions by hand.</summary>
    public string OperatorFile => CredentialFile.OperatorPathFor(TokenFile);

    /// <summary>What a source reads from the token file: the token, and the certificate to expect.</summary>
    public TargetCredentials Credentials()
    {
        var file = CredentialFile.Parse(File.ReadAllText(TokenFile), TokenFile);
        return new TargetCredentials(file.Token, TargetTrust.Pinned(file.Targets, TokenFile));
    }

    public string WorkDirectory { get; }

    /// <summary>The agent's PID as this test sees it; it is PID 1 in its own namespace.</summary>
    public int AgentPid { get; private set; }

    public string PidNamespace { get; private set; } = "";

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="environment">Extra environment, passed on to CRIU (for example CRIU_FAULT).</param>
    /// <param name="arguments">Extra arguments for migrate-target.</param>
    /// <param name="ownPidNamespace">Run in a PID and mount namespace of its own, as another host would be.</param>
    /// <param name="tokenFile">Share another agent's token file (and with it its key and operator secret) instead of making one.</param>
    /// <param name="workDirectory">The agent's work directory, instead of a fresh one it makes.</param>
    /// <param name="privateCopyOf">
    /// A directory the agent sees a copy of (cp -a, bind-mounted over it in its own mount namespace): the files
    /// there are other files to the agent, with other inodes, as on a host that does not share them.
    /// </param>
    public static async Task<TargetAgent> StartAsync(
        IReadOnlyDictionary<string, string>? environment = null, string[]? arguments = null, bool ownPidNamespace = true, string? tokenFile = null,
        string? workDirectory = null, string? privateCopyOf = null)
    {
        var directory = new TempDirectory("target");
        workDirectory ??= directory.Combine("work");
        string[] ownView = [];
        if (privateCopyOf is not null)
        {
            Assert.True(ownPidNamespace, "a private copy needs the agent's own mount namespace");
            var copy = directory.Combine("private-copy");
            var copied = await ChildProcess.RunAsync("cp", ["-a", privateCopyOf, copy], TimeSpan.FromMinutes(1));
            Assert.True(copied.ExitCode == 0, copied.ToString());
            // unshare's mount namespace is private (its default propagation): the bind mount goes with it.
            ownView = ["sh", "-c", "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"", "sh", copy, privateCopyOf];
        }
        var start = new ProcessStartInfo(ownPidNamespace ? "unshare" : Repository.MigrateTarget)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] command =
        [
            .. ownPidNamespace ? (string[])["--pid", "--fork", "--mount-proc", "--kill-child", .. ownView, Repository.MigrateTarget] : [],
            "--listen", "127.0.0.1:0", "--work-dir", workDirectory, "--token-file", tokenFile ?? directory.Combine("token"),
            .. arguments ?? [],
        ];
        foreach (var argument in command)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var agent = new TargetAgent(Process.Start(start)!, directory, tokenFile ?? directory.Combine("token"), workDirectory);
        agent._unshare.OutputDataReceived += (_, e) => agent.Append(e.Data);
        agent._unshare.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        agent._unshare.BeginOutputReadLine();
        agent._unshare.BeginErrorReadLine();
        try
        {
            var port = await Eventually.WaitAsync(
                () => ListeningLine().Match(agent.Output) is { Success: true } match ? match.Groups[1].Value : (agent._unshare.HasExited ? throw new InvalidOperationException("migrate-target exited:\n" + agent.Output) : null),
                "migrate-target to listen");
            agent.Port = int.Parse(port, System.Globalization.CultureInfo.InvariantCulture);
            agent.AgentPid = ownPidNamespace ? ProcFs.Children(agent._unshare.Id).Single() : agent._unshare.Id;
            agent.PidNamespace = ProcFs.PidNamespace(agent.AgentPid)!;
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>The PID, as the test sees it, of the process that has <paramref name="namespacePid"/> inside the agent's namespace.</summary>
    public int? FindProcess(int namespacePid) =>
        ProcFs.ProcessesIn(PidNamespace).Where(p => p.NamespacePid == namespacePid).Select(p => (int?)p.Pid).FirstOrDefault();

    /// <summary>Processes in the agent's namespace other than the agent itself.</summary>
    public IReadOnlyList<int> Guests() =>
        ProcFs.ProcessesIn(PidNamespace).Where(p => p.Pid != AgentPid).Select(p => p.Pid).ToList();

    /// <summary>
    /// Makes the agent's mount namespace show a copy of <paramref name="path"/>:
    /// the same bytes and modification time, another inode. To uprobes that is
    /// another host's file: probes registered on the original are not there.
    /// </summary>
    public async Task ShadowAsync(string path, Action<byte[]>? change = null)
    {
        var copy = _directory.Combine("shadow-" + Path.GetFileName(path));
        var bytes = await File.ReadAllBytesAsync(path);
        change?.Invoke(bytes);
        await File.WriteAllBytesAsync(copy, bytes);
        File.SetUnixFileMode(copy, File.GetUnixFileMode(path));
        File.SetLastWriteTimeUtc(copy, File.GetLastWriteTimeUtc(path));
        await MountAsync("--bind", copy, path);
    }

    /// <summary>Makes a directory empty in the agent's mount namespace: the files in it are missing on this "host".</summary>
    public Task HideAsync(string directory) => MountAsync("-t", "tmpfs", "tmpfs", directory);

    /// <summary>Mounts in the agent's mount namespace only; the mounts end with it.</summary>
    private async Task MountAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("nsenter") { RedirectStandardError = true };
        foreach (var argument in (string[])["--target", AgentPid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mount", "--", "mount", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }
        using var mount = Process.Start(start)!;
        var error = await mount.StandardError.ReadToEndAsync();
        await mount.WaitForExitAsync();
        Assert.True(mount.ExitCode == 0, $"mount {string.Join(' ', arguments)} in the target's namespace failed: {error}");
    }

    /// <summary>Kills the agent as a crash would: its namespace and everything in it die with it.</summary>
    public void Kill()
    {
        if (!_unshare.HasExited)
        {
            _unshare.Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _unshare.WaitForExitAsync();
        if (AgentPid != 0)
        {
            await Eventually.WaitAsync(() => !ProcFs.Exists(AgentPid), "the target agent's namespace to end");
        }
        _unshare.Dispose();
        _directory.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"listening on https://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();
}
