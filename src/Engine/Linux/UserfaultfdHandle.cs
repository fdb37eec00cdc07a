namespace Migrate.Engine.Linux;

/// <summary>
/// A userfaultfd bound to another process's memory (man 2 userfaultfd,
/// Documentation/admin-guide/mm/userfaultfd.rst). It was created inside that
/// process, which alone decides whose memory it serves, and taken from there
/// with pidfd_getfd. Closing the last reference unregisters every range and
/// drops every write-protection it set (fs/userfaultfd.c, userfaultfd_release).
/// </summary>
internal sealed class UserfaultfdHandle : DescriptorHandle
{
    internal UserfaultfdHandle(int fd, int pid)
        : base(fd) => Pid = pid;

    /// <summary>The process whose memory it serves.</summary>
    public int Pid { get; }

    /// <summary>
    /// The features this kernel offers, asked of a userfaultfd of this
    /// process's own: UFFDIO_API can be called only once on a userfaultfd, so
    /// the one that tracks cannot be asked first. 0 when the kernel has none.
    /// </summary>
    public static unsafe ulong AvailableFeatures()
    {
        int fd = (int)Interop.Syscall(Interop.SyscallNumbers.Userfaultfd,
            Interop.O_CLOEXEC | Interop.O_NONBLOCK | Interop.UFFD_USER_MODE_ONLY, 0, 0, 0, 0);
        if (fd < 0)
        {
            return 0;
        }
        using var own = new UserfaultfdHandle(fd, Environment.ProcessId);
        var api = new Interop.UffdioApi { Api = Interop.UFFD_API };
        return Interop.Ioctl(own, Interop.UFFDIO_API, &api) == 0 ? api.Features : 0;
    }

    /// <summary>UFFDIO_API: agrees on the API and turns on <paramref name="features"/>.</summary>
    public unsafe void EnableFeatures(ulong features)
    {
        var api = new Interop.UffdioApi { Api = Interop.UFFD_API, Features = features };
        Interop.CheckIo(Interop.Ioctl(this, Interop.UFFDIO_API, &api), "ioctl(UFFDIO_API)", $"features 0x{features:x} of pid {Pid}'s userfaultfd");
    }

    /// <summary>
    /// UFFDIO_REGISTER in write-protect mode over [<paramref name="start"/>,
    /// <paramref name="end"/>), whole VMAs. Registering a range again is a
    /// no-op. Returns null, or the errno that says why not: EBUSY when the
    /// process registered part of it with a userfaultfd of its own.
    /// </summary>
    public unsafe Errno? RegisterWriteProtect(ulong start, ulong end)
    {
        var register = new Interop.UffdioRegister
        {
            Range = new Interop.UffdioRange { Start = start, Length = end - start },
            Mode = Interop.UFFDIO_REGISTER_MODE_WP,
        };
        return Interop.Ioctl(this, Interop.UFFDIO_REGISTER, &register) == 0
            ? null
            : LinuxException.FromLastError("ioctl(UFFDIO_REGISTER)").Errno;
    }

    /// <summary>UFFDIO_WRITEPROTECT: write-protects every page of a registered range.</summary>
    public unsafe void WriteProtect(ulong start, ulong end)
    {
        var protect = new Interop.UffdioWriteprotect
        {
            Range = new Interop.UffdioRange { Start = start, Length = end - start },
            Mode = Interop.UFFDIO_WRITEPROTECT_MODE_WP,
        };
        Interop.CheckIo(Interop.Ioctl(this, Interop.UFFDIO_WRITEPROTECT, &protect), "ioctl(UFFDIO_WRITEPROTECT)",
            $"0x{start:x}-0x{end:x} of pid {Pid}");
    }
}
