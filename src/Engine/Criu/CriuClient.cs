using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Migrate.Engine.Criu.Rpc;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Criu;

/// <summary>Where and how the engine runs CRIU.</summary>
public sealed record CriuSettings
{
    public string CriuPath { get; init; } = CriuLocation.Default;

    /// <summary>Extra environment for CRIU, e.g. CRIU_FAULT for fault injection in tests.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>How long one CRIU request may take before CRIU is killed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>Options shared by dump and restore.</summary>
public abstract record CriuAction
{
    /// <summary>The image directory.</summary>
    public required string ImagesDirectory { get; init; }

    /// <summary>Where CRIU writes its log and config file; kept apart from the images.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>The process is attached to a terminal or session it does not lead (criu --shell-job).</summary>
    public bool ShellJob { get; init; }

    /// <summary>Established TCP connections are dumped and restored (criu --tcp-established).</summary>
    public bool TcpEstablished { get; init; }

    /// <summary>Connected TCP sockets are dumped without their state and restored shut down (criu --tcp-close).</summary>
    public bool TcpClose { get; init; }

    /// <summary>File locks the tasks hold are dumped and restored (criu --file-locks).</summary>
    public bool FileLocks { get; init; }

    /// <summary>Open files that were unlinked are linked back instead of copied into the images (criu --link-remap).</summary>
    public bool LinkRemap { get; init; }

    /// <summary>Unix sockets connected to a peer outside the tree are dumped, and connected again by the peer's path (criu --ext-unix-sk).</summary>
    public bool ExternalUnixSockets { get; init; }

    /// <summary>The tasks are left stopped after the action (criu --leave-stopped).</summary>
    public bool LeaveStopped { get; init; } = true;

    /// <summary>The tasks have a [uprobes] area (criu --allow-uprobes; the RPC has no field for it).</summary>
    public bool AllowUprobes { get; init; }

    internal abstract string Name { get; }

    internal string LogPath => Path.Combine(WorkDirectory, $"criu-{Name}.log");

    internal virtual CriuOpts ToOptions(string configFile) => new()
    {
        ImagesDirFd = -1,
        ImagesDir = ImagesDirectory,
        LogLevel = 4,
        ConfigFile = configFile,
        ShellJob = ShellJob,
        TcpEstablished = TcpEstablished,
        TcpClose = TcpClose,
        FileLocks = FileLocks,
        LinkRemap = LinkRemap,
        ExtUnixSk = ExternalUnixSockets,
        LeaveStopped = LeaveStopped,
        NotifyScripts = true,
        // Only established connections need the network locked while frozen,
        // and then with nftables, which this kernel and CRIU build have.
        NetworkLock = TcpEstablished ? CriuNetworkLockMethod.Nftables : CriuNetworkLockMethod.Skip,
    };

    internal virtual CriuConfigFile ToConfigFile()
    {
        var config = new CriuConfigFile().Add("work-dir", WorkDirectory).Add("log-file", Path.GetFileName(LogPath));
        return AllowUprobes ? config.Add("allow-uprobes") : config;
    }
}

public sealed record CriuDump : CriuAction
{
    public required int Pid { get; init; }

    /// <summary>Enable soft-dirty tracking so that a later dump can name this one as parent (criu --track-mem).</summary>
    public bool TrackMemory { get; init; }

    /// <summary>
    /// Pages the caller's userfaultfd keeps write-protected are unchanged since
    /// <see cref="ParentImages"/> and are not dumped (criu --track-mem-wp, the
    /// project's patch 0001; passed in the config file, the RPC has no field).
    /// </summary>
    public bool TrackMemoryByWriteProtect { get; init; }

    /// <summary>The previous images, relative to <see cref="CriuAction.ImagesDirectory"/>; only pages changed since are dumped.</summary>
    public string? ParentImages { get; init; }

    /// <summary>A pre-dump: copies memory while the process runs on (criu pre-dump).</summary>
    public bool PreDump { get; init; }

    /// <summary>Connections still in a listening socket's accept queue are left behind (criu --skip-in-flight).</summary>
    public bool SkipInFlight { get; init; }

    /// <summary>CRIU's own --ghost-limit (criu/include/cr_options.h, DEFAULT_GHOST_LIMIT).</summary>
    public const uint DefaultGhostLimit = 1 << 20;

    /// <summary>The most a deleted file may take on disk for CRIU to copy its content into the images (criu --ghost-limit).</summary>
    public uint GhostLimit { get; init; } = DefaultGhostLimit;

