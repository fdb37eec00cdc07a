using Microsoft.Extensions.Diagnostics.HealthChecks;
using Migrate.Engine.Migration.Target;

namespace Migrate.Target;

/// <summary>
/// The standard gRPC health-checking protocol (grpc.health.v1.Health, from
/// Grpc.AspNetCore.HealthChecks), so that sources, load balancers and probes
/// such as grpc_health_probe can tell in one short call whether this agent is
/// up. It needs no token: it says only SERVING or NOT_SERVING. Check runs the
/// checks on every call (GrpcHealthChecksOptions.UseHealthChecksCache is off).
/// </summary>
internal static class TargetHealth
{
    public static void AddTo(IServiceCollection services) =>
        services.AddGrpcHealthChecks().AddCheck<WorkDirectoryHealthCheck>("work-dir");

    public static void MapTo(WebApplication app) => app.MapGrpcHealthChecksService();
}

/// <summary>Restores write their images to the work directory: without it, or with its file system full, every one would fail.</summary>
internal sealed class WorkDirectoryHealthCheck(TargetOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var directory = options.WorkDirectory;
        if (!Directory.Exists(directory))
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"the work directory {directory} does not exist"));
        }
        long free = new DriveInfo(directory).AvailableFreeSpace;
        return Task.FromResult(free > 0
            ? HealthCheckResult.Healthy($"{free} bytes free in {directory}")
            : HealthCheckResult.Unhealthy($"the file system of {directory} is full"));
    }
}
