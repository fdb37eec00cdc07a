using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

public static partial class ProcFs
{
    /// <summary>
    /// /proc/PID/pagemap, open: one 64-bit entry per virtual page
    /// (Documentation/admin-guide/mm/pagemap.rst). The descriptor names the
    /// process's memory as it was at open: after an exec it reads nothing.
    /// </summary>
    public sealed class Pagemap : IDisposable
    {
        public const ulong Present = 1UL << 63;
        public const ulong Swapped = 1UL << 62;

        /// <summary>The page is a page of the mapped file, or shared anonymous memory: not a private copy.</summary>
        public const ulong FilePage = 1UL << 61;

        private Pagemap(int pid, SafeFileHandle file)
        {
            Pid = pid;
            File = file;
        }

        public int Pid { get; }

        internal SafeFileHandle File { get; }

        /// <summary>Opens the pagemap of <paramref name="pid"/>, or returns null when it has gone.</summary>
        public static Pagemap? Open(int pid)
        {
            try
            {
                return new Pagemap(pid, System.IO.File.OpenHandle(Path.Combine(PidDirectory(pid), "pagemap")));
            }
            catch (Exception e) when (IsGone(e))
            {
                return null;
            }
        }

        /// <summary>
        /// Reads the entries of the pages from <paramref name="firstPage"/> (an
        /// address shifted by <see cref="PageSize.Shift"/>) into <paramref name="entries"/>.
        /// Returns how many it read: fewer at the end of the address space, 0 when the process has gone.
        /// </summary>
        public int Read(ulong firstPage, Span<ulong> entries)
        {
            try
            {
                return RandomAccess.Read(File, MemoryMarshal.AsBytes(entries), (long)(firstPage * sizeof(ulong))) / sizeof(ulong);
            }
            catch (Exception e) when (IsGone(e))
            {
                return 0;
            }
        }

        public void Dispose() => File.Dispose();
    }
}
