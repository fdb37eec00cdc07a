using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Migrate.Engine.Credentials;

namespace Migrate.Target;

/// <summary>The agent's side of TLS: version 1.3 only, its certificate, and client certificates when the operator requires them.</summary>
internal static partial class TransportSecurity
{
    public static HttpsConnectionAdapterOptions ServerOptions(X509Certificate2 certificate, CertificateAuthority? clients, ILoggerFactory loggers)
    {
        var options = new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            SslProtocols = SslProtocols.Tls13,
            CheckCertificateRevocation = false,
        };
        if (clients is not null)
        {
            var logger = loggers.CreateLogger(typeof(TransportSecurity));
            options.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            options.ClientCertificateValidation = (presented, chain, _) =>
            {
                // The system's roots and their verdict play no part: only the operator's CAs.
                var refusal = clients.Refusal(presented, chain, CertificateUse.Client);
                if (refusal is not null)
                {
                    LogClientRefused(logger, refusal);
                }
                return refusal is null;
            };
        }
        return options;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a client at the TLS handshake: {Reason}")]
    private static partial void LogClientRefused(ILogger logger, string reason);
}
