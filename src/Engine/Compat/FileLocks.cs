using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// File locks and leases the tree holds. CRIU dumps them only with
/// --file-locks (without it the dump fails, the tree frozen), and restores
/// them by taking them again on the target. Until the commit the frozen source
/// copy keeps its own, so where the target sees the same file the restore's
/// flock or F_SETLKW waits for the source copy for ever, and its open of a
/// leased file breaks the lease. Both checks run before the freeze: the
/// source's asks for --file-locks; the target's refuses a locked file that is
/// the source's very file (one kernel) or that a process there holds locked.
/// </summary>
public static class FileLocks
{
    public const string CheckName = "file-locks";

    private const string SharedRemedy =
        "migrate to a host that does not share the file, or end what holds the lock there; the source copy keeps its locks until the target's copy runs, and two copies cannot hold one lock";

    /// <summary>On the source: the tree's locks can be dumped.</summary>
    public static CheckResult Check(IReadOnlyList<FileFact> files, bool dumpFileLocks)
    {
        var locked = files.Where(file => file.Locked is not null).ToList();
        if (locked.Count == 0)
        {
            return Checks.Pass(CheckName, "the tree holds no file locks or leases");
        }
        return dumpFileLocks
            ? Checks.Pass(CheckName, $"the tree holds locks or leases on {Checks.Count(locked.Count, "file")}: CRIU moves them (--file-locks)")
            : Checks.Fail(CheckName, $"the tree holds a lock or lease on {locked[0].Path}: CRIU dumps file locks only with --file-locks",
                "pass --file-locks to move the locks with the process");
    }

    /// <summary>
    /// On the target: no file the tree holds locked is the source's own file
    /// (when <paramref name="sourceBootId"/> is this kernel's) or locked here
    /// already. Never opens the file: an open for reading would itself break a
    /// write lease held on it.
    /// </summary>
    public static CheckResult Verify(IEnumerable<FileFact> files, string sourceBootId) =>
        Verify(files, sharedKernel: sourceBootId.Length > 0 && sourceBootId == ProcFs.BootId(), ProcFs.LockedFiles());

    internal static CheckResult Verify(IEnumerable<FileFact> files, bool sharedKernel, IReadOnlySet<FileIdentity> lockedHere)
    {
        int count = 0;
        foreach (var file in files)
        {
            if (file.Locked is not { } sourceFile)
            {
                continue;
            }
            count++;
            using var location = FileLocation.Open(file.Path);
            if (location is null)
            {
                continue; // the files check names what is missing
            }
            var here = FileLocation.Stat(location).Identity;
            if (sharedKernel && here == sourceFile)
            {
                return Checks.Fail(CheckName,
                    $"{file.Path} is the very file the process holds locked: source and target run on one kernel, and the restore would wait for the source copy's lock, or break its lease, while it is frozen",
                    SharedRemedy);
            }
            if (lockedHere.Contains(here))
            {
                return Checks.Fail(CheckName,
                    $"{file.Path} is locked on the target already: the restore would wait for that lock, or break that lease, while the source copy is frozen",
                    SharedRemedy);
            }
        }
        return Checks.Pass(CheckName, count == 0
            ? "the tree holds no file locks or leases"
            : $"{Checks.Count(count, "file")} the tree holds locked, none locked on the target");
    }
}
