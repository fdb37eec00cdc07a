using Google.Protobuf;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Tests.Images;

/// <summary>
/// Image sets CRIU 4.2.1 wrote for real processes (TestData), copied into a
/// test's directory and, where a test needs a tree this host cannot dump (one
/// of another user), changed field by field: every other byte stays CRIU's.
/// </summary>
internal static class RecordedImages
{
    /// <summary>Two tasks, 5224 and its child 5227, which has a second thread, 5228; root, all capabilities.</summary>
    public static readonly string Tree = Path.Combine(AppContext.BaseDirectory, "TestData", "criu-4.2.1-tree");

    /// <summary>One task, 4936, in UTS and IPC namespaces of its own.</summary>
    public static readonly string UtsIpc = Path.Combine(AppContext.BaseDirectory, "TestData", "criu-4.2.1-uts-ipc");

    public static void CopyTo(string recorded, string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetFiles(recorded, "*.img"))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }
    }

    /// <summary>Rewrites the credentials of every thread's core image in <paramref name="directory"/>.</summary>
    public static void ChangeCredentials(string directory, Action<CredsEntry> change)
    {
        foreach (var file in Directory.GetFiles(directory, "core-*.img"))
        {
            Rewrite(file, ImageMagic.Core, CoreEntry.Parser, core => change(core.ThreadCore.Creds));
        }
    }

    /// <summary>Rewrites the one entry of an image.</summary>
    public static void Rewrite<T>(string path, uint magic, MessageParser<T> parser, Action<T> change)
        where T : IMessage<T>
    {
        var entry = ImageReader.Open(File.ReadAllBytes(path), magic, path).ReadAll(parser).Single();
        change(entry);
        File.WriteAllBytes(path, ImageWriter.Write(magic, [entry]));
    }

    /// <summary>Puts the tree in a user namespace of its own whose maps are <paramref name="uids"/> and <paramref name="gids"/>, as CRIU would dump one.</summary>
    public static void AddUserNamespace(string directory, UidGidExtent[] uids, UidGidExtent[] gids)
    {
        const uint UserNamespaceId = 77;
        foreach (var file in Directory.GetFiles(directory, "ids-*.img"))
        {
            Rewrite(file, ImageMagic.Ids, TaskKobjIdsEntry.Parser, ids => ids.UserNsId = UserNamespaceId);
        }
        var userns = new UsernsEntry();
        userns.UidMap.AddRange(uids);
        userns.GidMap.AddRange(gids);
        File.WriteAllBytes(Path.Combine(directory, $"userns-{UserNamespaceId}.img"), ImageWriter.Write(ImageMagic.Userns, [userns]));
    }
}
