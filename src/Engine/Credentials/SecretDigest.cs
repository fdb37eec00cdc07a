using System.Security.Cryptography;
using System.Text;

namespace Migrate.Engine.Credentials;

/// <summary>
/// A secret as the side that checks it keeps it: only its SHA-256. A
/// presented secret is hashed and compared in constant time, so the time a
/// refusal takes says nothing about the secret's content or length.
/// </summary>
public sealed class SecretDigest(string secret)
{
    private readonly byte[] _digest = Hash(secret);

    public bool Matches(string? presented) => presented is not null && CryptographicOperations.FixedTimeEquals(_digest, Hash(presented));

    private static byte[] Hash(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));
}
