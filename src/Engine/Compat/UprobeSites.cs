using Microsoft.Win32.SafeHandles;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Compat;

/// <summary>
/// Breakpoints that uprobes put in a process's code. When a probe is hit, the
/// kernel gives the process a private copy of the code page with an int3
/// (0xCC) at the probed instruction, and a [uprobes] area for its helpers
/// (ENVIRONMENT.md, "uprobes"). CRIU dumps that private page: restored where
/// no probe is active, the int3 kills the process with SIGTRAP.
/// </summary>
public static class UprobeSites
{
    public const string CheckName = "uprobes";
    public const string AreaName = "[uprobes]";
    private const byte Int3 = 0xCC;

    public static bool HasUprobesArea(int pid) => ProcFs.Maps.Read(pid).Any(area => area.Path == AreaName);

    /// <summary>
    /// The sites in the tree: int3 bytes in private copies of file-backed code
    /// pages where the file holds another byte. This sees probes made through
    /// tracefs, perf and BPF alike, since it looks at the memory, not at
    /// uprobe_events.
    /// </summary>
    public static IReadOnlyList<UprobeSite> Find(IEnumerable<int> pids)
    {
        var sites = new List<UprobeSite>();
        var page = new byte[PageSize.Bytes];
        var fileBytes = new byte[PageSize.Bytes];
        foreach (var pid in pids)
        {
            using var resident = ResidentPages.Open(pid);
            if (resident is null)
            {
                continue;
            }
            foreach (var area in ProcFs.Maps.Read(pid).Where(area => area is { Executable: true, Private: true, IsFileBacked: true, Readable: true }))
            {
                // Runs of an executable file mapping that are not file pages are private copies.
                var copies = resident.Runs(area).ToList();
                if (copies.Count == 0)
                {
                    continue;
                }
                using var file = File.OpenHandle(area.Path);
                ElfImage? elf = null;
                foreach (var (start, pages) in copies)
                {
                    for (int i = 0; i < pages; i++)
                    {
                        ulong address = start + ((ulong)i << PageSize.Shift);
                        long fileOffset = (long)(area.Offset + (address - area.Start));
                        if (ProcessMemory.Read(pid, address, page) != PageSize.Bytes ||
                            RandomAccess.Read(file, fileBytes, fileOffset) != PageSize.Bytes)
                        {
                            continue;
                        }
                        for (int b = 0; b < PageSize.Bytes; b++)
                        {
                            if (page[b] == Int3 && fileBytes[b] != Int3)
                            {
                                elf ??= ReadElf(area.Path);
                                ulong siteOffset = (ulong)fileOffset + (ulong)b;
                                sites.Add(new UprobeSite(pid, address + (ulong)b, area.Path, siteOffset, fileBytes[b],
                                    elf?.AddressOf(siteOffset) is { } linked ? elf.Describe(linked) ?? "" : ""));
                            }
                        }
                    }
                }
            }
        }
        return sites;
    }

    /// <summary>
    /// On the target: with <paramref name="strip"/>, the sites will be put back
    /// to the file's bytes; otherwise each must have a live probe here too.
    /// </summary>
    public static CheckResult Verify(IReadOnlyList<UprobeSite> sites, bool strip)
    {
        if (sites.Count == 0)
        {
            return Checks.Pass(CheckName, "no uprobe sites in the process");
        }
        if (strip)
        {
            return Checks.Pass(CheckName, $"{sites.Count} uprobe sites will be stripped: {Describe(sites[0])}{More(sites)}");
        }
        foreach (var site in sites)
        {
            if (!IsActiveHere(site))
            {
                return Checks.Fail(CheckName, $"no uprobe is active on the target at {Describe(site)}: the process would die of SIGTRAP there",
                    "register the same probe on the target, or migrate with --uprobes strip to run the process unprobed there");
            }
        }
        return Checks.Pass(CheckName, $"all {sites.Count} uprobe sites are active on the target: {Describe(sites[0])}{More(sites)}");
    }

    /// <summary>Whether the bytes at the sites of the restored tasks are the file's own again.</summary>
    public static CheckResult VerifyStripped(IReadOnlyList<UprobeSite> sites)
    {
        var buffer = new byte[1];
        foreach (var site in sites)
        {
            if (ProcessMemory.Read(site.Pid, site.Address, buffer) != 1 || buffer[0] != site.OriginalByte)
            {
                return Checks.Fail(CheckName, $"the restored process still has 0x{buffer[0]:x2} at {Describe(site)}",
                    "report this: the strip did not reach the restored memory");
            }
        }
        return Checks.Pass(CheckName, $"the restored process runs unprobed: {sites.Count} sites hold the file's bytes");
    }

    public static string Describe(UprobeSite site) =>
        $"{site.Path}+0x{site.FileOffset:x}" + (site.Symbol.Length > 0 ? $" ({site.Symbol})" : "");

    private static string More(IReadOnlyList<UprobeSite> sites) => sites.Count > 1 ? $" and {sites.Count - 1} more" : "";

    private static bool IsActiveHere(UprobeSite site)
    {
        try
        {
            using SafeFileHandle file = File.OpenHandle(site.Path);
            return PrivateMapping.ReadByte(file, (long)site.FileOffset) == Int3;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static ElfImage? ReadElf(string path)
    {
        try
        {
            return ElfImage.Read(File.ReadAllBytes(path), path);
        }
        catch (InvalidDataException)
        {
            return null; // not ELF: the site is still reported, without a symbol
        }
    }
}
