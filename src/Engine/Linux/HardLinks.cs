using System.Runtime.InteropServices;

namespace Migrate.Engine.Linux;

internal static class HardLinks
{
    /// <summary>
    /// Gives <paramref name="file"/> the name <paramref name="name"/> unless
    /// that name exists; returns false if it does. Unlike rename(2), link(2)
    /// never replaces a file, so of several processes publishing the same name
    /// at once exactly one wins. (.NET's File.Move without overwrite checks
    /// first and then renames: two processes can both pass the check.)
    /// </summary>
    public static bool LinkIfAbsent(string file, string name)
    {
        if (Interop.Link(file, name) == 0)
        {
            return true;
        }
        var errno = (Errno)Marshal.GetLastPInvokeError();
        return errno == Errno.EEXIST ? false : throw new LinuxException("link", name, errno);
    }
}
