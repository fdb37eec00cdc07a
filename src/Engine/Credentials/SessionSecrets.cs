using System.Security.Cryptography;

namespace Migrate.Engine.Credentials;

/// <summary>
/// The secret that binds a session to the source that opened it: 256 random
/// bits as 64 lowercase hex digits. The target returns it from the handshake
/// and requires it, in the migrate-session-secret header, with every later
/// call for the session; it is never logged or printed.
/// </summary>
public static class SessionSecrets
{
    public const int Length = 64;

    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(Length / 2));

    public static bool IsValid(string? secret) => secret is { Length: Length } && secret.All(char.IsAsciiHexDigitLower);
}
