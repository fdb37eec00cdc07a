namespace Migrate.Benchmarks;

/// <summary>Where benchmarks that write files put them.</summary>
internal static class Scratch
{
    /// <summary>Memory-backed: measures our code, not a disk.</summary>
    public const string Tmpfs = "/dev/shm";

    /// <summary>The root file system (ext4 on these machines), where the agents keep their work directories by default.</summary>
    public const string Disk = "/var/tmp";

    /// <summary>A new, empty directory under <paramref name="parent"/>; the caller deletes it.</summary>
    public static string CreateDirectory(string parent) =>
        Directory.CreateDirectory(Path.Combine(parent, $"migrate-bench-{Guid.NewGuid():N}")).FullName;
}
