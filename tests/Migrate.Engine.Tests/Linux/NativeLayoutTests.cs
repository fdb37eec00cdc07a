using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Linux;

/// <summary>
/// The structs and constants the engine declares for its system calls, against
/// the C headers: a small C program prints each size, offset and value as gcc
/// sees them (as Tmds.LibC's StructTests do). Every ALL_CAPS constant of
/// <see cref="Interop"/> and <see cref="Signals"/> and every <see cref="Errno"/>
/// is checked by its own name, so a constant added later is checked too.
/// </summary>
public sealed class NativeLayoutTests : IDisposable
{
    private const string Headers = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <linux/fs.h>
        #include <linux/kcmp.h>
        #include <linux/netlink.h>
        #include <linux/sock_diag.h>
        #include <linux/userfaultfd.h>
        #include <poll.h>
        #include <sched.h>
        #include <signal.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <sys/mman.h>
        #include <sys/prctl.h>
        #include <sys/ptrace.h>
        #include <sys/socket.h>
        #include <sys/stat.h>
        #include <sys/syscall.h>
        #include <sys/uio.h>
        #include <sys/wait.h>
        """;

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Every_constant_has_the_value_of_the_C_macro_of_its_name()
    {
        var constants = NamedConstants(typeof(Interop))
            .Concat(NamedConstants(typeof(Signals)))
            .Concat(Enum.GetValues<Errno>().Select(errno => (errno.ToString(), (long)errno)))
            .ToList();
        Assert.Contains(constants, constant => constant.Item1 == "__WALL");

        AssertMatchesC(constants);
    }

    [Fact]
    public void System_call_numbers_are_the_headers_own()
    {
        AssertMatchesC(
        [
            ("SYS_pidfd_open", Interop.SyscallNumbers.PidfdOpen),
            ("SYS_pidfd_send_signal", Interop.SyscallNumbers.PidfdSendSignal),
            ("SYS_pidfd_getfd", Interop.SyscallNumbers.PidfdGetfd),
        ]);
    }

    [Fact]
    public void Structs_have_the_C_sizes_and_offsets()
    {
        AssertMatchesC(
        [
            .. Layout<Interop.IoVec>("struct iovec", ("Base", "iov_base"), ("Length", "iov_len")),
            .. Layout<Interop.PollFd>("struct pollfd", ("Fd", "fd"), ("Events", "events"), ("ReturnedEvents", "revents")),
            .. Layout<Interop.StatxBuffer>("struct statx", ("Mask", "stx_mask"), ("Uid", "stx_uid"), ("Mode", "stx_mode"), ("Links", "stx_nlink"), ("Size", "stx_size"), ("Blocks", "stx_blocks"),
                ("MtimeSeconds", "stx_mtime.tv_sec"), ("MtimeNanoseconds", "stx_mtime.tv_nsec")),
        ]);
    }

    [Fact]
    public void The_architecture_s_own_open_flags_match_the_headers()
    {
        // Not a constant: its value differs between architectures (asm/fcntl.h).
        AssertMatchesC([("O_NOFOLLOW", Interop.O_NOFOLLOW)]);
    }

    /// <summary>sizeof and offsetof of <typeparamref name="T"/> for each (C# field, C member).</summary>
    internal static IEnumerable<(string C, long Value)> Layout<T>(string cType, params (string Field, string Member)[] fields)
        where T : struct
    {
        yield return ($"sizeof({cType})", Unsafe.SizeOf<T>());
        foreach (var (field, member) in fields)
        {
            yield return ($"offsetof({cType}, {member})", Marshal.OffsetOf<T>(field));
        }
    }

    /// <summary>The const fields named as C macros are, in <paramref name="type"/> and the types nested in it.</summary>
    internal static IEnumerable<(string C, long Value)> NamedConstants(Type type) =>
        type.GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public)
            .SelectMany(NamedConstants)
            .Concat(type.GetFields(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
                .Where(field => field.IsLiteral && field.Name.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_'))
                .Select(field => (field.Name, Convert.ToInt64(field.GetRawConstantValue(), CultureInfo.InvariantCulture))));

    /// <summary>Compiles a program that prints each C expression and compares it with the value declared here.</summary>
    internal void AssertMatchesC(IReadOnlyList<(string C, long Value)> expected, string extraHeaders = "")
    {
        var program = Headers + "\n" + extraHeaders + "\nint main(void)\n{\n" +
            string.Concat(expected.Select(e => Print(e.C))) + "\treturn 0;\n}\n";
        var source = _directory.Combine("layout.c");
        var binary = _directory.Combine("layout");
        File.WriteAllText(source, program);
        Run("gcc", "-Wall", "-Werror", "-o", binary, source);
        var actual = Run(binary).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(expected.Count, actual.Length);
        var undefined = expected.Zip(actual).Where(pair => pair.Second == Undefined).Select(pair => pair.First.C).ToList();
        var mismatches = expected.Zip(actual)
            .Where(pair => pair.Second != Undefined && pair.First.Value != long.Parse(pair.Second, CultureInfo.InvariantCulture))
            .Select(pair => $"{pair.First.C}: C says {pair.Second}, C# says {pair.First.Value}")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
    }

    private const string Undefined = "undefined";

    /// <summary>
    /// Linux 6.7 uapi (PAGEMAP_SCAN, asynchronous userfaultfd write-protect),
    /// newer than the kernel headers Debian 12 installs (linux-libc-dev 6.1).
    /// Where the headers lack them they are not compared; the write-protect
    /// tracker's integration tests use them against the running kernel, which
    /// refuses a wrong ioctl number or feature bit.
    /// </summary>
    private static readonly HashSet<string> NewerThanTheseHeaders =
    [
        "PAGEMAP_SCAN", "PM_SCAN_WP_MATCHING", "PM_SCAN_CHECK_WPASYNC", "PAGE_IS_WPALLOWED", "PAGE_IS_WRITTEN",
        "PAGE_IS_PRESENT", "PAGE_IS_SWAPPED", "UFFD_FEATURE_WP_UNPOPULATED", "UFFD_FEATURE_WP_ASYNC",
    ];

    /// <summary>A line that prints <paramref name="c"/>'s value; for one of <see cref="NewerThanTheseHeaders"/> they lack, <see cref="Undefined"/>.</summary>
    private static string Print(string c)
    {
        var print = $"\tprintf(\"%lld\\n\", (long long)({c}));\n";
        // Only macros can be asked for with #ifdef: others (glibc's ptrace requests, KCMP_*) are enum members.
        return NewerThanTheseHeaders.Contains(c) ? $"#ifdef {c}\n{print}#else\n\tputs(\"{Undefined}\");\n#endif\n" : print;
    }

    private static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed:\n{stderr}");
        return stdout.Result;
    }
}
