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
        Assert.Equal(CheckVerdict.Pass, ProcessFiles.Verify(files).Verdict);
    }

    [Fact]
    public void A_changed_file_is_named_by_path()
    {
        var data = _directory.Combine("data.txt");
        File.WriteAllText(data, "read me");
        using var reader = StartHolding(data);
        var files = ProcessFiles.Collect([reader.Id]);

        File.SetLastWriteTimeUtc(data, DateTime.UtcNow.AddMinutes(-5));

        var check = ProcessFiles.Verify(files);
        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains(data, check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_size_and_time_with_other_content_fails_for_code()
    {
        var tail = new FileInfo("/usr/bin/tail");
        var fact = new FileFact("/usr/bin/tail", (ulong)tail.Length, (tail.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100, new byte[16], Writable: false, Directory: false);

        var check = ProcessFiles.Verify([fact]);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("other content", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relative/path")]
    [InlineData("/dev/null")]
    [InlineData("/proc/self/maps")]
    public void Paths_a_peer_should_not_send_are_refused(string path)
    {
        var check = ProcessFiles.Verify([new FileFact(path, 0, 0, ReadOnlyMemory<byte>.Empty, Writable: false, Directory: false)]);

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
    public void A_taken_pid_is_named_with_its_command()
    {
        var taken = PidCheck.Verify([Environment.ProcessId], "at restore");

        Assert.Equal(CheckVerdict.Fail, taken.Verdict);
        Assert.StartsWith("at restore: ", taken.Detail, StringComparison.Ordinal);
        Assert.Contains(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), taken.Detail, StringComparison.Ordinal);
        var free = PidCheck.Verify([int.MaxValue - 7], "pre-flight");
        Assert.Equal(CheckVerdict.Pass, free.Verdict);
        Assert.Equal("pre-flight: 1 PID of the tree free in the target's PID namespace", free.Detail);
    }

    public void Dispose() => _directory.Dispose();

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
