using System.Security.Cryptography;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Session IDs as both agents write them: 32 lowercase hex digits (128
/// random bits). An ID comes from the peer, and the source makes it part of
/// a path it later deletes recursively, so nothing else is ever accepted.
/// </summary>
public static class SessionIds
{
    public const int Length = 32;

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(Length / 2));

    public static bool IsValid(string? id) => id is { Length: Length } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>The ID, checked; <paramref name="from"/> names who sent it, for the message.</summary>
    public static string Require(string? id, string from) =>
        IsValid(id) ? id! : throw new InvalidDataException($"{from} sent a malformed session ID (not {Length} lowercase hex digits)");
}
