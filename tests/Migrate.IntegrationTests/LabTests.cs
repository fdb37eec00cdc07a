using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// The downtime lab (tests/hosts/lab/hosts.sh): two hosts as network namespaces
/// joined by a rate-limited veth link, a target agent in each in its own PID
/// namespace. What users rely on: the lab leaves nothing behind, and the
/// downtime the migrated process itself sees agrees with the report's frozenMs.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed partial class LabTests(Workloads workloads)
{
    /// <summary>
    /// Largest |heartbeat gap − frozenMs| accepted, in milliseconds.
    /// frozenMs runs from CRIU's pre-dump notification (just before the tasks
    /// are frozen) to the source receiving the commit reply (after the target
    /// resumed them), so it exceeds the real freeze by CRIU's start-up and
    /// half a round trip; the heartbeat's gap exceeds it by up to one 1 ms beat
    /// plus the time until the resumed thread is scheduled. Measured on this
    /// 2-core machine: in the 48 migrate runs of docs/lab/results.csv
    /// (frozen_ms − downtime_ms) it was 2.4–40 ms, median 24.5 ms; earlier, 30
    /// runs of this test under load 3–6 gave 2–63 ms. The bound leaves room
    /// for a noisier CI machine.
    /// </summary>
    private const double GapBoundMs = 150;

    /// <summary>The lab's service address: on both A and B, and host C routes it to the one `hosts.sh service` names.</summary>
    private const string ServiceAddress = "10.77.100.1";

    [Fact]
    public async Task The_lab_comes_up_and_goes_down_leaving_nothing_behind()
    {
        await using var lab = new Lab();

        await lab.UpAsync("--agents", "--tmpfs", "--rate", "1gbit");

        foreach (var host in lab.Hosts)
        {
            Assert.True(File.Exists($"/run/netns/{host}"), $"no network namespace {host}");
        }
        Assert.Contains("tbf", (await Lab.RunAsync("tc", "-n", $"{lab.Prefix}-a", "qdisc", "show", "dev", "tob")).Stdout, StringComparison.Ordinal);
        var agents = lab.AgentProcesses();
        Assert.Equal(4, agents.Count); // unshare and migrate-target on each of A and B
        Assert.All(agents, agent => Assert.True(agent.IsAlive(), $"agent PID {agent.Pid} is not running"));
        Assert.True(IsMountPoint(lab.WorkDirectory), $"no tmpfs at {lab.WorkDirectory}");
        // A workload on A: down must end it too, or it would keep A's namespace alive.
        var workload = await lab.SpawnAsync("a", workloads.Binary("counter"), Path.Combine(lab.Scratch.Path, "counter.status"), "1");
        await Eventually.WaitAsync(() => StatusFile.Number(Path.Combine(lab.Scratch.Path, "counter.status"), "counter") > 0, "the counter on host A");

        var down = await lab.DownAsync();
        var again = await lab.DownAsync();

        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.True(again.ExitCode == 0, again.ToString());
        foreach (var host in lab.Hosts)
        {
            Assert.False(File.Exists($"/run/netns/{host}"), $"network namespace {host} is left");
        }
        Assert.DoesNotMatch($@"(^|\s){lab.Prefix}-[abc](\s|$)", (await Lab.RunAsync("ip", "netns", "list")).Stdout);
        // The veths were made inside the namespaces: none of their names may exist here.
        var links = (await Lab.RunAsync("ip", "-o", "link", "show")).Stdout;
        Assert.DoesNotMatch(new Regex(@"^\d+: (toa|tob|toc)[@:]", RegexOptions.Multiline), links);
        Assert.All(agents, agent => Assert.False(agent.IsAlive(), $"agent process {agent.Pid} is left"));
        Assert.False(workload.IsAlive(), $"workload PID {workload.Pid} is left");
        Assert.False(Directory.Exists(lab.StateDirectory), $"{lab.StateDirectory} is left");
        Assert.False(Directory.Exists(lab.WorkDirectory), $"{lab.WorkDirectory} is left");
        Assert.False(IsMountPoint(lab.WorkDirectory), $"the tmpfs at {lab.WorkDirectory} is still mounted");
    }

    [Fact]
    public async Task A_heartbeat_across_the_lab_link_sees_the_downtime_the_report_states()
    {
        var heartbeat = workloads.Binary("heartbeat");
        await using var lab = new Lab();
        await lab.UpAsync("--agents", "--tmpfs", "--rate", "1gbit");
        var status = Path.Combine(lab.Scratch.Path, "status");
        var gaps = Path.Combine(lab.Scratch.Path, "gaps");
        var source = await lab.SpawnAsync("a", heartbeat, status, gaps);
        await StatusFile.WaitBeyondAsync(status, "beats", 500, "the heartbeat's first 500 beats");
        long migrationStartUs = RealtimeMicroseconds();

        var result = await Lab.RunAsync(
            lab.Script, "run", "a", "--prefix", lab.Prefix, "--", Repository.Migrate,
            "--to", "10.77.0.2:7700", "--token-file", lab.TokenFile, "--work-dir", Path.Combine(lab.WorkDirectory, "src"),
            "--report", Path.Combine(lab.Scratch.Path, "report.json"), "--quiet", source.Pid.ToString(CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 0, result.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(lab.Scratch.Path, "report.json")));
        double frozenMs = report.RootElement.GetProperty("frozenMs").GetDouble();
        int restored = report.RootElement.GetProperty("restoredPid").GetInt32();
        // It runs on B now: in B's network namespace, under B's agent, and beating.
        int onB = await lab.AdoptOnAsync("b", restored);
        Assert.Equal(await Inode($"/run/netns/{lab.Prefix}-b"), await Inode($"/proc/{onB}/ns/net"));
        ulong beats = StatusFile.Number(status, "beats");
        await StatusFile.WaitBeyondAsync(status, "beats", beats + 100, "the heartbeat to beat on host B");
        // The longest gap that began after migrate started: the freeze.
        var gapMs = File.ReadLines(gaps)
            .Select(line => GapLine().Match(line))
            .Where(match => match.Success && long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) >= migrationStartUs)
            .Select(match => long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) / 1000.0)
            .DefaultIfEmpty(0)
            .Max();
        Assert.True(gapMs > 0, $"the heartbeat recorded no gap during the migration (frozenMs {frozenMs})");
        Assert.True(
            Math.Abs(gapMs - frozenMs) <= GapBoundMs,
            $"heartbeat gap {gapMs:F1} ms vs frozenMs {frozenMs:F1} ms: differ by more than {GapBoundMs} ms");
    }

    [Fact]
    public async Task A_redis_server_moves_with_its_dataset_and_its_client_s_connection_losing_nothing()
    {
        const int Keys = 20000;
        await using var lab = new Lab();

        // redis.sh brings its lab up and down itself; the Lab here only owns the prefix and a last tear-down.
        var run = await Lab.RunAsync(
            Path.Combine(Repository.LabHosts, "redis.sh"),
            "--keys", Keys.ToString(CultureInfo.InvariantCulture), "--prefix", lab.Prefix, "--no-setup");

        Assert.True(run.ExitCode == 0, run.ToString());
        // The client's one connection stayed open through the move and no reply was wrong.
        Assert.Matches(@"connection open; \d+ requests, 0 wrong replies", run.Stdout);
        // Every value read back from B over a new connection is exact, and the counter adds up.
        Assert.Contains($"all {Keys} values exact; DBSIZE {Keys + 1} (expected {Keys + 1})", run.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"lab:counter \d+ \(client: first \d+ \+ \d+ requests\) ok", run.Stdout);
    }

    [Fact]
    public async Task A_service_of_nobody_whose_workers_share_memory_moves_under_load_and_answers_every_request_right()
    {
        const int Nobody = 65534;
        const string Port = "7800";
        var shmservice = workloads.Binary("shmservice");
        await using var lab = new Lab();
        await lab.UpAsync("--agents", "--tmpfs");
        // The service runs as nobody, which must write its status file; the client runs as root on host C.
        using var serviceDirectory = new TempDirectory("shmservice");
        File.SetUnixFileMode(serviceDirectory.Path, (UnixFileMode)0x1ff);
        var serviceStatus = serviceDirectory.Combine("service.status");
        var clientStatus = Path.Combine(lab.Scratch.Path, "client.status");
        // Its own IPC namespace (the SysV segment lives there, as PrivateIPC=yes gives a unit), then nobody:
        // unshare and setpriv exec, so the PID spawn prints is the service's parent.
        var parent = await lab.SpawnAsync("a", "unshare", "--ipc", "setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--inh-caps=-all",
            shmservice, "serve", serviceStatus, ServiceAddress, Port, "64");
        await Eventually.WaitAsync(() => StatusFile.Number(serviceStatus, "workers") == 2, "the service's two workers");
        int[] workers = [(int)StatusFile.Number(serviceStatus, "worker1"), (int)StatusFile.Number(serviceStatus, "worker2")];
        var client = await lab.SpawnAsync("c", shmservice, "client", clientStatus, ServiceAddress, Port, "2");
        await StatusFile.WaitBeyondAsync(clientStatus, "requests", 200, "the client's first replies, from both workers");

        var result = await Lab.RunAsync(
            lab.Script, "run", "a", "--prefix", lab.Prefix, "--", Repository.Migrate, "--tcp-established",
            "--to", "10.77.0.2:7700", "--token-file", lab.TokenFile, "--work-dir", Path.Combine(lab.WorkDirectory, "src"),
            "--report", Path.Combine(lab.Scratch.Path, "report.json"), "--quiet", parent.Pid.ToString(CultureInfo.InvariantCulture));
        var route = await Lab.RunAsync(lab.Script, "service", "b", "--prefix", lab.Prefix);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(route.ExitCode == 0, route.ToString());
        // All three tasks run on B, as nobody, in one IPC namespace that is not the host's, the workers still the parent's children.
        int onB = await lab.AdoptOnAsync("b", parent.Pid);
        var workersOnB = new List<int>();
        foreach (var worker in workers)
        {
            workersOnB.Add(await lab.AdoptOnAsync("b", worker));
        }
        Assert.Equal(workersOnB.Order(), ProcFs.Children(onB).Order());
        var hostIpc = await Inode("/proc/self/ns/ipc");
        var serviceIpc = await Inode($"/proc/{onB}/ns/ipc");
        Assert.NotEqual(hostIpc, serviceIpc);
        foreach (var task in workersOnB.Prepend(onB))
        {
            Assert.Equal(await Inode($"/run/netns/{lab.Prefix}-b"), await Inode($"/proc/{task}/ns/net"));
            Assert.Equal(serviceIpc, await Inode($"/proc/{task}/ns/ipc"));
            var uids = File.ReadAllLines($"/proc/{task}/status").Single(line => line.StartsWith("Uid:", StringComparison.Ordinal));
            Assert.Equal(string.Join('\t', Enumerable.Repeat(Nobody.ToString(CultureInfo.InvariantCulture), 4)), uids["Uid:".Length..].Trim());
        }
        Assert.False(parent.IsAlive(), $"the service's source copy, PID {parent.Pid}, still runs");
        // The client goes on over both of its connections, then stops after a whole request.
        var requests = StatusFile.Number(clientStatus, "requests");
        await StatusFile.WaitBeyondAsync(clientStatus, "requests", requests + 200, "the client to go on over its connections to B");
        ProcFs.Signal(client.Pid, "TERM");
        await Eventually.WaitAsync(() => !client.IsAlive(), "the client to stop");
        var replies = StatusFile.Read(clientStatus)!;
        Assert.True(replies["connection"] == "open" && replies["bad"] == "0", $"client: {StatusFile.Describe(clientStatus)}");
        // Each connection was served by its own worker all along: whichever accepted it first.
        Assert.Equal(workers.Order(), replies["workers"].Split(',').Select(worker => int.Parse(worker, CultureInfo.InvariantCulture)).Order());
        // Over a new connection: both regions hold every value every request wrote, and the counter is the client's last reply.
        var check = await Lab.RunAsync(lab.Script, "run", "c", "--prefix", lab.Prefix, "--", shmservice, "check", ServiceAddress, Port);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Equal($"ok counter={replies["last"]}", check.Stdout.Trim());
        Assert.Equal("ok", StatusFile.Read(serviceStatus)!["verify"]);
        Assert.Equal(2UL, StatusFile.Number(serviceStatus, "workers"));
    }

    private static long RealtimeMicroseconds() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

    private static bool IsMountPoint(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ')[4] == path);

    /// <summary>The inode of what PATH leads to: a namespace's identity, for /run/netns files and /proc/PID/ns links alike.</summary>
    private static async Task<string> Inode(string path) => (await Lab.RunAsync("stat", "-L", "-c", "%i", path)).Stdout.Trim();

    [GeneratedRegex(@"start_us=(\d+)\s+len_us=(\d+)")]
    private static partial Regex GapLine();

    /// <summary>A process identified by its PID and its start time, so a reused PID is never taken for it.</summary>
    private sealed record LabProcess(int Pid, string StartTime)
    {
        public static LabProcess? Of(int pid) => StartTimeOf(pid) is { } start ? new LabProcess(pid, start) : null;

        public bool IsAlive() => StartTimeOf(Pid) == StartTime && ProcFs.State(Pid) is not (null or 'Z');

        public void Kill()
        {
            if (StartTimeOf(Pid) == StartTime)
            {
                ProcFs.Kill(Pid);
            }
        }

        private static string? StartTimeOf(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// A lab of a prefix of its own (so it meets no other lab on the machine),
    /// taken down on dispose whatever the test did, with every process the
    /// test started there ended by its PID first.
    /// </summary>
    private sealed class Lab : IAsyncDisposable
    {
        private readonly List<LabProcess> _processes = [];

        public string Prefix { get; } = "lt" + Guid.NewGuid().ToString("N")[..8];

        public string Script { get; } = Path.Combine(Repository.LabHosts, "hosts.sh");

        public TempDirectory Scratch { get; } = new("lab");

        public IReadOnlyList<string> Hosts => [$"{Prefix}-a", $"{Prefix}-b", $"{Prefix}-c"];

        public string StateDirectory => $"/run/migrate-lab/{Prefix}";

        public string WorkDirectory => $"/var/tmp/migrate-lab/{Prefix}";

        public string TokenFile => Path.Combine(StateDirectory, "token");

        public async Task UpAsync(params string[] options)
        {
            var up = await RunAsync(Script, ["up", "--prefix", Prefix, .. options]);
            Assert.True(up.ExitCode == 0, up.ToString());
        }

        public Task<ProcessOutcome> DownAsync() => RunAsync(Script, "down", "--prefix", Prefix);

        /// <summary>Starts PROGRAM detached on HOST (hosts.sh spawn) and keeps it to end.</summary>
        public async Task<LabProcess> SpawnAsync(string host, string program, params string[] arguments)
        {
            var spawn = await RunAsync(Script, ["spawn", host, "--prefix", Prefix, "--", program, .. arguments]);
            Assert.True(spawn.ExitCode == 0, spawn.ToString());
            return Adopt(int.Parse(spawn.Stdout.Trim(), CultureInfo.InvariantCulture));
        }

        /// <summary>Finds the process that is PID <paramref name="namespacePid"/> under HOST's agent (hosts.sh pid), keeps it to end, and gives its PID here.</summary>
        public async Task<int> AdoptOnAsync(string host, int namespacePid)
        {
            var found = await RunAsync(Script, "pid", host, namespacePid.ToString(CultureInfo.InvariantCulture), "--prefix", Prefix);
            Assert.True(found.ExitCode == 0, found.ToString());
            return Adopt(int.Parse(found.Stdout.Trim(), CultureInfo.InvariantCulture)).Pid;
        }

        private LabProcess Adopt(int pid)
        {
            var process = LabProcess.Of(pid) ?? throw new InvalidOperationException($"PID {pid} is gone already");
            _processes.Add(process);
            return process;
        }

        /// <summary>Both agents: unshare and migrate-target, from hosts.sh's state files ("UNSHARE START AGENT ADDRESS").</summary>
        public List<LabProcess> AgentProcesses()
        {
            var found = new List<LabProcess>();
            foreach (var letter in new[] { "a", "b" })
            {
                var fields = File.ReadAllText(Path.Combine(StateDirectory, $"agent-{letter}.state")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                found.Add(LabProcess.Of(int.Parse(fields[0], CultureInfo.InvariantCulture)) ?? throw new InvalidOperationException($"agent {letter}'s unshare is gone"));
                found.Add(LabProcess.Of(int.Parse(fields[2], CultureInfo.InvariantCulture)) ?? throw new InvalidOperationException($"agent {letter} is gone"));
            }
            return found;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var process in _processes)
            {
                process.Kill();
            }
            await DownAsync();
            Scratch.Dispose();
        }

        public static Task<ProcessOutcome> RunAsync(string program, params string[] arguments) =>
            ChildProcess.RunAsync(program, arguments, TimeSpan.FromMinutes(5));
    }
}
