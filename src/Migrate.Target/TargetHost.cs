using System.Net;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Migrate.Engine.Compat;
using Migrate.Engine.Credentials;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;

namespace Migrate.Target;

/// <param name="CertificateFile">Present this certificate instead of the self-signed one; null for that one.</param>
/// <param name="ClientCaFile">Require client certificates that these CAs signed; null for none.</param>
internal sealed record TargetHostOptions(
    string Listen, string WorkDirectory, string TokenFile, bool KeepImages, RestoredCgroups RestoredCgroups,
    string? CertificateFile, string? KeyFile, string? ClientCaFile, int MaxConnections, StorageLimits Limits, RestorePolicy Policy);

/// <summary>Wires the target agent: Kestrel on HTTP/2 over TLS, authentication, the gRPC service.</summary>
internal static partial class TargetHost
{
    public static async Task<int> RunAsync(TargetHostOptions options, CancellationToken cancellationToken)
    {
        TargetAddress address;
        TargetIdentity identity;
        CertificateAuthority? clientAuthority;
        try
        {
            address = TargetAddress.Parse(options.Listen, allowAnyPort: true);
            RequireUsable(options);
            RequireOwnProc();
            clientAuthority = options.ClientCaFile is { } file ? CertificateAuthority.Load(file, "client CA file") : null;
            identity = TargetIdentity.LoadOrCreate(options.TokenFile, options.CertificateFile, options.KeyFile, TimeProvider.System);
            // Images hold the memory of the processes they came from: root's alone (an existing directory keeps its mode).
            Directory.CreateDirectory(options.WorkDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or CredentialException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"migrate-target: {e.Message}");
            return ExitCodes.Usage;
        }
        using var disposeIdentity = identity;

        // Before anything is written: the work directory's files, CRIU's among them, are the agent's alone.
        PrivateFiles.RestrictUmask();
        ChildReaper.AdoptOrphans();
        using var reapOnSigchld = PosixSignalRegistration.Create(PosixSignal.SIGCHLD, _ => ChildReaper.ReapExited());

        var criu = new CriuClient(new CriuSettings(), TimeProvider.System);
        var facts = await HostFactsProbe.CollectAsync(criu, cancellationToken);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // The host's defaults watch the content root (the current directory)
            // recursively for configuration changes: from / that is every directory
            // on the machine, and CRIU's writes under the work directory wake the
            // watcher during the freeze. The host reads no configuration files; the
            // agent's own (TargetConfigFile) is read once, before this.
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        TargetLogging.Configure(builder);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            // Kestrel's default HTTP/2 windows (96 KiB per stream) stall a stream
            // of 1 MiB messages on every window update; a few MiB keep it moving.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 16 << 20;
            // The connection's input buffer pauses socket reads once it holds this
            // much; at the 1 MiB default it stalls on every 1 MiB message. The
            // HTTP/2 windows above still bound what a peer can make us buffer.
            kestrel.Limits.MaxRequestBufferSize = 64 << 20;
            kestrel.Limits.Http2.MaxFrameSize = (1 << 20) - 1;
            // A source that vanishes (a host frozen, a cable pulled) leaves its
            // stream open and its session locked until the connection dies:
            // ping a connection silent for 10 s, drop it if 20 s bring no answer.
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
            // A migration uses one connection and a few streams at a time; the
            // windows above let each connection hold up to 32 MiB in flight.
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 16;
            var tls = TransportSecurity.ServerOptions(identity.Certificate, clientAuthority, kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>());
            foreach (var ip in Resolve(address.Host))
            {
                kestrel.Listen(ip, address.Port, listen =>
                {
                    // HTTP/2 only, over TLS only: a plaintext peer never gets an answer.
                    listen.Protocols = HttpProtocols.Http2;
                    listen.UseHttps(tls);
                });
            }
        });
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(facts);
        var targetOptions = new TargetOptions
        {
            WorkDirectory = Path.GetFullPath(options.WorkDirectory),
            KeepImages = options.KeepImages,
            RestoredCgroups = options.RestoredCgroups,
            MaxSessionBytes = options.Limits.MaxSessionBytes,
            MaxTotalBytes = options.Limits.MaxTotalBytes,
            MinFreeDiskBytes = options.Limits.MinFreeDiskBytes,
            MaxSessions = options.Limits.MaxSessions,
            Policy = options.Policy,
        };
        // The health service's work-directory check takes them from here.
        builder.Services.AddSingleton(targetOptions);
        builder.Services.AddSingleton(services =>
        {
            // The probe's client above runs before logging is set up; this one, the sessions', logs each CRIU call.
            var sessionsCriu = new CriuClient(criu.Settings, TimeProvider.System, services.GetRequiredService<ILogger<CriuClient>>());
            return new TargetSessions(
                new TargetServices(sessionsCriu, facts.CriuFeatures, new LinuxTargetHost(sessionsCriu), targetOptions, TimeProvider.System,
                    services.GetRequiredService<ILogger<TargetSessions>>()),
                identity.OperatorSecret);
        });
        builder.Services.AddHostedService<SessionJanitor>();
        builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = WireProtocol.MaxMessageBytes)
            .AddServiceOptions<MigrationTargetService>(service =>
            {
                // Interceptors run in order: authenticate before anything else.
                // The health service has neither: it answers whoever completes
                // the TLS handshake (with --client-ca, only holders of a client
                // certificate), and says only SERVING or NOT_SERVING.
                service.Interceptors.Add<TokenAuthInterceptor>(identity.Token);
                service.Interceptors.Add<ErrorMappingInterceptor>();
            });
        TargetHealth.AddTo(builder.Services);

        var app = builder.Build();
        // Lines about the agent, not a session: every line of the sessions' category names one.
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TargetHost));
        try
        {
            TargetWorkDirectory.Prepare(targetOptions, app.Services.GetRequiredService<ILogger<TargetSessions>>());
            AgentLog.PolicyInEffect(logger, targetOptions.Policy);
        }
        catch (Exception e) when (e is WorkDirectoryException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"migrate-target: {e.Message}");
            return ExitCodes.Usage;
        }
        // Before the first session: a restore parses images while the source is frozen.
        ImageParsers.WarmUp();
        app.MapGrpcService<MigrationTargetService>();
        TargetHealth.MapTo(app);
        await app.StartAsync(cancellationToken);
        foreach (var bound in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            // Tests and scripts read this line to learn a port chosen by the kernel.
            Console.WriteLine($"migrate-target: listening on {bound}");
        }
        // A log line, so that under systemd the journal has it with a priority like every other.
        var fingerprint = CertificateFingerprint.Of(identity.Certificate);
        var tokenPath = Path.GetFullPath(options.TokenFile);
        var clientCertificate = clientAuthority is null ? "" : $" and a client certificate signed by a CA in {clientAuthority.File}";
        LogIdentity(logger, fingerprint, tokenPath, clientCertificate);
        await app.WaitForShutdownAsync(cancellationToken);
        return ExitCodes.Ok;
    }

    private static IEnumerable<IPAddress> Resolve(string host)
    {
        var trimmed = host.Trim('[', ']');
        if (IPAddress.TryParse(trimmed, out var ip))
        {
            return [ip];
        }
        return trimmed == "localhost" ? [IPAddress.Loopback] : Dns.GetHostAddresses(trimmed).Take(1);
    }

    private static void RequireUsable(TargetHostOptions options)
    {
        if (options.KeyFile is not null && options.CertificateFile is null)
        {
            throw new InvalidOperationException("--key needs --cert");
        }
        if (options.MaxConnections < 1)
        {
            throw new InvalidOperationException("--max-connections must be at least 1");
        }
    }

    /// <summary>
    /// The restored tasks are found through /proc, so /proc must show this
    /// agent's PID namespace (unshare --pid needs --mount-proc).
    /// </summary>
    private static void RequireOwnProc()
    {
        var self = ProcFs.Self();
        if (self != Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException(
                $"/proc belongs to another PID namespace (it shows this process as {self}, not {Environment.ProcessId}); start the agent with 'unshare --pid --fork --mount-proc'");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Certificate SHA-256 {Fingerprint}; sources need the token file {TokenFile}{ClientCertificate}")]
    private static partial void LogIdentity(ILogger logger, CertificateFingerprint fingerprint, string tokenFile, string clientCertificate);
}
