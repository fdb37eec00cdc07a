using System.Diagnostics;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Tests.Linux;

/// <summary>The /proc readers, on files recorded on Linux 6.18 (TestData/proc-6.18) and on this test's own /proc.</summary>
public sealed class ProcFsTests
{
    private static readonly string Recorded = Path.Combine(AppContext.BaseDirectory, "TestData", "proc-6.18");

    private static ReadOnlySpan<byte> RecordedFile(string name) => File.ReadAllBytes(Path.Combine(Recorded, name));

    [Fact]
    public void Stat_fields_are_counted_from_the_last_parenthesis_of_a_name_with_spaces_and_parentheses()
    {
        var stat = ProcFs.Stat.Parse(RecordedFile("stat-odd-name"), "stat-odd-name");

        Assert.Equal('S', stat.State);
        Assert.Equal(0x400000u, stat.Flags);
    }

    [Fact]
    public void A_zombie_s_stat_says_Z()
    {
        Assert.Equal('Z', ProcFs.Stat.Parse(RecordedFile("stat-zombie"), "stat-zombie").State);
    }

    [Fact]
    public void A_stat_cut_short_is_refused_with_the_file_named()
    {
        var e = Assert.Throws<InvalidDataException>(() => ProcFs.Stat.Parse("123 (cut) S 1 2"u8, "/proc/123/stat"));

        Assert.Contains("/proc/123/stat", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_gives_the_name_ids_capabilities_and_resident_size()
    {
        var status = ProcFs.Status.Parse(RecordedFile("status-odd-name"), "status-odd-name");

        Assert.Equal("a) (b c", status.Name);
        Assert.Equal('S', status.State);
        Assert.Equal(24176, status.Tgid);
        Assert.Equal(24126, status.ParentPid);
        Assert.Equal(0, status.TracerPid);
        Assert.Equal(1736ul, status.ResidentKiB);
        Assert.Equal(0ul, status.CapInh);
        Assert.Equal(0x1fffefffffful, status.CapPrm);
        Assert.Equal(0x1fffefffffful, status.CapEff);
        Assert.Equal(0x1fffefffffful, status.CapBnd);
        Assert.Equal(0, status.Seccomp);
        Assert.Equal(24176, status.NamespacePid);
    }

    [Fact]
    public void A_task_in_a_pid_namespace_is_named_by_its_pid_there()
    {
        var status = ProcFs.Status.Parse("Name:\tinit\nPid:\t4711\nNSpid:\t4711\t38\t1\n"u8, "/proc/4711/status");

        Assert.Equal(1, status.NamespacePid);
    }

    [Fact]
    public void A_zombie_s_status_has_no_resident_size()
    {
        var status = ProcFs.Status.Parse(RecordedFile("status-zombie"), "status-zombie");

        Assert.Equal('Z', status.State);
        Assert.Null(status.ResidentKiB);
        Assert.Equal(24171, status.Tgid);
    }

    [Fact]
    public void A_status_field_that_is_not_a_number_is_refused_with_the_file_named()
    {
        var e = Assert.Throws<InvalidDataException>(() => ProcFs.Status.Parse("Name:\tx\nTgid:\tabc\n"u8, "/proc/9/status"));

        Assert.Contains("/proc/9/status", e.Message, StringComparison.Ordinal);
        Assert.Contains("abc", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Children_are_the_space_separated_pids()
    {
        var children = new SortedSet<int>();

        ProcFs.Children.Parse(RecordedFile("children"), "children", children);

        Assert.Equal([25427, 25428, 25429], children);
    }

    [Fact]
    public void Maps_give_every_area_with_its_device_inode_and_path()
    {
        var areas = ProcFs.Maps.Parse(RecordedFile("maps"), "maps");

        Assert.Equal(27, areas.Count);
        var program = areas[0];
        Assert.Equal(new MemoryArea(0x563259216000, 0x563259217000, true, false, false, true, 0, new DeviceNumber(0xfe, 0), 11690169, "/tmp/procrec/moved"), program);
        Assert.Same(areas[0].Path, areas[1].Path);
        var deleted = Assert.Single(areas, area => area.Path.Contains("gone file", StringComparison.Ordinal));
        Assert.Equal("/tmp/procrec/gone file (deleted)", deleted.Path);
        Assert.True(deleted is { Writable: true, Private: true, IsFileBacked: true, Inode: 11690173 });
        var moved = Assert.Single(areas, area => area.Start == 0x7f5b64076000);
        Assert.True(moved is { End: 0x7f5b64176000, Offset: 0, Inode: 0, Path: "", IsFileBacked: false });
        Assert.Equal(["[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]"], areas.Where(area => area.IsKernelSpecial).Select(area => area.Path));
        Assert.Equal("[stack]", areas[^2].Path);
    }

    [Fact]
    public void A_maps_line_without_an_inode_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => ProcFs.Maps.ParseLine("7f0000000000-7f0000001000 rw-p 00000000 00:00"));
    }

    [Fact]
    public void This_process_reads_as_itself()
    {
        int self = Environment.ProcessId;

        var status = ProcFs.Status.Read(self)!;
        Assert.Equal(self, status.Tgid);
        Assert.Equal(0, status.TracerPid);
        Assert.True(status.ResidentKiB > 0);
        Assert.Equal(self.ToString(System.Globalization.CultureInfo.InvariantCulture), ProcFs.Self());
        Assert.Contains(self, ProcFs.Threads(self));
        Assert.True(ProcFs.Threads(self).Count > 1, "the runtime runs threads of its own");
        Assert.Contains(ProcFs.Maps.Read(self), area => area.Path == "[vdso]");
        Assert.Contains(ProcFs.Pids(), pid => pid == self);
        Assert.Contains("Migrate.Engine.Tests", ProcFs.CommandLine(self), StringComparison.Ordinal);
        Assert.Equal(Environment.CurrentDirectory, ProcFs.WorkingDirectory(self));
    }

    [Fact]
    public void A_child_is_listed_with_its_command_and_open_files()
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", "300") { RedirectStandardInput = true })!;
        try
        {
            Assert.Contains(child.Id, ProcFs.Children.OfSelf());
            Assert.Contains(child.Id, ProcFs.Children.Of(Environment.ProcessId));
            Assert.Equal("sleep", ProcFs.Command(child.Id));
            Assert.Equal("sleep 300", ProcFs.CommandLine(child.Id));
            var stdin = Assert.Single(ProcFs.OpenFiles(child.Id), file => file.Fd == 0);
            Assert.StartsWith("pipe:[", stdin.Target, StringComparison.Ordinal);
            // O_RDONLY: the read end of the pipe.
            Assert.Equal(0, ProcFs.Descriptor(child.Id, 0)!.Value.Flags & 3);
            Assert.Null(ProcFs.Descriptor(child.Id, 0)!.Value.Locked);

            Process.Start("kill", ["-STOP", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).WaitForExit();
            SpinWait.SpinUntil(() => ProcFs.Stat.Read(child.Id)?.State == 'T', TimeSpan.FromSeconds(10));
            Assert.Equal('T', ProcFs.Stat.Read(child.Id)!.Value.State);
            Assert.Equal('T', ProcFs.Status.Read(child.Id)!.State);
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
    }

    [Fact]
    public void Locks_name_each_file_held_by_its_device_and_inode_and_a_waiter_holds_nothing()
    {
        var held = ProcFs.ParseLocks(File.ReadAllText(Path.Combine(Recorded, "locks")));

        // A lease, an OFD lock (owner -1), a POSIX range and a flock, the flock's waiter adding nothing.
        Assert.Equal(
            new ulong[] { 11698313, 11698315, 11698316, 11698317 }.Select(inode => new FileIdentity(new DeviceNumber(0xfe, 0x00), inode)).ToHashSet(),
            held.ToHashSet());
    }

    [Fact]
    public void A_descriptor_with_a_lock_line_in_its_fdinfo_reads_as_locked()
    {
        var info = ProcFs.ParseDescriptor(File.ReadAllText(Path.Combine(Recorded, "fdinfo-locked")));

        Assert.Equal(new DescriptorInfo(Convert.ToInt32("02100001", 8), new FileIdentity(new DeviceNumber(0xfe, 0x00), 11698313)), info);
    }

    [Fact]
    public void A_lock_this_process_takes_shows_on_its_descriptor_and_in_proc_locks()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.Combine("locked"), "");
        // Opened by open(2) itself: a FileStream that opens a path takes a flock of its own (LOCK_SH), one made from a handle does not.
        int fd = Interop.CheckIo(Interop.Open(directory.Combine("locked"), Interop.O_RDONLY | Interop.O_CLOEXEC, 0), "open");
        using var file = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read);
        Assert.Null(ProcFs.Descriptor(Environment.ProcessId, fd)!.Value.Locked);

        file.Lock(0, 1); // fcntl(F_SETLK) on Linux
        var identity = FileLocation.Stat(file.SafeFileHandle).Identity;

        Assert.Equal(identity, ProcFs.Descriptor(Environment.ProcessId, fd)!.Value.Locked);
        Assert.Contains(identity, ProcFs.LockedFiles());
        file.Unlock(0, 1);
        Assert.DoesNotContain(identity, ProcFs.LockedFiles());
    }

