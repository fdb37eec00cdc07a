using Migrate.Engine.Compat;

namespace Migrate.Engine.Tests.Compat;

/// <summary>The vDSO comparison, on vDSO-like ELF images built to differ as two kernels' would.</summary>
public sealed class VdsoLayoutsTests : IDisposable
{
    private const string Clocks = """
        long __vdso_clock_gettime(long clock, void *ts) { return clock + (long)ts; }
        long __vdso_gettimeofday(void *tv, void *tz) { return (long)tv - (long)tz; }
        long __vdso_time(long *t) { return t ? *t : 0; }
        """;

    private readonly TempDirectory _directory = new();

    [Fact]
    public void Identical_layouts_need_no_proxy()
    {
        var source = Layout("a", Clocks);
        var target = Layout("b", Clocks);

        var check = VdsoLayouts.Compare(source, target);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.False(VdsoLayouts.WillProxify(check));
    }

    [Fact]
    public void Moved_symbols_mean_criu_will_proxify()
    {
        var source = Layout("a", Clocks);
        // Another kernel's vDSO: more code before the clocks moves their entries.
        var target = Layout("b", "long __vdso_getcpu(unsigned *c, unsigned *n, void *u) { return c ? (long)*c * 3 + (long)n : (long)u; }\n" + Clocks);

        var check = VdsoLayouts.Compare(source, target);

        Assert.Equal(CheckVerdict.Warn, check.Verdict);
        Assert.True(VdsoLayouts.WillProxify(check));
        Assert.Contains("__vdso_clock_gettime at 0x", check.Detail, StringComparison.Ordinal);
        Assert.Contains("proxify", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_different_vvar_means_criu_will_proxify()
    {
        var source = Layout("a", Clocks);
        var target = Layout("b", Clocks, vvarSize: 4 * 4096);

        Assert.True(VdsoLayouts.WillProxify(VdsoLayouts.Compare(source, target)));
    }

    [Fact]
    public void A_symbol_missing_on_the_target_is_refused()
    {
        var source = Layout("a", Clocks);
        var target = Layout("b", Clocks.Replace("long __vdso_time(long *t) { return t ? *t : 0; }", "", StringComparison.Ordinal));

        var check = VdsoLayouts.Compare(source, target);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("__vdso_time", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void This_kernel_s_own_vdso_exports_its_clocks()
    {
        var own = VdsoLayouts.ReadOwn();

        Assert.Contains(own.Symbols, symbol => symbol.Name is "__vdso_clock_gettime" or "__kernel_clock_gettime");
        Assert.True(own.VdsoSize >= 4096);
        Assert.Equal(CheckVerdict.Pass, VdsoLayouts.Compare(own, VdsoLayouts.ReadOwn()).Verdict);
    }

    public void Dispose() => _directory.Dispose();

    private VdsoLayout Layout(string name, string source, ulong vvarSize = 3 * 4096) =>
        VdsoLayouts.FromElf(SharedObject.Build(_directory, name, source), vvarSize, vvarFirst: true);
}
