using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// The vDSO layout of this host, and the comparison CRIU makes at restore
/// (criu/vdso.c): when sizes, symbol offsets or the vvar's place differ, CRIU
/// keeps the dumped vDSO as a proxy whose entries jump into the new one.
/// </summary>
public static class VdsoLayouts
{
    public const string CheckName = "vdso";

    /// <summary>
    /// The symbols CRIU compares and proxies (criu/arch/x86/include/asm/vdso.h
    /// and criu/arch/aarch64/include/asm/vdso.h). Other entries of the dumped
    /// vDSO are kept as they were, and keep running the old kernel's code.
    /// </summary>
    public static readonly IReadOnlySet<string> ProxiedSymbols = new HashSet<string>(StringComparer.Ordinal)
    {
        "__vdso_clock_gettime", "__vdso_getcpu", "__vdso_gettimeofday", "__vdso_time",
        "__kernel_sigreturn", "__kernel_rt_sigreturn", "__vdso_clock_gettime64",
        "__kernel_clock_getres", "__kernel_clock_gettime", "__kernel_gettimeofday",
    };

    /// <summary>Reads the vDSO the kernel mapped into this process.</summary>
    public static unsafe VdsoLayout ReadOwn()
    {
        var areas = ProcFs.Maps.Read(Environment.ProcessId);
        var vdso = areas.Single(area => area.Path == "[vdso]");
        var vvar = areas.Where(area => area.Path is "[vvar]" or "[vvar_vclock]").ToList();
        var image = new ReadOnlySpan<byte>((void*)vdso.Start, checked((int)(vdso.End - vdso.Start)));
        return FromElf(image, (ulong)vvar.Sum(area => (long)(area.End - area.Start)), vvar.Count > 0 && vvar[0].Start < vdso.Start);
    }

    public static VdsoLayout FromElf(ReadOnlySpan<byte> image, ulong vvarSize, bool vvarFirst)
    {
        var elf = ElfImage.Read(image, "[vdso]");
        // The vDSO is linked at 0, so a symbol's address is its offset.
        var symbols = elf.Symbols
            .Where(symbol => symbol.Size > 0)
            .Select(symbol => new VdsoSymbol(symbol.Name, symbol.Address, symbol.Size))
            .ToList();
        return new VdsoLayout((ulong)image.Length, vvarSize, vvarFirst, symbols);
    }

    /// <summary>
    /// Passes when the layouts match; warns that CRIU will proxify when they
    /// differ; fails when the target lacks a symbol the process may call.
    /// </summary>
    public static CheckResult Compare(VdsoLayout source, VdsoLayout target)
    {
        var targetSymbols = target.Symbols.ToDictionary(symbol => symbol.Name, StringComparer.Ordinal);
        var missing = Proxied(source).Where(symbol => !targetSymbols.ContainsKey(symbol.Name)).Select(symbol => symbol.Name).ToList();
        if (missing.Count > 0)
        {
            return Checks.Fail(CheckName, $"the target's vDSO lacks {string.Join(", ", missing)}, which the process's vDSO exports",
                "migrate to a host whose kernel exports the same vDSO functions");
        }
        var differences = Differences(source, target, targetSymbols).ToList();
        return differences.Count == 0
            ? Checks.Pass(CheckName, "identical vDSO layouts: no proxy needed")
            : Checks.Warn(CheckName, $"the vDSO layouts differ ({string.Join("; ", differences)}): CRIU will proxify the vDSO, " +
                                     "and the freeze is retried if a thread stands in the bytes the proxy overwrites");
    }

    /// <summary>The layout's symbols that CRIU proxies.</summary>
    public static IEnumerable<VdsoSymbol> Proxied(VdsoLayout layout) => layout.Symbols.Where(symbol => ProxiedSymbols.Contains(symbol.Name));

    /// <summary>True when the check found that CRIU will put a proxy in place of the process's vDSO.</summary>
    public static bool WillProxify(CheckResult check) => check.Name == CheckName && check.Verdict == CheckVerdict.Warn;

    private static IEnumerable<string> Differences(VdsoLayout source, VdsoLayout target, Dictionary<string, VdsoSymbol> targetSymbols)
    {
        if (source.VdsoSize != target.VdsoSize)
        {
            yield return $"size {source.VdsoSize} != {target.VdsoSize}";
        }
        if (source.VvarSize != target.VvarSize)
        {
            yield return $"vvar size {source.VvarSize} != {target.VvarSize}";
        }
        if (source.VvarFirst != target.VvarFirst)
        {
            yield return "vvar on the other side";
        }
        foreach (var symbol in Proxied(source).Where(symbol => targetSymbols[symbol.Name].Offset != symbol.Offset))
        {
            yield return $"{symbol.Name} at 0x{symbol.Offset:x} != 0x{targetSymbols[symbol.Name].Offset:x}";
        }
    }
}
