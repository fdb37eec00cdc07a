using System.Security.Cryptography;

namespace Migrate.Target;

/// <summary>
/// The shared secret a source must present. Created on first start with 256
/// random bits, readable by root only; refused if others can read it.
/// </summary>
internal static class TokenFile
{
    private const int MinimumLength = 32;
    private const UnixFileMode OthersMayAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    public static string LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            try
            {
                using var stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                using var writer = new StreamWriter(stream);
                writer.WriteLine(token);
                return token;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another agent created it first; use theirs.
            }
        }
        if ((File.GetUnixFileMode(path) & OthersMayAccess) != 0)
        {
            throw new InvalidOperationException($"token file {path} can be read or written by others; chmod 600 it");
        }
        var existing = File.ReadAllText(path).Trim();
        if (existing.Length < MinimumLength)
        {
            throw new InvalidOperationException($"token file {path} holds fewer than {MinimumLength} characters");
        }
        return existing;
    }
}
