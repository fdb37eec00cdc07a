using Microsoft.Extensions.Logging;

namespace Migrate.Source;

internal static class Logging
{
    /// <summary>Warnings and errors on standard error; everything with --verbose.</summary>
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning)
        .AddFilter("System.Net.Http", LogLevel.Warning)
        .AddFilter("Grpc", LogLevel.Warning)
        .AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss.fff "; })
        .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
}
