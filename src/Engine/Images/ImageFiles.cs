namespace Migrate.Engine.Images;

/// <summary>Reading whole image files that are small by nature: the tree, cores, ids, the inventory.</summary>
public static class ImageFiles
{
    /// <summary>
    /// The most such a file may hold. A core is a few KiB and a pstree some
    /// bytes a task; anything near this is not CRIU's, and is refused before
    /// it is read rather than loaded whole.
    /// </summary>
    public const long MaxSmallImageBytes = 64L << 20;

    public static byte[] ReadSmall(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long length = file.Length;
        if (length > MaxSmallImageBytes)
        {
            throw new InvalidDataException($"{path}: {length} bytes, more than the {MaxSmallImageBytes >> 20} MiB such an image may hold");
        }
        var bytes = new byte[length];
        file.ReadExactly(bytes);
        return bytes;
    }
}
