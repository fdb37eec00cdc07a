namespace Migrate.Engine.Linux;

/// <summary>A device number as /proc prints it, major:minor in hexadecimal.</summary>
public readonly record struct DeviceNumber(uint Major, uint Minor)
{
    public override string ToString() => $"{Major:x2}:{Minor:x2}";
}

/// <summary>A file as one kernel names it: its file system's device and its inode.</summary>
public readonly record struct FileIdentity(DeviceNumber Device, ulong Inode);
