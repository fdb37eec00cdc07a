using Migrate.Engine.Compat;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Compat;

public sealed class FileLocksTests
{
    private static readonly FileIdentity Elsewhere = new(new DeviceNumber(0xfe, 0x01), 42);

    private static FileFact Fact(string path, FileIdentity? locked) => new(path, 0, 0, ReadOnlyMemory<byte>.Empty, Writable: true, Directory: false, Locked: locked);

    [Fact]
    public void A_tree_without_locks_passes_with_or_without_file_locks()
    {
        Assert.Equal(CheckVerdict.Pass, FileLocks.Check([Fact("/srv/data", locked: null)], dumpFileLocks: false).Verdict);
        Assert.Equal(CheckVerdict.Pass, FileLocks.Check([], dumpFileLocks: true).Verdict);
    }

    [Fact]
    public void A_locked_file_without_file_locks_fails_before_the_freeze_naming_the_file_and_the_flag()
    {
        // CRIU would fail the dump with the tree frozen ("Some file locks are hold without option").
        var check = FileLocks.Check([Fact("/srv/a", locked: null), Fact("/srv/db.lock", Elsewhere)], dumpFileLocks: false);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("the tree holds a lock or lease on /srv/db.lock: CRIU dumps file locks only with --file-locks", check.Detail);
        Assert.Contains("--file-locks", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void Locked_files_with_file_locks_pass_on_the_source()
    {
        var check = FileLocks.Check([Fact("/srv/a.lock", Elsewhere), Fact("/srv/b.lock", Elsewhere with { Inode = 43 })], dumpFileLocks: true);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("the tree holds locks or leases on 2 files: CRIU moves them (--file-locks)", check.Detail);
    }

    [Fact]
    public void On_one_kernel_the_target_refuses_the_very_file_the_source_locks_even_where_it_cannot_see_the_lock()
    {
        // A target in a PID namespace of its own sees no lock whose holder it cannot name in /proc/locks.
        using var directory = new TempDirectory();
        var (path, identity) = NewFile(directory);

        var refused = FileLocks.Verify([Fact(path, identity)], sharedKernel: true, new HashSet<FileIdentity>());
        // Another kernel: the same device and inode numbers are a coincidence (hosts cloned from one image), not the same file.
        var otherKernel = FileLocks.Verify([Fact(path, identity)], sharedKernel: false, new HashSet<FileIdentity>());

        Assert.Equal(CheckVerdict.Fail, refused.Verdict);
        Assert.StartsWith($"{path} is the very file the process holds locked: source and target run on one kernel", refused.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, otherKernel.Verdict);
        Assert.Equal("1 file the tree holds locked, none locked on the target", otherKernel.Detail);
    }

    [Fact]
    public void The_target_refuses_a_file_a_process_there_holds_locked()
    {
        using var directory = new TempDirectory();
        var (path, identity) = NewFile(directory);

        var refused = FileLocks.Verify([Fact(path, Elsewhere)], sharedKernel: false, new HashSet<FileIdentity> { identity });
        // A file the tree does not lock is none of this check's business, locked here or not.
        var notLockedThere = FileLocks.Verify([Fact(path, locked: null)], sharedKernel: false, new HashSet<FileIdentity> { identity });

        Assert.Equal(CheckVerdict.Fail, refused.Verdict);
        Assert.StartsWith($"{path} is locked on the target already", refused.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, notLockedThere.Verdict);
    }

    [Fact]
    public void A_locked_file_missing_on_the_target_is_left_to_the_files_check()
    {
        using var directory = new TempDirectory();

        var check = FileLocks.Verify([Fact(directory.Combine("gone"), Elsewhere)], sharedKernel: true, new HashSet<FileIdentity>());

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
    }

    private static (string Path, FileIdentity Identity) NewFile(TempDirectory directory)
    {
        var path = directory.Combine("db.lock");
        File.WriteAllText(path, "");
        using var location = FileLocation.Open(path);
        return (path, FileLocation.Stat(location!).Identity);
    }
}
