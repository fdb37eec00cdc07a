namespace Migrate.Engine.Protocol;

/// <summary>The constants both agents must agree on, in one place.</summary>
public static class WireProtocol
{
    /// <summary>
    /// The version of protos/migration.proto's semantics. Both sides send it in
    /// the handshake and refuse a peer that speaks another.
    /// </summary>
    public const uint Version = 4;

    /// <summary>The metadata header that carries the token on every call.</summary>
    public const string AuthorizationHeader = "authorization";

    /// <summary>The metadata header that carries a session's secret on every call for it after the handshake.</summary>
    public const string SessionSecretHeader = "migrate-session-secret";

    /// <summary>The trailer in which the target names the check that refused a restore (a serialized CheckResult).</summary>
    public const string FailedCheckTrailer = "migrate-check-bin";

    /// <summary>The most a single message may hold; chunks and page batches stay well below it.</summary>
    public const int MaxMessageBytes = 4 << 20;

    /// <summary>The image chunk size the source uses unless the target asks for smaller.</summary>
    public const int DefaultChunkBytes = 1 << 20;
}
