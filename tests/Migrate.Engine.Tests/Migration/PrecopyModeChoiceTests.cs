using Migrate.Engine.Criu;
using Migrate.Engine.Memory;
using Migrate.Engine.Migration;
using Migrate.Engine.Migration.Source;

namespace Migrate.Engine.Tests.Migration;

public sealed class PrecopyModeChoiceTests
{
    private static readonly CriuFeatureSet Neither = new(MemoryTracking: false, LazyPages: true, WriteTracking: false);
    private static readonly CriuFeatureSet WriteProtectOnly = Neither with { WriteTracking = true };
    private static readonly CriuFeatureSet Both = WriteProtectOnly with { MemoryTracking = true };

    [Fact]
    public void Auto_prefers_soft_dirty_then_write_protect_then_content_hash_and_says_why()
    {
        Assert.Equal(PrecopyMode.SoftDirty, PrecopyPhase.ChooseMode(PrecopyChoice.Auto, Both).Mode);
        var (mode, reason) = PrecopyPhase.ChooseMode(PrecopyChoice.Auto, WriteProtectOnly);
        Assert.Equal(PrecopyMode.WriteProtect, mode);
        Assert.Contains("userfaultfd write-protect", reason, StringComparison.Ordinal);
        Assert.Equal(PrecopyMode.ContentHash, PrecopyPhase.ChooseMode(PrecopyChoice.Auto, Neither).Mode);
    }

    [Fact]
    public void Write_protect_asked_for_where_it_is_missing_is_refused_with_what_to_use_instead()
    {
        var refused = Assert.Throws<MigrationRefusedException>(() => PrecopyPhase.ChooseMode(PrecopyChoice.WriteProtect, Neither));

        Assert.Contains("Linux 6.7", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--precopy content-hash", refused.Message, StringComparison.Ordinal);
        Assert.Equal((PrecopyMode.WriteProtect, "--precopy write-protect"), PrecopyPhase.ChooseMode(PrecopyChoice.WriteProtect, Both));
    }
}
