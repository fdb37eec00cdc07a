using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Migrate.Engine.Interop;

namespace Migrate.Engine.Tests.Interop;

/// <summary>The layouts and constants the interop declares, against this machine's C headers, compiled by gcc.</summary>
public sealed class StructLayoutTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void Statx_and_the_open_flags_match_the_headers()
    {
        var c = _directory.Combine("layout.c");
        File.WriteAllText(c, """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <sys/stat.h>
            int main(void) {
                printf("%zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct statx), offsetof(struct statx, stx_mask),
                       offsetof(struct statx, stx_uid), offsetof(struct statx, stx_mode), offsetof(struct statx, stx_size),
                       offsetof(struct statx, stx_mtime.tv_sec), offsetof(struct statx, stx_mtime.tv_nsec));
                printf("%d %d %d %d %d %d\n", O_NOCTTY, O_NONBLOCK, O_CLOEXEC, O_PATH, O_NOFOLLOW, AT_EMPTY_PATH);
                return 0;
            }
            """);
        Run("gcc", "-o", _directory.Combine("layout"), c);
        var lines = Run(_directory.Combine("layout")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        static long Offset(string field) => Marshal.OffsetOf<Linux.StatxBuffer>(field).ToInt64();
        long[] declared = [Marshal.SizeOf<Linux.StatxBuffer>(), Offset("Mask"), Offset("Uid"), Offset("Mode"), Offset("Size"), Offset("MtimeSeconds"), Offset("MtimeNanoseconds")];
        Assert.Equal(string.Join(' ', declared), lines[0]);
        Assert.Equal(string.Join(' ', Linux.O_NOCTTY, Linux.O_NONBLOCK, Linux.O_CLOEXEC, Linux.O_PATH, Linux.O_NOFOLLOW, Linux.AT_EMPTY_PATH), lines[1]);
    }

    public void Dispose() => _directory.Dispose();

    private static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, string.Create(CultureInfo.InvariantCulture, $"{program} exited {process.ExitCode}: {errors}"));
        return output;
    }
}
