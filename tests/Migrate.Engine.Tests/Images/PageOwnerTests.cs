using Migrate.Engine.Images;

namespace Migrate.Engine.Tests.Images;

public sealed class PageOwnerTests
{
    [Theory]
    [InlineData("pagemap-1234.img", 1234, null)]
    [InlineData("pagemap-shmem-0.img", 0, 0u)]
    [InlineData("pagemap-shmem-4294967295.img", 0, 4294967295u)]
    public void A_pagemap_file_name_names_its_owner_and_the_owner_names_the_file(string fileName, int pid, uint? shmid)
    {
        var owner = PageOwner.FromPagemapFileName(fileName);

        Assert.Equal(shmid is { } id ? PageOwner.SharedMemory(id) : PageOwner.Task(pid), owner);
        Assert.Equal(fileName, owner!.Value.PagemapFileName);
    }

    [Theory]
    [InlineData("pagemap-0.img")]
    [InlineData("pagemap--5.img")]
    [InlineData("pagemap-+5.img")]
    [InlineData("pagemap-shmem-4294967296.img")]
    [InlineData("pagemap-shmem-.img")]
    [InlineData("pagemap-12.img.tmp")]
    [InlineData("pages-1.img")]
    [InlineData("pagemap-../1.img")]
    public void Any_other_name_names_no_owner(string fileName) => Assert.Null(PageOwner.FromPagemapFileName(fileName));
}
