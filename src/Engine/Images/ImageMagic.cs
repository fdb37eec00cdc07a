namespace Migrate.Engine.Images;

/// <summary>Magic numbers at the head of CRIU image files (criu/include/magic.h).</summary>
public static class ImageMagic
{
    /// <summary>Precedes the type magic in every image but the inventory (images v1.1).</summary>
    public const uint Common = 0x54564319;

    /// <summary>Precedes the type magic of service files such as stats.</summary>
    public const uint Service = 0x55105940;

    public const uint Inventory = 0x58313116;
    public const uint Pstree = 0x50273030;
    /// <summary>Of pagemap-PID.img and pagemap-shmem-SHMID.img alike.</summary>
    public const uint Pagemap = 0x56084025;
    public const uint Core = 0x55053847;
    public const uint Ids = 0x54432030;
    public const uint Userns = 0x55474906;
    public const uint Mm = 0x57492820;
    public const uint Stats = 0x57093306;
}
