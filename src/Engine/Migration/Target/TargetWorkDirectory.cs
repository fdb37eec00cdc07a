using Microsoft.Extensions.Logging;
using Migrate.Engine.Linux;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// The agent's work directory, made ready at start: created 0700, or refused
/// if anyone but the agent's own user may use it, since it holds migrated
/// processes' memory. Session directories a crash left behind are removed
/// (listed, with --keep-images); images kept for the operator are listed.
/// </summary>
public static class TargetWorkDirectory
{
    public static void Prepare(TargetOptions options, ILogger logger)
    {
        var directory = options.WorkDirectory;
        if (!Directory.Exists(directory))
        {
            PrivateFiles.CreateDirectory(directory);
        }
        RequirePrivate(directory);
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(entry);
            if (name.StartsWith(SessionStore.KeptPrefix, StringComparison.Ordinal) && SessionIds.IsValid(name[SessionStore.KeptPrefix.Length..]))
            {
                TargetLog.KeptImagesFound(logger, entry);
            }
            else if (!SessionIds.IsValid(name) || !Directory.Exists(entry))
            {
                TargetLog.ForeignEntryFound(logger, entry);
            }
            else if (options.KeepImages)
            {
                TargetLog.LeftoverKept(logger, name, entry);
            }
            else
            {
                Directory.Delete(entry, recursive: true);
                TargetLog.LeftoverRemoved(logger, name, entry);
            }
        }
    }

    /// <summary>A directory, the agent's user's, that no group and no other user may read, write or enter.</summary>
    private static void RequirePrivate(string directory)
    {
        using var location = FileLocation.Open(directory) ?? throw new WorkDirectoryException($"the work directory {directory} does not exist");
        var status = FileLocation.Stat(location);
        if (status.Kind == FileKind.SymbolicLink)
        {
            throw new WorkDirectoryException($"the work directory {directory} is a symbolic link; name the directory itself");
        }
        if (status.Kind != FileKind.Directory)
        {
            throw new WorkDirectoryException($"the work directory {directory} is not a directory");
        }
        if (status.Uid != Interop.Geteuid())
        {
            throw new WorkDirectoryException($"the work directory {directory} belongs to uid {status.Uid}, not to the agent's user ({Interop.Geteuid()})");
        }
        if ((status.Permissions & ~PrivateFiles.DirectoryMode) != 0)
        {
            throw new WorkDirectoryException(
                $"others may use the work directory {directory} (mode {Convert.ToString((int)status.Permissions, 8)}): it holds migrated processes' memory; chmod 700 it");
        }
    }
}

/// <summary>The work directory cannot be used safely.</summary>
public sealed class WorkDirectoryException(string message) : Exception(message);
