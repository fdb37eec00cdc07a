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

        /// <summary>
        /// Whether the memory this pagemap was opened on has gone: its process
        /// exited, or exec'd and has other memory now. A live process's
        /// pagemap has an entry for every page, even unmapped ones; a gone
        /// one's reads as empty (fs/proc/task_mmu.c, pagemap_read).
        /// </summary>
        public bool MemoryIsGone()
        {
            Span<ulong> entry = stackalloc ulong[1];
            return Read(0, entry) == 0;
        }

        /// <summary>
        /// PAGEMAP_SCAN over [<paramref name="start"/>, <paramref name="end"/>):
        /// fills <paramref name="regions"/> with the runs of pages written since
        /// they were last write-protected (present or swapped, without the
        /// uffd-wp bit) and, with <paramref name="protect"/>, write-protects
        /// exactly those it reports. Unpopulated pages are never reported: in a
        /// file-backed area (a private mapping of a file or of shared memory)
        /// the kernel counts them as written, and protecting them leaves a
        /// uffd-wp marker that reads as swapped. CRIU's dump then takes such a
        /// page, one past the end of its file included, for one the caller
        /// pre-copied. Returns how many regions it filled and, in
        /// <paramref name="walkEnd"/>, where it stopped: before <paramref name="end"/>
        /// when <paramref name="regions"/> is full. Returns -1 when the memory
        /// it was opened on is gone (the process exited or exec'd).
        /// </summary>
        internal unsafe int ScanWritten(ulong start, ulong end, Span<Interop.PageRegion> regions, bool protect, out ulong walkEnd)
        {
            fixed (Interop.PageRegion* vector = regions)
            {
                var arg = new Interop.PmScanArg
                {
                    Size = (ulong)sizeof(Interop.PmScanArg),
                    Flags = protect ? Interop.PM_SCAN_WP_MATCHING : 0,
                    Start = start,
                    End = end,
                    Vec = (ulong)vector,
                    VecLength = (ulong)regions.Length,
                    CategoryMask = Interop.PAGE_IS_WRITTEN,
                    CategoryAnyofMask = Interop.PAGE_IS_PRESENT | Interop.PAGE_IS_SWAPPED,
                    ReturnMask = Interop.PAGE_IS_WRITTEN,
                };
                int count = Interop.Ioctl(File, Interop.PAGEMAP_SCAN, &arg);
                walkEnd = arg.WalkEnd;
                if (count >= 0)
                {
                    return count;
                }
                var error = LinuxException.FromLastError("ioctl(PAGEMAP_SCAN)", $"0x{start:x}-0x{end:x} of pid {Pid}");
                return error.Errno == Errno.ESRCH ? -1 : throw error;
            }
        }

        public void Dispose() => File.Dispose();
    }
}