    internal override string Name => PreDump ? "pre-dump" : "dump";

    internal override CriuConfigFile ToConfigFile()
    {
        var config = base.ToConfigFile();
        return TrackMemoryByWriteProtect ? config.Add("track-mem-wp") : config;
    }

    internal override CriuOpts ToOptions(string configFile)
    {
        var options = base.ToOptions(configFile);
        options.Pid = Pid;
        options.TrackMem = TrackMemory;
        options.TcpSkipInFlight = SkipInFlight;
        options.GhostLimit = GhostLimit;
        if (ParentImages is not null)
        {
            options.ParentImg = ParentImages;
        }
        return options;
    }
}

public sealed record CriuRestore : CriuAction
{
    /// <summary>Memory is served on demand by a <see cref="CriuLazyPages"/> daemon sharing the work directory.</summary>
    public bool LazyPages { get; init; }

    /// <summary>
    /// Leave the tasks in CRIU's own cgroups, and so in the caller's, rather than
    /// in those the images name (criu --manage-cgroups=ignore; the default, soft,
    /// creates the source's cgroups here and moves the tasks into them).
    /// </summary>
    public bool KeepCallersCgroups { get; init; }

    internal override string Name => "restore";

    internal override CriuOpts ToOptions(string configFile)
    {
        var options = base.ToOptions(configFile);
        // The restored root becomes our child rather than CRIU's, so it is not
        // orphaned when CRIU exits (rpc.proto: rst_sibling, swrk only).
        options.RstSibling = true;
        options.LazyPages = LazyPages;
        if (KeepCallersCgroups)
        {
            options.ManageCgroupsMode = CriuCgMode.Ignore;
        }
        return options;
    }
}

/// <summary>CRIU's description of the CPU (cpuinfo.img): written by a dump, compared by a check.</summary>
public sealed record CriuCpuInfo : CriuAction
{
    // criu/include/cr_options.h
    public const uint CheckFpu = 1 << 0;
    public const uint CheckInstructions = 1 << 2;

    public bool Check { get; init; }

    /// <summary>What a check compares (criu --cpu-cap): <see cref="CheckFpu"/>, <see cref="CheckInstructions"/>.</summary>
    public uint Capabilities { get; init; } = CheckFpu | CheckInstructions;

    internal override string Name => Check ? "cpuinfo-check" : "cpuinfo-dump";

    internal override CriuOpts ToOptions(string configFile)
    {
        var options = base.ToOptions(configFile);
        options.CpuCap = Capabilities;
        return options;
    }
}

/// <summary>What this host's kernel and CRIU can do (criu check --feature).</summary>
/// <param name="MemoryTracking">Soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY).</param>
/// <param name="WriteTracking">CRIU takes write-protect tracking from its caller (--track-mem-wp, patch 0001) and the kernel has what it needs.</param>
/// <param name="ReadsProcLimits">
/// CRIU reads a task's limits from /proc/PID/limits where prlimit(2) is refused (patch 0002).
/// No CRIU option shows that patch; it is recognised by patch 0001's, which CRIU knows whether
/// or not this kernel can use it: setup and the package apply the project's patches together.
/// The source's own concern: it is not sent to the peer.
/// </param>
public sealed record CriuFeatureSet(bool MemoryTracking, bool LazyPages, bool WriteTracking = false, bool ReadsProcLimits = false);

public sealed record CriuVersionInfo(int Major, int Minor, int Sublevel)
{
    public override string ToString() => $"{Major}.{Minor}.{Sublevel}";
}

/// <summary>What the engine asks of CRIU: the seam behind which tests put a fake.</summary>
public interface ICriu
{
    /// <summary>
    /// Dumps a process tree. With <see cref="CriuAction.LeaveStopped"/> its tasks
    /// stay stopped; a pre-dump always lets them run on.
    /// </summary>
    Task DumpAsync(CriuDump dump, CriuNotifyHandler? onNotify, CancellationToken cancellationToken);

    /// <summary>Restores a process tree; returns the PID of its root task.</summary>
    Task<int> RestoreAsync(CriuRestore restore, CriuNotifyHandler? onNotify, CancellationToken cancellationToken);

    /// <summary>Starts a lazy-pages daemon for a restore of <paramref name="imagesDirectory"/> and returns once it accepts it.</summary>
    Task<ILazyPagesDaemon> StartLazyPagesAsync(string imagesDirectory, string workDirectory, CancellationToken cancellationToken);

