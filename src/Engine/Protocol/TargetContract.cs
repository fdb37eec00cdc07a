using Migrate.Engine.Compat;
using Migrate.Engine.Memory;

namespace Migrate.Engine.Protocol;

// The calls between the agents, in the engine's own terms. WireMapping turns
// them into the protobuf messages of protos/migration.proto and back; nothing
// above this layer sees a generated type.

/// <summary>What the target accepts; the source sizes its streams to fit.</summary>
public sealed record TargetLimits(int MaxChunkBytes, long MaxSessionBytes);

/// <summary>A session the target opened for this source.</summary>
public sealed record TargetHandshake(string SessionId, HostFacts Target, TargetLimits Limits);

/// <summary>What the target checks before anything is frozen.</summary>
/// <param name="Files">Files the process maps or holds open.</param>
/// <param name="Pids">Every PID of the tree: the target must be able to restore them.</param>
/// <param name="UprobeSites">Breakpoints found in the process's code.</param>
public sealed record PreflightQuery(IReadOnlyList<FileFact> Files, IReadOnlyList<int> Pids, IReadOnlyList<UprobeSite> UprobeSites, UprobeMode UprobeMode);

/// <param name="FileLocks">The images hold file locks to restore (criu --file-locks).</param>
/// <param name="LinkRemap">The images may name unlinked files linked back under a temporary name (criu --link-remap).</param>
/// <param name="LazyPages">Resume before all memory is loaded: a local lazy-pages daemon serves the pages.</param>
/// <param name="AllowUprobes">The images hold a [uprobes] area (criu --allow-uprobes).</param>
/// <param name="TcpClose">Connected TCP sockets were dumped without their state and are restored shut down (criu --tcp-close).</param>
/// <param name="ExternalUnixSockets">Unix sockets whose peer was outside the tree are connected again by the peer's path (criu --ext-unix-sk).</param>
public sealed record RestoreOptions(
    bool ShellJob, bool TcpEstablished, bool FileLocks, bool LinkRemap, bool LazyPages, bool AllowUprobes, bool TcpClose = false, bool ExternalUnixSockets = false);

/// <summary>Restore an image set, with the tasks left stopped.</summary>
/// <param name="Rebuild">Pages images the target writes from the pages it holds (content-hash pre-copy).</param>
/// <param name="StripSites">With --uprobes strip: the sites whose original bytes go back into the images.</param>
public sealed record RestoreOrder(string Set, RestoreOptions Options, IReadOnlyList<PagesRebuild> Rebuild, IReadOnlyList<UprobeSite> StripSites);

/// <summary>The stages of a restore, as the target timed them.</summary>
public sealed record TargetTimings(double RebuildMs, double RestoreMs, double VerifyMs);

/// <summary>The restored tasks, stopped, and the target's checks of the images and of them.</summary>
/// <param name="LazyPages">False when the target restored eagerly although lazy pages were asked for; <paramref name="LazyPagesNote"/> says why.</param>
/// <param name="RebuiltBytes">Bytes written to rebuild CRIU's pages images from the page store (content-hash pre-copy).</param>
public sealed record RestoreResult(
    int RootPid, IReadOnlyList<int> Pids, TargetTimings Timings, bool LazyPages, string? LazyPagesNote, IReadOnlyList<CheckResult> Checks,
    long RebuiltBytes = 0);

/// <param name="ResumeMs">How long after the commit arrived the tasks were running.</param>
/// <param name="RestoredAgain">Set when the target restored again with all memory loaded because its lazy-pages daemon died before the resume.</param>
public sealed record CommitResult(int RootPid, double ResumeMs, string? RestoredAgain);

/// <summary>After a lazy restore: whether every page reached the process, and when the last did.</summary>
/// <param name="LastPageAfterResumeMs">Negative if every page was in before the process resumed.</param>
/// <param name="Error">Why not complete, in the lazy-pages daemon's words.</param>
public sealed record PagesArrival(bool Complete, double LastPageAfterResumeMs, string? Error);
