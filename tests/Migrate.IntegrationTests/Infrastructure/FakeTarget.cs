using System.Collections.Concurrent;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Credentials;
using Migrate.Engine.Protocol;
using Migrate.Protocol;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>A request that reached a fake target: its path, and the token it carried, if any.</summary>
internal sealed record ArrivedRequest(string Path, string? Authorization);

/// <summary>
/// A target that is not one: Kestrel on loopback, HTTP/2 over TLS 1.3 with a
/// certificate the test chooses, speaking the agents' contract. It answers the
/// handshake with whatever session ID the test gives it, and records every
/// request that reaches it, so a test can tell whether a source sent anything.
/// </summary>
internal sealed class FakeTarget : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ArrivedRequest> _requests;

    private FakeTarget(WebApplication app, ConcurrentQueue<ArrivedRequest> requests, X509Certificate2 certificate, int port)
    {
        _app = app;
        _requests = requests;
        Fingerprint = CertificateFingerprint.Of(certificate);
        Address = $"127.0.0.1:{port}";
    }

    public string Address { get; }

    public CertificateFingerprint Fingerprint { get; }

    public IReadOnlyList<ArrivedRequest> Requests => [.. _requests];

    /// <param name="sessionId">What the handshake answers as the session's ID.</param>
    public static async Task<FakeTarget> StartAsync(X509Certificate2 certificate, string sessionId)
    {
        var requests = new ConcurrentQueue<ArrivedRequest>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(https =>
            {
                https.ServerCertificate = certificate;
                https.SslProtocols = SslProtocols.Tls13;
            });
        }));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new HandshakeAnswer(sessionId));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            requests.Enqueue(new ArrivedRequest(context.Request.Path, context.Request.Headers.Authorization.FirstOrDefault()));
            await next(context);
        });
        app.MapGrpcService<Service>();
        await app.StartAsync();
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        return new FakeTarget(app, requests, certificate, bound.Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record HandshakeAnswer(string SessionId);

    private sealed class Service(HandshakeAnswer answer) : MigrationTarget.MigrationTargetBase
    {
        public override Task<HandshakeReply> Handshake(HandshakeRequest request, ServerCallContext context) => Task.FromResult(new HandshakeReply
        {
            ProtocolVersion = WireProtocol.Version,
            SessionId = answer.SessionId,
            SessionSecret = SessionSecrets.New(),
            Target = new Protocol.HostFacts { Hostname = "fake" },
            Limits = new Migrate.Protocol.TargetLimits { MaxChunkBytes = 1 << 20, MaxSessionBytes = 1L << 30 },
        });
    }
}