    Task<CriuFeatureSet> CheckFeaturesAsync(CancellationToken cancellationToken);

    Task<CriuVersionInfo> GetVersionAsync(CancellationToken cancellationToken);

    /// <summary>Writes this host's CPU description into the action's images directory as cpuinfo.img.</summary>
    Task DumpCpuInfoAsync(CriuCpuInfo dump, CancellationToken cancellationToken);

    /// <summary>Checks that this CPU can run what the cpuinfo.img in the images directory describes.</summary>
    Task CheckCpuInfoAsync(CriuCpuInfo check, CancellationToken cancellationToken);
}

/// <summary>
/// Drives CRIU through its RPC, one <c>criu swrk</c> per request. Each request
/// is logged at Debug with how long CRIU took and how it ended: the freeze's
/// cost is mostly CRIU's, and --verbose shows which request paid it.
/// </summary>
public sealed partial class CriuClient(CriuSettings settings, TimeProvider time, ILogger? logger = null) : ICriu
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    public CriuSettings Settings { get; } = settings;

    public async Task DumpAsync(CriuDump dump, CriuNotifyHandler? onNotify, CancellationToken cancellationToken)
    {
        // PRE_DUMP keeps CRIU waiting on the socket for the next pre-dump or the
        // dump (criu/cr-service.c, pre_dump_loop); SINGLE_PRE_DUMP serves one.
        var type = dump.PreDump ? CriuReqType.SinglePreDump : CriuReqType.Dump;
        await RunActionAsync(type, dump, onNotify, cancellationToken).ConfigureAwait(false);
    }

