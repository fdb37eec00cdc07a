using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static partial class Interop
{
    // The PAGEMAP_SCAN ioctl of /proc/PID/pagemap (Linux 6.7, linux/fs.h,
    // Documentation/admin-guide/mm/pagemap.rst). Bookworm's headers predate it.

    /// <summary>_IOWR('f', 16, struct pm_scan_arg)</summary>
    internal const ulong PAGEMAP_SCAN = 0xC0606610;

    /// <summary>Write-protect the pages it reports (they must be in VMAs registered for async write-protect).</summary>
    internal const ulong PM_SCAN_WP_MATCHING = 1 << 0;

    /// <summary>Fail with EPERM on a VMA not registered for async write-protect.</summary>
    internal const ulong PM_SCAN_CHECK_WPASYNC = 1 << 1;

    internal const ulong PAGE_IS_WPALLOWED = 1 << 0;

    /// <summary>The page has no uffd-wp bit: written since it was last protected, or never protected.</summary>
    internal const ulong PAGE_IS_WRITTEN = 1 << 1;

    internal const ulong PAGE_IS_PRESENT = 1 << 3;

    /// <summary>In swap, or an unpopulated page that holds a uffd-wp marker.</summary>
    internal const ulong PAGE_IS_SWAPPED = 1 << 4;

    /// <summary>struct pm_scan_arg</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PmScanArg
    {
        public ulong Size;
        public ulong Flags;
        public ulong Start;
        public ulong End;
        public ulong WalkEnd;
        public ulong Vec;
        public ulong VecLength;
        public ulong MaxPages;
        public ulong CategoryInverted;
        public ulong CategoryMask;
        public ulong CategoryAnyofMask;
        public ulong ReturnMask;
    }

    /// <summary>struct page_region: [Start, End) of pages that all have <see cref="Categories"/>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PageRegion
    {
        public ulong Start;
        public ulong End;
        public ulong Categories;
    }
}
