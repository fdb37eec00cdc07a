namespace Migrate.Engine.Compat;

public enum UprobeMode
{
    /// <summary>Every probe site must have a live probe on the target.</summary>
    Require,

    /// <summary>The sites get the file's bytes back: the process runs unprobed on the target.</summary>
    Strip,
}

/// <summary>What the operator allows about uprobes (--allow-uprobes, --uprobes).</summary>
public sealed record UprobePolicy(bool Allow, UprobeMode Mode)
{
    public static readonly UprobePolicy Refuse = new(false, UprobeMode.Require);
}
