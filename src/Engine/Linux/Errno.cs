namespace Migrate.Engine.Linux;

/// <summary>errno values (asm-generic/errno-base.h): those the engine reacts to by name.</summary>
public enum Errno
{
    ESRCH = 3,
    EINTR = 4,
    EFAULT = 14,
}
