using Microsoft.Extensions.Logging;

namespace Migrate.Source;

internal static class Logging
{
    /// <summary>
    /// The engine's log on standard error with --verbose, down to Debug; none
    /// otherwise: what a user sees without it is the summary, written for them.
    /// </summary>
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.None)
        .AddFilter("System.Net.Http", LogLevel.Warning)
        .AddFilter("Grpc", LogLevel.Warning)
        .AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss.fff "; })
        .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
}
