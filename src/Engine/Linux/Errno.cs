namespace Migrate.Engine.Linux;

/// <summary>errno values (asm-generic/errno-base.h, asm-generic/errno.h): those the engine reacts to or names.</summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    ENXIO = 6,
    ENOMEM = 12,
    EACCES = 13,
    EBADF = 9,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENOTDIR = 20,
    EINVAL = 22,
    ENOTTY = 25,
    ENOSPC = 28,
    ENOSYS = 38,
}
