using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Migrate.Engine.Credentials;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>Raw gRPC channels to an agent, for tests that speak the contract by hand.</summary>
internal static class TlsChannels
{
    /// <summary>Over TLS 1.3, recognising the agent as migrate does.</summary>
    public static GrpcChannel To(string address, TargetTrust trust, X509Certificate2? client = null) =>
        GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = new SslClientAuthenticationOptions
                {
                    EnabledSslProtocols = SslProtocols.Tls13,
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Refusal(certificate as X509Certificate2, chain, errors) is null,
                    ClientCertificateContext = client is null ? null : SslStreamCertificateContext.Create(client, null, offline: true),
                },
            },
        });

    /// <summary>HTTP/2 in cleartext (h2c), as migrate spoke before TLS.</summary>
    public static GrpcChannel Plaintext(string address) => GrpcChannel.ForAddress($"http://{address}");
}
