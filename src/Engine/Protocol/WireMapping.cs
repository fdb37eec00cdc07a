using Google.Protobuf;
using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Wire = Migrate.Protocol;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Turns the engine's records into protos/migration.proto's messages and
/// back. What comes from the wire is the peer's: values the engine cannot
/// represent are refused as malformed here, before anything uses them.
/// </summary>
public static class WireMapping
{
    // Stage names of RestoreReply.timings.
    private const string RebuildStage = "rebuild";
    private const string RestoreStage = "restore";
    private const string VerifyStage = "verify";

    // PreflightRequest.uprobe_mode.
    private const string RequireMode = "require";
    private const string StripMode = "strip";

    public static Wire.HostFacts ToWire(HostFacts facts)
    {
        var vdso = new Wire.VdsoLayout { VdsoSize = facts.Vdso.VdsoSize, VvarSize = facts.Vdso.VvarSize, VvarFirst = facts.Vdso.VvarFirst };
        vdso.Symbols.AddRange(facts.Vdso.Symbols.Select(s => new Wire.VdsoSymbol { Name = s.Name, Offset = s.Offset, Size = s.Size }));
        return new Wire.HostFacts
        {
            Hostname = facts.Hostname,
            KernelRelease = facts.KernelRelease,
            CriuVersion = facts.CriuVersion,
            Architecture = facts.Architecture,
            CriuFeatures = new Wire.CriuFeatures
            {
                MemoryTracking = facts.CriuFeatures.MemoryTracking,
                LazyPages = facts.CriuFeatures.LazyPages,
                WriteTracking = facts.CriuFeatures.WriteTracking,
            },
            CpuinfoImage = ByteString.CopyFrom(facts.CpuinfoImage.Span),
            Vdso = vdso,
            UprobesSupported = facts.UprobesSupported,
            CapabilityBoundingSet = facts.CapabilityBoundingSet,
            MemoryAvailableBytes = facts.MemoryAvailableBytes,
            MigrateVersion = facts.MigrateVersion,
            BootId = facts.BootId,
        };
    }

    public static HostFacts FromWire(Wire.HostFacts? facts)
    {
        facts ??= new Wire.HostFacts();
        var vdso = facts.Vdso ?? new Wire.VdsoLayout();
        return new HostFacts
        {
            Hostname = facts.Hostname,
            KernelRelease = facts.KernelRelease,
            CriuVersion = facts.CriuVersion,
            Architecture = facts.Architecture,
            CriuFeatures = new CriuFeatureSet(facts.CriuFeatures?.MemoryTracking ?? false, facts.CriuFeatures?.LazyPages ?? false, facts.CriuFeatures?.WriteTracking ?? false),
            CpuinfoImage = facts.CpuinfoImage.ToByteArray(),
            Vdso = new VdsoLayout(vdso.VdsoSize, vdso.VvarSize, vdso.VvarFirst,
                vdso.Symbols.Select(s => new VdsoSymbol(s.Name, s.Offset, s.Size)).ToList()),
            UprobesSupported = facts.UprobesSupported,
            CapabilityBoundingSet = facts.CapabilityBoundingSet,
            MemoryAvailableBytes = facts.MemoryAvailableBytes,
            MigrateVersion = facts.MigrateVersion,
            BootId = facts.BootId,
        };
    }

    public static Wire.TargetLimits ToWire(TargetLimits limits) =>
        new() { MaxChunkBytes = (uint)limits.MaxChunkBytes, MaxSessionBytes = (ulong)limits.MaxSessionBytes };

    public static TargetLimits FromWire(Wire.TargetLimits? limits) => limits is null
        ? new TargetLimits(WireProtocol.DefaultChunkBytes, long.MaxValue)
        : new TargetLimits((int)Math.Min(limits.MaxChunkBytes, int.MaxValue), (long)Math.Min(limits.MaxSessionBytes, long.MaxValue));

    public static Wire.CheckResult ToWire(CheckResult check) => new()
    {
        Name = check.Name,
        Verdict = check.Verdict switch
        {
            CheckVerdict.Pass => Wire.CheckResult.Types.Verdict.Pass,
            CheckVerdict.Warn => Wire.CheckResult.Types.Verdict.Warn,
            _ => Wire.CheckResult.Types.Verdict.Fail,
        },
        Detail = check.Detail,
        Remedy = check.Remedy ?? "",
    };

    /// <summary>A check the peer made; an unknown verdict counts as a failure.</summary>
    public static CheckResult FromWire(Wire.CheckResult check) => new(
        check.Name,
        check.Verdict switch
        {
            Wire.CheckResult.Types.Verdict.Pass => CheckVerdict.Pass,
            Wire.CheckResult.Types.Verdict.Warn => CheckVerdict.Warn,
            _ => CheckVerdict.Fail,
        },
        check.Detail,
        check.Remedy.Length > 0 ? check.Remedy : null);

    public static Wire.PreflightRequest ToWire(string sessionId, PreflightQuery query)
    {
        var request = new Wire.PreflightRequest { SessionId = sessionId, UprobeMode = query.UprobeMode == UprobeMode.Strip ? StripMode : RequireMode };
        request.Files.AddRange(query.Files.Select(f => new Wire.FileFact
        {
            Path = f.Path,
            Size = f.Size,
            MtimeNs = f.MtimeNs,
            ContentHash = ByteString.CopyFrom(f.ContentHash.Span),
            Writable = f.Writable,
            Directory = f.Directory,
            LinkTarget = f.LinkTarget ?? "",
            Locked = f.Locked is { } locked
                ? new Wire.FileIdentity { DeviceMajor = locked.Device.Major, DeviceMinor = locked.Device.Minor, Inode = locked.Inode }
                : null,
        }));
        request.Pids.AddRange(query.Pids);
        request.UprobeSites.AddRange(query.UprobeSites.Select(ToWire));
        return request;
    }

