using Microsoft.Win32.SafeHandles;

namespace Migrate.Engine.Linux;

/// <summary>
/// Files and directories only the agent's own user may use: they hold a
/// migrated process's images and memory. Directories are made 0700 by mkdir
/// itself; files are set to 0600 on the descriptor right after open creates
/// them, inside a 0700 directory, so that no other user ever sees them open.
/// Both hold whatever the process's umask is.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// Makes what this process and the programs it starts create private to its
    /// user (umask 077). For the target agent that is CRIU: it writes image and
    /// stats files 0644 (CR_FD_PERM, criu/include/crtools.h). A restored process
    /// gets its own umask back from its images (criu/files.c).
    /// </summary>
    public static void RestrictUmask()
    {
        // umask(2) cannot fail; what it returns is the mask before, which nothing here restores.
        _ = Interop.Umask((uint)(UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                 UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute));
    }

    /// <summary>Creates <paramref name="path"/> and the directories above it that are missing, each 0700.</summary>
    public static void CreateDirectory(string path)
    {
        // Directory.CreateDirectory(path, mode) gives the mode to the last directory only.
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return;
        }
        if (Path.GetDirectoryName(full) is { } parent)
        {
            CreateDirectory(parent);
        }
        Directory.CreateDirectory(full, DirectoryMode);
    }

    /// <summary>Creates a new file (O_EXCL: never through a link planted at its name), mode 0600.</summary>
    public static SafeFileHandle CreateNew(string path, FileAccess access = FileAccess.Write)
    {
        var handle = File.OpenHandle(path, System.IO.FileMode.CreateNew, access);
        try
        {
            File.SetUnixFileMode(handle, FileMode);
            return handle;
        }
        catch
        {
            handle.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>A new file with <paramref name="content"/>, mode 0600.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> content)
    {
        using var handle = CreateNew(path);
        RandomAccess.Write(handle, content, 0);
    }
}
