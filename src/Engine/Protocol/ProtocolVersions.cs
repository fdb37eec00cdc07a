using Migrate.Engine.Compat;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Which peers an agent can speak with. Today that is exactly its own protocol
/// version; a refusal names both versions and both builds, so the operator
/// knows which host to upgrade.
/// </summary>
public static class ProtocolVersions
{
    /// <summary>Why this agent cannot speak with its peer, or null when it can.</summary>
    /// <param name="self">What this agent is to the peer: "source" or "target".</param>
    /// <param name="peer">What the peer is: "target" or "source".</param>
    /// <param name="peerProtocol">The protocol version the peer sent.</param>
    /// <param name="peerBuild">The peer's build (HostFacts.migrate_version); empty from builds that predate it.</param>
    public static string? Refusal(string self, string peer, uint peerProtocol, string peerBuild) =>
        peerProtocol == WireProtocol.Version
            ? null
            : $"this {self} speaks protocol {WireProtocol.Version} (migrate {BuildInfo.Version}), " +
              $"the {peer} protocol {peerProtocol} ({(peerBuild.Length > 0 ? "migrate " + peerBuild : "a migrate that does not say its version")}): " +
              "install the same migrate version on both hosts";
}
