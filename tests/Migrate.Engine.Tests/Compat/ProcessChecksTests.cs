using System.Diagnostics;
using Migrate.Engine.Compat;

namespace Migrate.Engine.Tests.Compat;

/// <summary>The checks that read /proc: files, capabilities, PIDs.</summary>
public sealed class ProcessChecksTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void The_files_a_process_uses_are_collected_with_hashes_for_its_code()
    {
        var data = _directory.Combine("data.txt");
        File.WriteAllText(data, "read me");
        using var reader = StartHolding(data);

        var files = ProcessFiles.Collect([reader.Id]);

        var held = Assert.Single(files, file => file.Path == data);
        Assert.False(held.Writable);
        Assert.Equal(7ul, held.Size);
        Assert.True(held.ContentHash.IsEmpty);
        var executable = Assert.Single(files, file => file.Path == "/usr/bin/tail");
        Assert.False(executable.ContentHash.IsEmpty);
        Assert.Equal(CheckVerdict.Pass, Verify(files).Verdict);
    }

    [Fact]
    public void A_symbolic_link_the_process_holds_itself_is_collected_as_a_link_and_must_be_the_same_link_on_the_target()
    {
        var file = _directory.Combine("file");
        File.WriteAllText(file, "x");
        var link = _directory.Combine("link");
        File.CreateSymbolicLink(link, file);
        // As zdtm's symlink test holds it: the link itself, not what it points to.
        using var held = Engine.Linux.FileLocation.Open(link);

        var fact = Assert.Single(ProcessFiles.Collect([Environment.ProcessId]), fact => fact.Path == link);

        Assert.Equal(file, fact.LinkTarget);
        Assert.Equal(CheckVerdict.Pass, Verify([fact]).Verdict);
        File.Delete(link);
        File.CreateSymbolicLink(link, _directory.Combine("elsewhere"));
        Assert.Equal($"{link} is a symbolic link to elsewhere on the target", Verify([fact]).Detail);
        File.Delete(link);
        File.WriteAllText(link, "x");
        Assert.Equal($"{link} is not a symbolic link on the target", Verify([fact]).Detail);
    }

    [Fact]
    public void A_changed_file_is_named_by_path()
    {
        var data = _directory.Combine("data.txt");
        File.WriteAllText(data, "read me");
        using var reader = StartHolding(data);
        var files = ProcessFiles.Collect([reader.Id]);

        File.SetLastWriteTimeUtc(data, DateTime.UtcNow.AddMinutes(-5));

        var check = Verify(files);
        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains(data, check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mismatch_names_the_path_and_never_the_target_s_size_or_time()
    {
        var data = _directory.Combine("data.txt");
        File.WriteAllText(data, "twelve bytes");
        var when = new DateTime(2021, 3, 4, 5, 6, 7, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(data, when);

        var size = Verify([Fact(data, size: 99, mtimeNs: NanosecondsOf(when))]);
        var time = Verify([Fact(data, size: 12, mtimeNs: NanosecondsOf(when) + 1000)]);

        Assert.Equal(CheckVerdict.Fail, size.Verdict);
        Assert.Equal($"{data} has another size on the target", size.Detail);
        Assert.Equal(CheckVerdict.Fail, time.Verdict);
        Assert.Equal($"{data} has another modification time on the target", time.Detail);
        Assert.All(new[] { size, time }, check => Assert.DoesNotContain("2021", check.Detail + check.Remedy, StringComparison.Ordinal));
        Assert.Equal(CheckVerdict.Pass, Verify([Fact(data, size: 12, mtimeNs: NanosecondsOf(when))]).Verdict);
    }

    [Fact]
    public async Task A_fifo_named_as_a_file_fails_at_once_without_blocking_on_it()
    {
        var fifo = _directory.Combine("fifo");
        Run("mkfifo", fifo);
        File.SetLastWriteTimeUtc(fifo, SomeTime);

        // Opened for reading, a FIFO without a writer blocks for ever; the check must not. Its size and
        // time match, so only the refusal to open it stands between the check and the hash.
        var check = await Task.Run(() => Verify([Fact(fifo, size: 0, mtimeNs: NanosecondsOf(SomeTime), hashed: true)]))
            .WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal($"{fifo} is not a regular file on the target", check.Detail);
    }

    [Fact]
    public void A_device_node_named_as_a_file_fails_without_being_opened()
    {
        // /dev/zero's numbers (Documentation/admin-guide/devices.txt), at a path the check accepts.
        var device = _directory.Combine("zero");
        Run("mknod", device, "c", "1", "5");
        File.SetLastWriteTimeUtc(device, SomeTime);

        // Read, /dev/zero's driver would answer zeros for ever; its size and time match.
        var check = Verify([Fact(device, size: 0, mtimeNs: NanosecondsOf(SomeTime), hashed: true)]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal($"{device} is not a regular file on the target", check.Detail);
    }

    [Fact]
    public async Task A_fifo_the_process_holds_is_compared_by_size_and_time_without_being_opened()
    {
        // CRIU reopens a named FIFO by its path at restore (criu/fifo.c): it must be there, but is never read.
        var fifo = _directory.Combine("fifo");
        Run("mkfifo", fifo);
        File.SetLastWriteTimeUtc(fifo, SomeTime);

        var same = await Task.Run(() => Verify([Fact(fifo, size: 0, mtimeNs: NanosecondsOf(SomeTime))])).WaitAsync(TimeSpan.FromSeconds(30));
        var other = Verify([Fact(fifo, size: 0, mtimeNs: NanosecondsOf(SomeTime) + 1000)]);

        Assert.Equal(CheckVerdict.Pass, same.Verdict);
        Assert.Equal($"{fifo} has another modification time on the target", other.Detail);
    }

    [Fact]
    public void A_symbolic_link_is_not_followed()
    {
        var data = _directory.Combine("data.txt");
        File.WriteAllText(data, "read me");
        var link = _directory.Combine("link.txt");
        File.CreateSymbolicLink(link, data);
        var info = new FileInfo(data);

        var check = Verify([Fact(link, (ulong)info.Length, NanosecondsOf(info.LastWriteTimeUtc))]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal($"{link} is a symbolic link on the target", check.Detail);
    }

    [Fact]
    public void Hashing_stops_at_the_byte_limit()
    {
        var tail = ProcessFiles.Collect([Environment.ProcessId]).First(file => !file.ContentHash.IsEmpty);

        var check = ProcessFiles.Verify([tail], maxHashBytes: (long)tail.Size - 1, CancellationToken.None);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("past what the target hashes", check.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, ProcessFiles.Verify([tail], maxHashBytes: (long)tail.Size, CancellationToken.None).Verdict);
    }

    [Fact]
    public void A_cancelled_check_stops()
    {
        var files = ProcessFiles.Collect([Environment.ProcessId]);

        Assert.Throws<OperationCanceledException>(() => ProcessFiles.Verify(files, 1L << 32, new CancellationToken(canceled: true)));
    }

    [Fact]
    public void The_same_size_and_time_with_other_content_fails_for_code()
    {
        var tail = new FileInfo("/usr/bin/tail");
        var fact = new FileFact("/usr/bin/tail", (ulong)tail.Length, (tail.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100, new byte[16], Writable: false, Directory: false);

        var check = Verify([fact]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("other content", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relative/path")]
    [InlineData("/dev/null")]
    [InlineData("/proc/self/maps")]
    public void Paths_a_peer_should_not_send_are_refused(string path)
    {
        var check = Verify([new FileFact(path, 0, 0, ReadOnlyMemory<byte>.Empty, Writable: false, Directory: false)]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
    }

    [Fact]
    public void A_capability_the_target_cannot_grant_is_named()
    {
        const int CapSysAdmin = 21;
        ulong ours = ProcessCapabilities();
        Assert.True((ours & (1UL << CapSysAdmin)) != 0, "these tests run as root");

        var check = Capabilities.Compare([Environment.ProcessId], ours & ~(1UL << CapSysAdmin));

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("cap_sys_admin", check.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, Capabilities.Compare([Environment.ProcessId], ours).Verdict);
    }

    [Fact]
    public void A_taken_pid_is_named_without_what_holds_it_on_the_target()
    {
        var taken = PidCheck.Verify([Environment.ProcessId], "at restore");

        Assert.Equal(CheckVerdict.Fail, taken.Verdict);
        Assert.Equal($"at restore: PID {Environment.ProcessId} is taken on the target", taken.Detail);
        var free = PidCheck.Verify([int.MaxValue - 7], "pre-flight");
        Assert.Equal(CheckVerdict.Pass, free.Verdict);
        Assert.Equal("pre-flight: 1 PID of the tree free in the target's PID namespace", free.Detail);
    }

    public void Dispose() => _directory.Dispose();

    private static readonly DateTime SomeTime = new(2021, 3, 4, 5, 6, 7, DateTimeKind.Utc);

    private static CheckResult Verify(IReadOnlyList<FileFact> files) => ProcessFiles.Verify(files, 1L << 32, CancellationToken.None);

    private static FileFact Fact(string path, ulong size, long mtimeNs, bool hashed = false) =>
        new(path, size, mtimeNs, hashed ? new byte[16] : ReadOnlyMemory<byte>.Empty, Writable: false, Directory: false);

    private static long NanosecondsOf(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks * 100;

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program}: {errors}");
    }

    private static ulong ProcessCapabilities() =>
        ulong.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:", StringComparison.Ordinal))[7..].Trim(),
            System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A process that holds <paramref name="path"/> open for reading until disposed.</summary>
    private static Holder StartHolding(string path)
    {
        var process = Process.Start(new ProcessStartInfo("/usr/bin/tail") { ArgumentList = { "-f", path }, RedirectStandardOutput = true })!;
        var holder = new Holder(process);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Directory.GetFiles($"/proc/{process.Id}/fd").Any(fd => new FileInfo(fd).LinkTarget == path))
        {
            Assert.True(DateTime.UtcNow < deadline, "tail did not open the file");
            Thread.Sleep(10);
        }
        return holder;
    }

    private sealed class Holder(Process process) : IDisposable
    {
        public int Id => process.Id;

        public void Dispose()
        {
            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
    }
}
