using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>
/// A file descriptor this process owns, closed once when released. Each kind of
/// descriptor has its own sealed type, so a pidfd cannot be passed where a
/// userfaultfd is meant. 0 is a valid descriptor: only -1 is invalid.
/// </summary>
internal abstract class DescriptorHandle : SafeHandleMinusOneIsInvalid
{
    protected DescriptorHandle()
        : base(ownsHandle: true)
    {
    }

    protected DescriptorHandle(int fd)
        : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The descriptor's number, for messages and for calls that take it as a plain integer.</summary>
    public int Number => (int)DangerousGetHandle();

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
