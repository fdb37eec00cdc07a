using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Images;

/// <summary>
/// Runs the image parsers once, on an image of its own. The first image an
/// agent parses costs about 45 ms here, nearly all of it the runtime compiling
/// protobuf's parsing paths (the agents run without tiered compilation); the
/// next costs a fraction of a millisecond. Both agents parse their first
/// images while the tree is frozen (the source right after CRIU's dump, the
/// target when it checks and restores them), so the source warms up while the
/// tree still runs, and the target when it starts.
/// </summary>
public static class ImageParsers
{
    public static void WarmUp()
    {
        var image = ImageWriter.Write(ImageMagic.Pstree, [new PstreeEntry { Pid = 1, Ppid = 0, Pgid = 1, Sid = 1, Threads = { 1 } }]);
        var reader = ImageReader.Open(image, ImageMagic.Pstree, "the warm-up image");
        if (reader.ReadAll(PstreeEntry.Parser) is not [{ Pid: 1 }])
        {
            throw new InvalidOperationException("the image parsers read back another image than they were given");
        }
    }
}
