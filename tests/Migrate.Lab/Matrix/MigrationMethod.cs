using Migrate.Engine.Migration;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>
/// One way to move a process from lab host A to lab host B: what the matrix
/// compares. <paramref name="Name"/> is what --methods and results.csv say,
/// <paramref name="Label"/> what results.md and the plots say.
/// </summary>
internal sealed record MigrationMethod(string Name, string Label, IMover Mover);

/// <summary>The methods the lab knows. A new way to migrate is one more line here.</summary>
internal static class MigrationMethods
{
    public static IReadOnlyList<MigrationMethod> All { get; } =
    [
        new("precopy", "migrate", new MigrateCli()),
        new("contenthash", "migrate --precopy content-hash", new MigrateCli("--precopy", "content-hash")),
        new("noprecopy", "migrate --precopy off", new MigrateCli("--precopy", "off")),
        new("byhand", "criu by hand", new CriuByHand()),
    ];

    public static MigrationMethod Find(string name) =>
        All.FirstOrDefault(method => method.Name == name)
        ?? throw new UsageException($"unknown method '{name}' (known: {string.Join(", ", All.Select(method => method.Name))})");
}

/// <summary>Moves the source process from A to B.</summary>
internal interface IMover
{
    /// <summary>Debian packages it runs besides migrate and CRIU.</summary>
    IReadOnlyList<string> Packages { get; }

    /// <summary>
    /// Moves it. A move that failed says why in <see cref="Move.Failure"/>;
    /// what the tool cannot read or rely on (a report that is not one) throws.
    /// </summary>
    Task<Move> MoveAsync(MoveRequest request, CancellationToken cancellationToken);
}

/// <summary>What a mover works with.</summary>
/// <param name="Source">The process on A.</param>
/// <param name="RunDirectory">This run's files (reports, logs).</param>
/// <param name="Timeout">For each step that waits: it grows with the process's size.</param>
/// <param name="Owned">Where to register processes it starts, so that they are ended whatever happens.</param>
internal sealed record MoveRequest(LabHosts Lab, OwnedProcess Source, string RunDirectory, TimeSpan Timeout, OwnedProcesses Owned);

/// <summary>How a move went, as far as the mover could see.</summary>
internal sealed record Move
{
    /// <summary>Why the process did not move (such as migrate-exit-4), or null.</summary>
    public string? Failure { get; init; }

    /// <summary>Its PID in B's agent PID namespace, where to look for it.</summary>
    public int? RestoredPid { get; init; }

    /// <summary>migrate: the report's frozenMs; by hand: from the dump's start to the restore's return.</summary>
    public double? FrozenMs { get; init; }

    /// <summary>Wall time of the whole move as a user waits for it.</summary>
    public double? TotalMs { get; init; }

    /// <summary>Bytes that crossed the link.</summary>
    public long? Bytes { get; init; }

    /// <summary>Where the frozen time went, as far as the method tells.</summary>
    public FreezeParts? Parts { get; init; }

    /// <summary>migrate's report, when the method is migrate.</summary>
    public MigrationReport? Report { get; init; }
}

/// <summary>
/// The frozen time in parts: the report's final.frozen for migrate; for CRIU
/// by hand its dump, its copy (as transfer) and its restore.
/// </summary>
internal sealed record FreezeParts(
    double? DumpMs, double? DiffMs, double? TransferMs, double? RebuildMs, double? RestoreMs, double? VerifyMs, double? ResumeMs)
{
    public static readonly IReadOnlyList<(string Column, string Title, Func<FreezeParts, double?> Value)> Columns =
    [
        ("dump_ms", "dump", parts => parts.DumpMs),
        ("diff_ms", "diff", parts => parts.DiffMs),
        ("transfer_ms", "transfer", parts => parts.TransferMs),
        ("rebuild_ms", "rebuild", parts => parts.RebuildMs),
        ("restore_ms", "restore", parts => parts.RestoreMs),
        ("verify_ms", "verify", parts => parts.VerifyMs),
        ("resume_ms", "resume", parts => parts.ResumeMs),
    ];

    public static FreezeParts From(FrozenBreakdown frozen) =>
        new(frozen.DumpMs, frozen.DiffMs, frozen.TransferMs, frozen.RebuildMs, frozen.RestoreMs, frozen.VerifyMs, frozen.ResumeMs);
}
