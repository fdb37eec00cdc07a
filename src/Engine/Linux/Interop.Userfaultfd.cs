using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    // userfaultfd(2) takes O_NONBLOCK and O_CLOEXEC, declared with open(2)'s flags (Interop.Open.cs).

    /// <summary>userfaultfd(2) flag: handle faults from user mode only (linux/userfaultfd.h, Linux 5.11).</summary>
    internal const int UFFD_USER_MODE_ONLY = 1;

    internal const ulong UFFD_API = 0xAA;
    internal const ulong UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;

    /// <summary>Linux 6.4: unpopulated ptes count as protected (PTE markers), so PM_SCAN_CHECK_WPASYNC passes on anonymous memory.</summary>
    internal const ulong UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;

    /// <summary>Linux 6.7: a write to a protected page unprotects it in the kernel, without a message (Documentation/admin-guide/mm/userfaultfd.rst).</summary>
    internal const ulong UFFD_FEATURE_WP_ASYNC = 1 << 15;

    internal const ulong UFFDIO_REGISTER_MODE_WP = 1 << 1;
    internal const ulong UFFDIO_WRITEPROTECT_MODE_WP = 1 << 0;

    // _IOWR(UFFDIO, nr, struct), UFFDIO being 0xAA (linux/userfaultfd.h).
    internal const ulong UFFDIO_API = 0xC018AA3F;
    internal const ulong UFFDIO_REGISTER = 0xC020AA00;
    internal const ulong UFFDIO_WRITEPROTECT = 0xC018AA06;

    /// <summary>struct uffdio_api</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UffdioApi
    {
        public ulong Api;
        public ulong Features;
        public ulong Ioctls;
    }

    /// <summary>struct uffdio_range</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UffdioRange
    {
        public ulong Start;
        public ulong Length;
    }

    /// <summary>struct uffdio_register</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UffdioRegister
    {
        public UffdioRange Range;
        public ulong Mode;
        public ulong Ioctls;
    }

    /// <summary>struct uffdio_writeprotect</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UffdioWriteprotect
    {
        public UffdioRange Range;
        public ulong Mode;
    }
}
