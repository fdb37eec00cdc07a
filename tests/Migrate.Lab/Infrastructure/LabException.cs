namespace Migrate.Lab.Infrastructure;

/// <summary>The tool cannot go on: the lab, a host or a report is not what it needs. Exit 1.</summary>
internal sealed class LabException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The arguments are wrong; nothing was started (exit 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
