using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>What a source needs to talk to targets.</summary>
/// <param name="Token">The bearer token; sent only once the target is recognised.</param>
/// <param name="Trust">How the target is recognised.</param>
/// <param name="ClientCertificate">This host's certificate, with its key, for targets that require one (mutual TLS).</param>
public sealed record TargetCredentials(string Token, TargetTrust Trust, X509Certificate2? ClientCertificate = null)
{
    /// <summary>
    /// The target's operator secret, for settling by hand a session this
    /// process did not open (migrate commit, migrate abort).
    /// </summary>
    public string? OperatorSecret { get; init; }
}
