using System.Runtime.InteropServices;

namespace Migrate.Engine.Interop;

internal static partial class Linux
{
    /// <summary>man 2 link</summary>
    [LibraryImport(Libc, EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldPath, string newPath);

    /// <summary>
    /// Gives <paramref name="file"/> the name <paramref name="name"/> unless
    /// that name exists; returns false if it does. Unlike rename(2), link(2)
    /// never replaces a file, so of several processes publishing the same name
    /// at once exactly one wins. (.NET's File.Move without overwrite checks
    /// first and then renames: two processes can both pass the check.)
    /// </summary>
    public static bool LinkIfAbsent(string file, string name)
    {
        if (Link(file, name) == 0)
        {
            return true;
        }
        return LastErrno == Errno.EEXIST ? false : throw LastError("link", name);
    }
}
