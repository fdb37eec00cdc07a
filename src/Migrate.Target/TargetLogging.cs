using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Console;

namespace Migrate.Target;

/// <summary>
/// Where the agent's log goes. Under systemd the journal takes standard
/// output: each line starts with its syslog priority ("&lt;6&gt;" information,
/// "&lt;4&gt;" warning, "&lt;3&gt;" error; sd-daemon(3)) and carries no timestamp,
/// since the journal stamps it. Started by hand, one line a message with the time.
/// Every message about a session names its ID, so `journalctl -u
/// migrate-target | grep ID` shows one session's story.
/// </summary>
internal static class TargetLogging
{
    public static void Configure(WebApplicationBuilder builder)
    {
        // READY=1 once Kestrel listens and STOPPING=1 on the way out (Type=notify).
        // Microsoft.Extensions.Hosting.Systemd counts a process as a systemd service
        // when its parent is systemd, or when it is PID 1 with NOTIFY_SOCKET set,
        // which is how the unit starts it: first in a PID namespace of its own.
        builder.Services.AddSystemd();
        builder.Logging.ClearProviders();
        if (SystemdHelpers.IsSystemdService())
        {
            builder.Logging.AddSystemdConsole();
        }
        else
        {
            builder.Logging.AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss.fff "; });
        }
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        // The systemd lifetime's own lines ("Application started", ...) say what READY=1 says.
        builder.Logging.AddFilter<ConsoleLoggerProvider>(typeof(SystemdLifetime).FullName, LogLevel.Warning);
    }
}
