using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>
/// The Debian package, as an operator uses it: built with scripts/package.sh,
/// installed with apt, the service's command started as its unit says,
/// a process migrated with the installed programs alone, then removed and
/// purged, leaving nothing running and nothing behind that Debian would not keep.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed partial class PackageTests(Workloads workloads)
{
    private const string Unit = "/lib/systemd/system/migrate-target.service";
    private const string ConfigFile = "/etc/migrate/migrate-target.conf";
    private const string StateDirectory = "/var/lib/migrate-target";
    private const string TokenFile = "/etc/migrate/token";
    private static readonly TimeSpan AptTimeout = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task The_package_installs_runs_a_migration_as_its_unit_says_and_removes_cleanly()
    {
        // The test purges the package: it must not be the operator's.
        Assert.False(Installed(), "migrate is installed on this host; the package test installs and purges it, so it does not run here");
        Assert.False(Directory.Exists("/etc/migrate") || Directory.Exists(StateDirectory), "/etc/migrate or /var/lib/migrate-target exists; the package test would purge it");

        var built = await ChildProcess.RunAsync(Path.Combine(Repository.Root, "scripts", "package.sh"), [], TimeSpan.FromMinutes(30));
        Assert.True(built.ExitCode == 0, built.ToString());
        var deb = built.Stdout.Trim().Split('\n')[^1];
        Assert.Matches(@"/dist/migrate_[0-9][^_]*_[a-z0-9]+\.deb$", deb);

        UnitProcess? agent = null;
        try
        {
            await AptAsync("install", deb);
            var shipped = (await RunAsync("dpkg", "-L", "migrate")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

            // Both agents on PATH, saying the package's version and the bundled CRIU.
            var version = (await RunAsync("dpkg-query", "-W", "-f=${Version}", "migrate")).Stdout;
            foreach (var program in new[] { "migrate", "migrate-target" })
            {
                var said = (await RunAsync($"/usr/bin/{program}", "--version")).Stdout;
                Assert.StartsWith($"{program} {version}\n", said, StringComparison.Ordinal);
                Assert.Matches(@"\ncriu 4\.\d+\.\d+ \(/usr/lib/migrate/criu\)", said);

                // A man page, made from the program's --help: each option it lists is in there.
                var manPage = $"/usr/share/man/man8/{program}.8.gz";
                Assert.Contains(manPage, shipped);
                var page = (await RunAsync("gzip", "-dc", manPage)).Stdout.Replace("\\-", "-", StringComparison.Ordinal);
                var help = (await RunAsync($"/usr/bin/{program}", "--help")).Stdout;
                Assert.All(OptionName().Matches(help).Select(match => match.Value), option => Assert.Contains(option, page, StringComparison.Ordinal));
            }
            // systemd-analyze comes with setup.sh's systemd package, whether or not systemd runs here.
            await RunAsync("systemd-analyze", "verify", Unit);

            // As an operator would: the listen address in the configuration file, then start the service.
            await File.WriteAllTextAsync(ConfigFile, Regex.Replace(await File.ReadAllTextAsync(ConfigFile), "(?m)^listen = .*$", "listen = 127.0.0.1:0"));
            agent = await UnitProcess.StartAsync(Unit);
            // The token file to copy to sources, and beside it the agent's key and operator secret: root's alone.
            foreach (var file in new[] { TokenFile, TokenFile + ".key", TokenFile + ".operator" })
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(StateDirectory));

            using var counter = await Counter.StartAsync(workloads, bufferMiB: 16);
            var check = await RunAsync("/usr/bin/migrate", "check", "--to", agent.Address, counter.Pid.ToString());
            Assert.Contains($"can migrate to {agent.Address}", check.Stdout, StringComparison.Ordinal);
            using var reportDirectory = new TempDirectory("package-report");
            var migrated = await RunAsync("/usr/bin/migrate", "--to", agent.Address, "--report", reportDirectory.Combine("report.json"), counter.Pid.ToString());
            Assert.Contains("migrate: migrated PID", migrated.Stdout, StringComparison.Ordinal);
            await counter.WaitForProgressAsync();

            // The journal's format: a syslog priority on every log line, and the session on every line about one.
            var session = Regex.Match(migrated.Stdout, @"session\s+([0-9a-f]{32})").Groups[1].Value;
            Assert.NotEmpty(session);
            var logLines = agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => !line.StartsWith("migrate-target: listening on", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(logLines);
            Assert.All(logLines, line => Assert.Matches(@"^<[0-7]>", line));
            // migrate check opened a session of its own, so not every line names the migration's.
            var aboutSessions = logLines.Where(line => line.Contains("Session", StringComparison.Ordinal)).ToList();
            Assert.All(aboutSessions, line => Assert.Matches(@"\b[0-9a-f]{32}\b", line));
            Assert.Contains(aboutSessions, line => line.Contains(session, StringComparison.Ordinal) && line.Contains("committed", StringComparison.Ordinal));

            // Removal stops the agent (its namespace and the migrated process end with it) and keeps the configuration.
            await AptAsync("remove", "migrate");
            await Eventually.WaitAsync(() => agent.HasExited, "apt remove to stop the target agent");
            Assert.Empty(ProcessesRunningFrom("/usr/lib/migrate/"));
            Assert.True(File.Exists(ConfigFile), "apt remove should keep the configuration");
            var left = shipped.Where(path => File.Exists(path) || (Directory.Exists(path) && !SharedDirectory(path))).ToList();
            Assert.All(left, path => Assert.True(path.StartsWith("/etc/migrate", StringComparison.Ordinal) || path.StartsWith(StateDirectory, StringComparison.Ordinal),
                $"{path} is left after apt remove"));

            await AptAsync("purge", "migrate");
            Assert.False(Installed());
            Assert.False(Directory.Exists("/etc/migrate"), "apt purge should remove /etc/migrate");
            Assert.False(Directory.Exists(StateDirectory), "apt purge should remove the state");
        }
        finally
        {
            if (agent is not null)
            {
                await agent.DisposeAsync();
            }
            if (Installed() || Directory.Exists("/etc/migrate") || Directory.Exists(StateDirectory))
            {
                await ChildProcess.RunAsync("apt-get", ["purge", "-y", "-o", "DPkg::Lock::Timeout=300", "migrate"], AptTimeout, Noninteractive);
            }
            // Neither existed before the test (checked above): whatever a failed purge left is the test's own.
            foreach (var directory in new[] { "/etc/migrate", StateDirectory }.Where(Directory.Exists))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [GeneratedRegex(@"(?m)(?<=^  )--[a-z-]+")]
    private static partial Regex OptionName();

    private static readonly Dictionary<string, string> Noninteractive = new() { ["DEBIAN_FRONTEND"] = "noninteractive" };

    /// <summary>Installed, as opposed to unknown or removed with its configuration kept ("deinstall ok config-files").</summary>
    private static bool Installed() =>
        ChildProcess.RunAsync("dpkg-query", ["-W", "-f=${Status}", "migrate"], TimeSpan.FromMinutes(1)).GetAwaiter().GetResult()
            .Stdout.Contains("ok installed", StringComparison.Ordinal);

    /// <summary>Directories other packages have too: dpkg leaves them, rightly.</summary>
    private static bool SharedDirectory(string path) =>
        path is "/." or "/etc" or "/lib" or "/lib/systemd" or "/lib/systemd/system" or "/usr" or "/usr/bin" or "/usr/lib" or "/usr/share" or "/usr/share/doc" or "/usr/share/man" or "/usr/share/man/man8" or "/var" or "/var/lib";

    private static async Task AptAsync(string action, string package)
    {
        var run = await ChildProcess.RunAsync("apt-get", [action, "-y", "-q", "-o", "DPkg::Lock::Timeout=300", package], AptTimeout, Noninteractive);
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    private static async Task<ProcessOutcome> RunAsync(string program, params string[] arguments)
    {
        var run = await ChildProcess.RunAsync(program, arguments, TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.ToString());
        return run;
    }

    /// <summary>Processes whose executable lies under <paramref name="directory"/>, deleted or not.</summary>
    private static List<int> ProcessesRunningFrom(string directory) =>
        Directory.EnumerateDirectories("/proc")
            .Select(path => int.TryParse(Path.GetFileName(path), out int pid) ? pid : 0)
            .Where(pid => pid > 0)
            .Where(pid =>
            {
                try
                {
                    // Kernel threads have no executable, and a process may end while this looks.
                    return new FileInfo($"/proc/{pid}/exe").LinkTarget?.StartsWith(directory, StringComparison.Ordinal) == true;
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            })
            .ToList();

    /// <summary>
    /// The unit's ExecStart run as systemd runs it for Type=notify with
    /// UMask=0077: this machine's PID 1 is not systemd. The readiness message
    /// arrives on a socket of the test's, as NOTIFY_SOCKET names it.
    /// </summary>
    private sealed partial class UnitProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly Socket _notify;
        private readonly TempDirectory _directory;

        private UnitProcess(Process process, Socket notify, TempDirectory directory)
        {
            _process = process;
            _notify = notify;
            _directory = directory;
        }

        public string Address { get; private set; } = "";

        public bool HasExited => _process.HasExited;

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

        public static async Task<UnitProcess> StartAsync(string unitFile)
        {
            var execStart = File.ReadAllLines(unitFile).Single(line => line.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..];
            Assert.Contains("UMask=0077", await File.ReadAllTextAsync(unitFile), StringComparison.Ordinal);
            Assert.Contains("Type=notify", await File.ReadAllTextAsync(unitFile), StringComparison.Ordinal);
            var directory = new TempDirectory("notify");
            var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            notify.Bind(new UnixDomainSocketEndPoint(directory.Combine("notify")));
            var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
            // The command has no quoting (systemd.service(5) would allow it): split on blanks.
            foreach (var argument in (string[])["-c", "umask 0077 && exec \"$@\"", "sh", .. execStart.Split(' ', StringSplitOptions.RemoveEmptyEntries)])
            {
                start.ArgumentList.Add(argument);
            }
            start.Environment["NOTIFY_SOCKET"] = directory.Combine("notify");
            var unit = new UnitProcess(Process.Start(start)!, notify, directory);
            unit._process.OutputDataReceived += (_, e) => unit.Append(e.Data);
            unit._process.ErrorDataReceived += (_, e) => unit.Append(e.Data);
            unit._process.BeginOutputReadLine();
            unit._process.BeginErrorReadLine();
            try
            {
                var buffer = new byte[4096];
                using var ready = new CancellationTokenSource(Eventually.DefaultTimeout);
                string message;
                do
                {
                    int length = await notify.ReceiveAsync(buffer, SocketFlags.None, ready.Token);
                    message = Encoding.UTF8.GetString(buffer, 0, length);
                }
                while (!message.Split('\n').Contains("READY=1"));
                var port = await Eventually.WaitAsync(() => ListeningLine().Match(unit.Output) is { Success: true } match ? match.Groups[1].Value : null, "the agent's listening line");
                unit.Address = $"127.0.0.1:{port}";
                return unit;
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
                await unit.DisposeAsync();
                throw new TimeoutException("the unit's command sent no READY=1:\n" + unit.Output, e);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                // Only when the test failed before apt remove stopped it: the agent's namespace ends with it.
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync();
            _process.Dispose();
            _notify.Dispose();
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
}
