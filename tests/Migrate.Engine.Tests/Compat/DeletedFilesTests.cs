using Migrate.Engine.Compat;

namespace Migrate.Engine.Tests.Compat;

public sealed class DeletedFilesTests
{
    private const long Limit = 1 << 20;

    [Fact]
    public void A_tree_without_deleted_files_passes() =>
        Assert.Equal("the tree holds no deleted files", DeletedFiles.Check([], Limit).Detail);

    [Fact]
    public void Deleted_files_within_the_limit_pass_and_the_largest_is_named_by_its_size()
    {
        var check = DeletedFiles.Check([new(10, "/var/spool/a", 4096), new(11, "/var/spool/b", Limit)], Limit);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("the tree holds 2 deleted files, at most 1024 KiB on disk: CRIU copies their content", check.Detail);
    }

    [Fact]
    public void The_largest_deleted_file_past_the_limit_fails_before_the_freeze_naming_a_limit_that_suffices()
    {
        // CRIU would refuse it at the dump, with the tree frozen: "Can't dump ghost file ... increase limit".
        var check = DeletedFiles.Check([new(10, "/var/spool/a", Limit + 1), new(11, "/var/spool/b", (5L << 20) + 1)], Limit);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Equal("task 11 holds /var/spool/b, deleted, with 5121 KiB on disk: CRIU copies a deleted file's content into the images only up to --ghost-limit (1024 KiB)",
            check.Detail);
        Assert.Equal("pass --ghost-limit 6M or more; the content crosses while the process is frozen", check.Remedy);
    }
}
