using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Source;

/// <summary>Where the source keeps one session's images and CRIU's logs: WORK/SESSION/.</summary>
public static class SourceWorkDirectory
{
    public const string ImagesFolder = "images";

    /// <summary>The session's directory. The ID came from the target; it is checked again here, where it becomes a path.</summary>
    public static string Session(string workDirectory, string sessionId) =>
        SessionIds.IsValid(sessionId)
            ? Path.Combine(workDirectory, sessionId)
            : throw new InvalidDataException("refused to use a malformed session ID as a directory name");

    public static string Images(string workDirectory, string sessionId, string set) =>
        Path.Combine(Session(workDirectory, sessionId), ImagesFolder, set);

    /// <summary>
    /// After a migration: everything goes once it succeeded; after a failure the
    /// images go and CRIU's logs stay, since they explain it. --keep-images keeps all.
    /// </summary>
    public static void CleanUp(string workDirectory, string? sessionId, bool migrated, bool keepImages)
    {
        if (keepImages || sessionId is null)
        {
            return;
        }
        var session = Session(workDirectory, sessionId);
        var doomed = migrated ? session : Path.Combine(session, ImagesFolder);
        if (Directory.Exists(doomed))
        {
            Directory.Delete(doomed, recursive: true);
        }
    }
}
