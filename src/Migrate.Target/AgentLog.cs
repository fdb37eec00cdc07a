using Migrate.Engine.Compat;

namespace Migrate.Target;

/// <summary>What the agent logs about itself at start.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Restore policy: this target allows {Policy}")]
    public static partial void PolicyInEffect(ILogger logger, RestorePolicy policy);
}