    [Fact]
    public void A_process_that_has_gone_reads_as_nothing()
    {
        const int Gone = int.MaxValue;

        Assert.Null(ProcFs.Stat.Read(Gone));
        Assert.Null(ProcFs.Status.Read(Gone));
        Assert.Empty(ProcFs.Maps.Read(Gone));
        Assert.Empty(ProcFs.Children.Of(Gone));
        Assert.Empty(ProcFs.Threads(Gone));
        Assert.Empty(ProcFs.OpenFiles(Gone));
        Assert.Null(ProcFs.Command(Gone));
        Assert.Equal("", ProcFs.CommandLine(Gone));
        Assert.Null(ProcFs.Pagemap.Open(Gone));
        Assert.False(ProcFs.Exists(Gone));
    }

    [Fact]
    public void A_file_opened_before_its_process_exited_reads_as_gone()
    {
        var child = Process.Start("sleep", "300");
        using var pagemap = ProcFs.Pagemap.Open(child.Id)!;
        child.Kill();
        child.WaitForExit();

        Assert.Equal(0, pagemap.Read(0x400, new ulong[16]));
    }

    [Fact]
    public void The_pagemap_shows_a_touched_page_present_and_an_untouched_one_absent()
    {
        using var pagemap = ProcFs.Pagemap.Open(Environment.ProcessId)!;
        var pages = GC.AllocateUninitializedArray<byte>(64 * PageSize.Bytes, pinned: true);
        unsafe
        {
            fixed (byte* start = pages)
            {
                ulong first = ((ulong)start + PageSize.Bytes - 1) >> PageSize.Shift;
                pages[(int)((first << PageSize.Shift) - (ulong)start)] = 1;
                var entries = new ulong[1];

                Assert.Equal(1, pagemap.Read(first, entries));
                Assert.NotEqual(0ul, entries[0] & ProcFs.Pagemap.Present);
            }
        }
    }
}
