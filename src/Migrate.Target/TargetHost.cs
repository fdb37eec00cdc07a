using System.Net;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Migrate.Engine;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Linux;
using Migrate.Engine.Migration.Target;
using Migrate.Engine.Protocol;

namespace Migrate.Target;

internal sealed record TargetHostOptions(string Listen, string WorkDirectory, string TokenFile, bool KeepImages, StorageLimits Limits, RestorePolicy Policy);

/// <summary>Wires the target agent: Kestrel on HTTP/2, authentication, the gRPC service.</summary>
internal static class TargetHost
{
    public static async Task<int> RunAsync(TargetHostOptions options, CancellationToken cancellationToken)
    {
        TargetAddress address;
        string token;
        try
        {
            address = TargetAddress.Parse(options.Listen, allowAnyPort: true);
            RequireOwnProc();
            token = TokenFile.LoadOrCreate(options.TokenFile);
            // Images hold the memory of the processes they came from: root's alone (an existing directory keeps its mode).
            Directory.CreateDirectory(options.WorkDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"migrate-target: {e.Message}");
            return ExitCodes.Usage;
        }

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
            foreach (var ip in Resolve(address.Host))
            {
                kestrel.Listen(ip, address.Port, listen => listen.Protocols = HttpProtocols.Http2);
            }
        });
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(facts);
        var targetOptions = new TargetOptions
        {
            WorkDirectory = Path.GetFullPath(options.WorkDirectory),
            KeepImages = options.KeepImages,
            MaxSessionBytes = options.Limits.MaxSessionBytes,
            MaxTotalBytes = options.Limits.MaxTotalBytes,
            MinFreeDiskBytes = options.Limits.MinFreeDiskBytes,
            MaxSessions = options.Limits.MaxSessions,
            Policy = options.Policy,
        };
        builder.Services.AddSingleton(targetOptions);
        builder.Services.AddSingleton(services => new TargetSessions(new TargetServices(
            criu, facts.CriuFeatures, new LinuxTargetHost(criu), targetOptions, TimeProvider.System,
            services.GetRequiredService<ILogger<TargetSessions>>())));
        builder.Services.AddHostedService<SessionJanitor>();
        builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = WireProtocol.MaxMessageBytes)
            .AddServiceOptions<MigrationTargetService>(service =>
            {
                // Interceptors run in order: authenticate before anything else.
                // The health service has neither: it answers anyone.
                service.Interceptors.Add<TokenAuthInterceptor>(token);
                service.Interceptors.Add<ErrorMappingInterceptor>();
            });
        TargetHealth.AddTo(builder.Services);

        var app = builder.Build();
        try
        {
            var logger = app.Services.GetRequiredService<ILogger<TargetSessions>>();
            TargetWorkDirectory.Prepare(targetOptions, logger);
            AgentLog.PolicyInEffect(logger, targetOptions.Policy);
        }
        catch (Exception e) when (e is WorkDirectoryException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"migrate-target: {e.Message}");
            return ExitCodes.Usage;
        }
        app.MapGrpcService<MigrationTargetService>();
        TargetHealth.MapTo(app);
        await app.StartAsync(cancellationToken);
        foreach (var bound in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            // Tests and scripts read this line to learn a port chosen by the kernel.
            Console.WriteLine($"migrate-target: listening on {bound}");
        }
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
}