    public static PreflightQuery FromWire(Wire.PreflightRequest request) => new(
        request.Files.Select(f => new FileFact(f.Path, f.Size, f.MtimeNs, f.ContentHash.ToByteArray(), f.Writable, f.Directory,
            f.LinkTarget.Length > 0 ? f.LinkTarget : null,
            f.Locked is { } locked ? new FileIdentity(new DeviceNumber(locked.DeviceMajor, locked.DeviceMinor), locked.Inode) : null)).ToList(),
        request.Pids.ToList(),
        request.UprobeSites.Select(FromWire).ToList(),
        request.UprobeMode == StripMode ? UprobeMode.Strip : UprobeMode.Require);

    public static Wire.RestoreRequest ToWire(string sessionId, RestoreOrder order)
    {
        var request = new Wire.RestoreRequest
        {
            SessionId = sessionId,
            Set = order.Set,
            Options = new Wire.RestoreOptions
            {
                ShellJob = order.Options.ShellJob,
                TcpEstablished = order.Options.TcpEstablished,
                FileLocks = order.Options.FileLocks,
                LinkRemap = order.Options.LinkRemap,
                LazyPages = order.Options.LazyPages,
                AllowUprobes = order.Options.AllowUprobes,
                TcpClose = order.Options.TcpClose,
                ExtUnixSk = order.Options.ExternalUnixSockets,
            },
        };
        request.Rebuild.AddRange(order.Rebuild.Select(r => new Wire.PagesRebuild { Pid = r.Pid, PagemapFile = r.PagemapFile, PagesFile = r.PagesFile }));
        request.StripSites.AddRange(order.StripSites.Select(ToWire));
        return request;
    }

    public static RestoreOrder FromWire(Wire.RestoreRequest request)
    {
        var options = request.Options ?? new Wire.RestoreOptions();
        return new RestoreOrder(
            request.Set,
            new RestoreOptions(options.ShellJob, options.TcpEstablished, options.FileLocks, options.LinkRemap, options.LazyPages, options.AllowUprobes, options.TcpClose,
                options.ExtUnixSk),
            request.Rebuild.Select(r => new PagesRebuild(r.Pid, r.PagemapFile, r.PagesFile)).ToList(),
            request.StripSites.Select(FromWire).ToList());
    }

    public static Wire.RestoreReply ToWire(RestoreResult result)
    {
        var reply = new Wire.RestoreReply
        {
            RootPid = result.RootPid,
            LazyPages = result.LazyPages,
            LazyPagesNote = result.LazyPagesNote ?? "",
            RebuiltBytes = result.RebuiltBytes,
        };
        reply.Pids.AddRange(result.Pids);
        reply.Timings.Add(new Wire.StageTiming { Stage = RebuildStage, Milliseconds = result.Timings.RebuildMs });
        reply.Timings.Add(new Wire.StageTiming { Stage = RestoreStage, Milliseconds = result.Timings.RestoreMs });
        reply.Timings.Add(new Wire.StageTiming { Stage = VerifyStage, Milliseconds = result.Timings.VerifyMs });
        reply.Checks.AddRange(result.Checks.Select(ToWire));
        return reply;
    }

    public static RestoreResult FromWire(Wire.RestoreReply reply)
    {
        double Stage(string name) => reply.Timings.Where(t => t.Stage == name).Select(t => t.Milliseconds).DefaultIfEmpty(0).First();
        return new RestoreResult(
            reply.RootPid,
            reply.Pids.ToList(),
            new TargetTimings(Stage(RebuildStage), Stage(RestoreStage), Stage(VerifyStage)),
            reply.LazyPages,
            reply.LazyPagesNote.Length > 0 ? reply.LazyPagesNote : null,
            reply.Checks.Select(FromWire).ToList(),
            // A hostile count only skews the report; never below zero.
            Math.Max(0, reply.RebuiltBytes));
    }

    public static Wire.CommitReply ToWire(CommitResult result) =>
        new() { RootPid = result.RootPid, ResumeMs = result.ResumeMs, RestoredAgain = result.RestoredAgain ?? "" };

    public static CommitResult FromWire(Wire.CommitReply reply) =>
        new(reply.RootPid, reply.ResumeMs, reply.RestoredAgain.Length > 0 ? reply.RestoredAgain : null);

    public static Wire.AwaitPagesReply ToWire(PagesArrival arrival) =>
        new() { Complete = arrival.Complete, LastPageAfterResumeMs = arrival.LastPageAfterResumeMs, Error = arrival.Error ?? "" };

    public static PagesArrival FromWire(Wire.AwaitPagesReply reply) =>
        new(reply.Complete, reply.LastPageAfterResumeMs, reply.Error.Length > 0 ? reply.Error : null);

    private static Wire.UprobeSite ToWire(UprobeSite site) => new()
    {
        Pid = site.Pid,
        Address = site.Address,
        Path = site.Path,
        FileOffset = site.FileOffset,
        OriginalByte = site.OriginalByte,
        Symbol = site.Symbol,
    };

    private static UprobeSite FromWire(Wire.UprobeSite site) => site.OriginalByte <= byte.MaxValue
        ? new UprobeSite(site.Pid, site.Address, site.Path, site.FileOffset, (byte)site.OriginalByte, site.Symbol)
        : throw new TransferRejectedException(TransferRejection.Malformed, $"uprobe site's original byte {site.OriginalByte} is not a byte");
}
