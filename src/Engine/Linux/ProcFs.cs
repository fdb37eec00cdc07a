using System.Buffers;
using System.Globalization;
using System.Text;

namespace Migrate.Engine.Linux;

/// <summary>
/// What /proc says about processes (proc(5)). Each file has one reader here,
/// and every part of the engine reads it through that reader. A process that
/// is gone (no directory, or ESRCH while reading) reads as null or empty,
/// never as an exception.
/// </summary>
public static partial class ProcFs
{
    /// <summary>Microseconds since boot, from /proc/uptime ("SECONDS.FRACTION IDLE").</summary>
    public static ulong UptimeMicroseconds()
    {
        var seconds = File.ReadAllText("/proc/uptime").Split(' ')[0];
        return (ulong)(decimal.Parse(seconds, CultureInfo.InvariantCulture) * 1_000_000);
    }

    /// <summary>Whether a process or thread <paramref name="pid"/> exists (it may be a zombie).</summary>
    public static bool Exists(int pid) => Directory.Exists(PidDirectory(pid));

    /// <summary>Every PID /proc lists: processes, not their threads.</summary>
    public static IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Select(name => int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : 0)
            .Where(pid => pid > 0);

    /// <summary>The thread IDs of process <paramref name="pid"/>, in /proc's order (the leader first); empty when it has gone.</summary>
    public static IReadOnlyList<int> Threads(int pid)
    {
        try
        {
            return Directory.GetDirectories(Path.Combine(PidDirectory(pid), "task"))
                .Select(task => int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture))
                .ToList();
        }
        catch (Exception e) when (IsGone(e))
        {
            return [];
        }
    }

    /// <summary>
    /// The PID /proc/self names: this process's PID in the PID namespace of
    /// the procfs mounted on /proc, or null if that namespace cannot see it.
    /// </summary>
    public static string? Self() => new FileInfo("/proc/self").LinkTarget;

    /// <summary>/proc/sys/kernel/osrelease: the running kernel's release, as uname -r prints it.</summary>
    public static string KernelRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    /// <summary>A random ID the kernel makes at each boot: two processes that read the same one run on one kernel.</summary>
    public static string BootId() => File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();

    /// <summary>/proc/PID/comm: the command name, or null when the process has gone.</summary>
    public static string? Command(int pid) => ReadText(pid, "comm")?.Trim();

    /// <summary>/proc/PID/cmdline: the arguments joined by spaces; empty for kernel threads, zombies and processes that have gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return (ReadText(pid, "cmdline") ?? "").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            // A process that is exiting may answer anything while its memory goes.
            return "";
        }
    }

    /// <summary>/proc/PID/cwd: the working directory, or null when it cannot be read.</summary>
    public static string? WorkingDirectory(int pid) => ReadLink(Path.Combine(PidDirectory(pid), "cwd"));

    /// <summary>/proc/PID/ns/KIND: the namespace's identity, as "ipc:[4026531839]", or null when it cannot be read.</summary>
    public static string? Namespace(int pid, string kind) => ReadLink(Path.Combine(PidDirectory(pid), "ns", kind));

    internal static string PidDirectory(int pid) => "/proc/" + pid.ToString(CultureInfo.InvariantCulture);

    /// <summary>An error that says the process (or thread) has gone: no directory, or ESRCH from a file opened before it went.</summary>
    internal static bool IsGone(Exception e) =>
        e is FileNotFoundException or DirectoryNotFoundException || (e is IOException io && io.HResult == (int)Errno.ESRCH);

    private static string? ReadLink(string link)
    {
        try
        {
            return new FileInfo(link).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadText(int pid, string file) => ReadText(Path.Combine(PidDirectory(pid), file));

    /// <summary>The whole file as UTF-8 text, or null when its process has gone.</summary>
    private static string? ReadText(string path)
    {
        using var buffer = new FileBuffer();
        return buffer.TryRead(path) ? Encoding.UTF8.GetString(buffer.Content) : null;
    }

    /// <summary>
    /// Reads a file known to be small (stat, status) into <paramref name="buffer"/>.
    /// Returns its length, or -1 when its process has gone.
    /// </summary>
    internal static int ReadSmall(string path, Span<byte> buffer)
    {
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            int length = 0;
            while (length < buffer.Length)
            {
                int read = RandomAccess.Read(file, buffer[length..], length);
                if (read == 0)
                {
                    return length;
                }
                length += read;
            }
            throw new InvalidDataException($"{path}: longer than the {buffer.Length} bytes expected");
        }
        catch (Exception e) when (IsGone(e))
        {
            return -1;
        }
    }

    /// <summary>
    /// A pooled buffer that holds one /proc file at a time. /proc files report
    /// no size, so the buffer grows until a read comes back empty.
    /// </summary>
    internal sealed class FileBuffer : IDisposable
    {
        private byte[] _bytes = ArrayPool<byte>.Shared.Rent(16384);
        private int _length;

        public ReadOnlySpan<byte> Content => _bytes.AsSpan(0, _length);

        /// <summary>Reads the whole file; false when its process has gone.</summary>
        public bool TryRead(string path)
        {
            _length = 0;
            try
            {
                using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                while (true)
                {
                    if (_length == _bytes.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent(_bytes.Length * 2);
                        _bytes.AsSpan(0, _length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(_bytes);
                        _bytes = larger;
                    }
                    int read = RandomAccess.Read(file, _bytes.AsSpan(_length), _length);
                    if (read == 0)
                    {
                        return true;
                    }
                    _length += read;
                }
            }
            catch (Exception e) when (IsGone(e))
            {
                _length = 0;
                return false;
            }
        }

        public void Dispose()
        {
            if (_bytes.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_bytes);
                _bytes = [];
            }
        }
    }
}