    public async Task DumpCpuInfoAsync(CriuCpuInfo dump, CancellationToken cancellationToken)
    {
        await RunActionAsync(CriuReqType.CpuinfoDump, dump with { Check = false }, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task CheckCpuInfoAsync(CriuCpuInfo check, CancellationToken cancellationToken)
    {
        await RunActionAsync(CriuReqType.CpuinfoCheck, check with { Check = true }, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task<CriuFeatureSet> CheckFeaturesAsync(CancellationToken cancellationToken)
    {
        // The RPC's feature check knows no feature a patch adds: that one is asked on the command line.
        var writeTracking = AskFeatureAsync(WriteTrackingFeature, cancellationToken);
        var request = new CriuReq { Type = CriuReqType.FeatureCheck, Features = new CriuFeatures { MemTrack = true, LazyPages = true } };
        var (response, stderr) = await RunAsync(request, null, null, cancellationToken).ConfigureAwait(false);
        if (!response.Success)
        {
            throw new CriuException("feature check", Summary(response), Lines(stderr), null);
        }
        var tracking = await writeTracking.ConfigureAwait(false);
        return new CriuFeatureSet(response.Features.MemTrack, response.Features.LazyPages,
            WriteTracking: tracking == FeatureAnswer.Supported, ReadsProcLimits: tracking != FeatureAnswer.Unknown);
    }

    // scripts/criu/patches/0001-track-mem-wp.patch: "criu check --feature
    // track_mem_wp" exits 0 when CRIU has the option and the kernel what it needs.
    private const string WriteTrackingFeature = "track_mem_wp";

    private enum FeatureAnswer
    {
        Supported,
        Unsupported,

        /// <summary>This CRIU has no such feature ("Unknown feature NAME", criu/cr-check.c), or no CRIU runs.</summary>
        Unknown,
    }

    private async Task<FeatureAnswer> AskFeatureAsync(string feature, CancellationToken cancellationToken)
    {
        if (CriuSwrk.FindExecutable(Settings.CriuPath) is not { } criu)
        {
            return FeatureAnswer.Unknown;
        }
        var start = new System.Diagnostics.ProcessStartInfo(criu)
        {
            ArgumentList = { "check", "--feature", feature },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        long started = time.GetTimestamp();
        // The target reaps adopted children on SIGCHLD: this one must be marked as the runtime's.
        using var check = await ChildReaper.StartAsync(start, cancellationToken).ConfigureAwait(false);
        try
        {
            var output = check.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = check.StandardError.ReadToEndAsync(cancellationToken);
            await check.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(output, errors).ConfigureAwait(false);
            var answer = check.ExitCode == 0
                ? FeatureAnswer.Supported
                : (await errors.ConfigureAwait(false)).Contains($"Unknown feature {feature}", StringComparison.Ordinal)
                    ? FeatureAnswer.Unknown
                    : FeatureAnswer.Unsupported;
            var took = time.GetElapsedTime(started);
            LogFeatureAnswered(_logger, feature, took.TotalMilliseconds, answer);
            return answer;
        }
        finally
        {
            ChildReaper.ForgetSpawned(check.Id);
        }
    }

    public async Task<int> RestoreAsync(CriuRestore restore, CriuNotifyHandler? onNotify, CancellationToken cancellationToken)
    {
        var response = await RunActionAsync(CriuReqType.Restore, restore, onNotify, cancellationToken).ConfigureAwait(false);
        return response.Restore.Pid;
    }

    public async Task<ILazyPagesDaemon> StartLazyPagesAsync(string imagesDirectory, string workDirectory, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        var daemon = await CriuLazyPages.StartAsync(Settings, imagesDirectory, workDirectory, time, cancellationToken).ConfigureAwait(false);
        var took = time.GetElapsedTime(started);
        LogLazyPagesListening(_logger, took.TotalMilliseconds);
        return daemon;
    }

    public async Task<CriuVersionInfo> GetVersionAsync(CancellationToken cancellationToken)
    {
        var (response, stderr) = await RunAsync(new CriuReq { Type = CriuReqType.Version }, null, null, cancellationToken)
            .ConfigureAwait(false);
        if (!response.Success)
        {
            throw new CriuException("version", Summary(response), Lines(stderr), null);
        }
        return new CriuVersionInfo(response.Version.MajorNumber, response.Version.MinorNumber, response.Version.Sublevel);
    }

    private async Task<CriuResp> RunActionAsync(
        CriuReqType type, CriuAction action, CriuNotifyHandler? onNotify, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(action.WorkDirectory);
        var configFile = Path.Combine(action.WorkDirectory, $"criu-{action.Name}.conf");
        action.ToConfigFile().WriteTo(configFile);
        var request = new CriuReq { Type = type, Opts = action.ToOptions(configFile) };
        var (response, stderr) = await RunAsync(request, onNotify, action.LogPath, cancellationToken).ConfigureAwait(false);
        if (!response.Success)
        {
            var errors = CriuLog.ErrorLines(action.LogPath);
            throw new CriuException(action.Name, Summary(response), errors.Count > 0 ? errors : Lines(stderr),
                File.Exists(action.LogPath) ? action.LogPath : null);
        }
        return response;
    }

    private async Task<CriuSwrk.Reply> RunAsync(
        CriuReq request, CriuNotifyHandler? onNotify, string? logPath, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        try
        {
            var reply = await CriuSwrk.RunAsync(
                Settings.CriuPath, request, onNotify, Settings.Environment, Settings.Timeout, time, cancellationToken)
                .ConfigureAwait(false);
            var took = time.GetElapsedTime(started);
            var outcome = reply.Response.Success ? "success" : "failure: " + Summary(reply.Response);
            LogAnswered(_logger, request.Type, took.TotalMilliseconds, outcome);
            return reply;
        }
        catch (Exception e)
        {
            // Timeouts, cancellations and a CRIU that exited without answering: logged here, handled by the caller.
            var took = time.GetElapsedTime(started);
            var outcome = "no answer: " + e.Message;
            LogAnswered(_logger, request.Type, took.TotalMilliseconds, outcome);
            if (e is CriuProcessExitedException)
            {
                throw new CriuException(request.Type.ToString().ToLowerInvariant(), e.Message, CriuLog.ErrorLines(logPath), logPath);
            }
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "CRIU request {Request} took {DurationMs:0.0} ms: {Outcome}")]
    private static partial void LogAnswered(ILogger logger, CriuReqType request, double durationMs, string outcome);

    [LoggerMessage(Level = LogLevel.Debug, Message = "criu check --feature {Feature} took {DurationMs:0.0} ms: {Answer}")]
    private static partial void LogFeatureAnswered(ILogger logger, string feature, double durationMs, FeatureAnswer answer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "criu lazy-pages listened after {DurationMs:0.0} ms")]
    private static partial void LogLazyPagesListening(ILogger logger, double durationMs);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string Summary(CriuResp response) =>
        response.HasCrErrmsg && response.CrErrmsg.Length > 0
            ? response.CrErrmsg
            : response.HasCrErrno && response.CrErrno != 0
                ? $"errno {response.CrErrno}"
                : "see the errors below";
}
