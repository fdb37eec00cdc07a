using System.Security.Cryptography;
using System.Text;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Credentials;

/// <summary>
/// Files that hold secrets: readable by their owner only, and created once,
/// whole, even when several agents start on them at the same moment.
/// </summary>
public static class SecretFiles
{
    private const UnixFileMode OthersMayAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The file's text, once it is known to be private; <paramref name="what"/> names it in messages ("key file").</summary>
    public static string Read(string path, string what)
    {
        try
        {
            RequirePrivate(path, what);
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CredentialException($"the {what} {path} does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialException($"cannot read the {what} {path}: {e.Message}", e);
        }
    }

    /// <summary>Refuses a file that anyone but its owner may read, write or run.</summary>
    public static void RequirePrivate(string path, string what)
    {
        var mode = File.GetUnixFileMode(path);
        if ((mode & OthersMayAccess) != 0)
        {
            throw new CredentialException(
                $"the {what} {path} is open to others (mode {Convert.ToString((int)mode, 8)}): it holds a secret; chmod 600 it");
        }
    }

    /// <summary>
    /// The file's text; if there is no such file, <paramref name="create"/>'s
    /// text is written to a new one, mode 0600, first. Of agents that create
    /// it at once, one wins and all read its text: the file appears under its
    /// name only once written and flushed, so nobody reads half of it.
    /// </summary>
    public static string ReadOrCreate(string path, string what, Func<string> create)
    {
        if (!File.Exists(path))
        {
            Publish(path, create(), what);
        }
        return Read(path, what);
    }

    private static void Publish(string path, string text, string what)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var draft = Path.Combine(directory, $".{Path.GetFileName(path)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}");
        try
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            try
            {
                using (var stream = new FileStream(draft, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = OwnerOnly,
                }))
                {
                    stream.Write(Encoding.UTF8.GetBytes(text));
                    stream.Flush(flushToDisk: true);
                }
                // False when another agent published it first: its text is the one.
                HardLinks.LinkIfAbsent(draft, path);
            }
            finally
            {
                File.Delete(draft);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialException($"cannot create the {what} {path}: {e.Message}", e);
        }
    }
}
