using System.Globalization;
using Google.Protobuf.Collections;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Compat;

/// <summary>
/// What a source may make this target run, judged on the images before CRIU
/// sees them: as which users and groups, with which capabilities, in which
/// namespaces of their own. The default allows all of it, which is what
/// <c>migrate</c> itself sends (a process keeps its users, capabilities and
/// namespaces); an operator narrows it.
/// </summary>
public sealed record RestorePolicy
{
    public const string CheckName = "policy";

    // SECBIT_NOROOT (linux/securebits.h): uid 0 gains no capabilities on execve.
    private const uint NoRoot = 1;

    private static readonly (TreeNamespaces Flag, string Name)[] NamespaceNamesByFlag =
    [
        (TreeNamespaces.Mount, "mnt"), (TreeNamespaces.Net, "net"), (TreeNamespaces.Pid, "pid"), (TreeNamespaces.Ipc, "ipc"),
        (TreeNamespaces.Uts, "uts"), (TreeNamespaces.User, "user"), (TreeNamespaces.Time, "time"),
    ];

    public static RestorePolicy Default { get; } = new();

    /// <summary>The user IDs a task may hold (real, effective, saved, file system); null: any.</summary>
    public IdRanges? Uids { get; init; }

    /// <summary>The group IDs a task may hold (those four and its supplementary groups); null: any.</summary>
    public IdRanges? Gids { get; init; }

    /// <summary>No task may hold uid 0, and no user namespace may map it.</summary>
    public bool DenyRoot { get; init; }

    /// <summary>The capabilities a task may hold or regain by execve; null: any.</summary>
    public ulong? Capabilities { get; init; }

    /// <summary>The namespaces CRIU may create for the tree; null: any it can.</summary>
    public TreeNamespaces? Namespaces { get; init; }

    /// <summary>Judges the images of <paramref name="imagesDirectory"/>; malformed ones fail too.</summary>
    public CheckResult Check(string imagesDirectory)
    {
        TreeIdentity tree;
        try
        {
            tree = TreeIdentity.Read(imagesDirectory);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return Checks.Fail(CheckName, $"the images cannot be judged: {e.Message}", "send images CRIU made, whole");
        }
        return Check(tree);
    }

    public CheckResult Check(TreeIdentity tree)
    {
        if (Refusal(tree) is { } refusal)
        {
            return Checks.Fail(CheckName, $"{refusal}; this target allows {this}",
                "migrate the process to a target whose restore policy allows it, or run it as a user the policy allows; " +
                "the target's policy is set with migrate-target --allow-uids, --allow-gids, --deny-root, --allow-capabilities and --allow-namespaces");
        }
        var uids = tree.Threads.Select(thread => thread.Creds.Euid).Distinct().Order().ToList();
        var tasks = tree.Threads.Select(thread => thread.Pid).Distinct().Count();
        return Checks.Pass(CheckName,
            $"{Checks.Count(tree.Threads.Count, "thread")} of {Checks.Count(tasks, "task")} as {(uids.Count == 1 ? "uid" : "uids")} {string.Join(", ", uids.Take(8))}, " +
            $"{(tree.Namespaces == TreeNamespaces.None ? "in no namespace of their own" : "in namespaces of their own: " + NamespaceNames(tree.Namespaces))}; this target allows {this}");
    }

    private string? Refusal(TreeIdentity tree)
    {
        if (Namespaces is { } allowed && (tree.Namespaces & ~allowed) is var extra && extra != TreeNamespaces.None)
        {
            return $"the tree would get namespaces of its own that are not allowed: {NamespaceNames(extra)}";
        }
        if (tree.UserNamespace is { } userns)
        {
            // A task in a user namespace may become any user its map holds: the map is what is judged.
            if ((MapRefusal(userns.UidMap, "uids", Uids, DenyRoot) ?? MapRefusal(userns.GidMap, "gids", Gids, denyZero: false)) is { } map)
            {
                return map;
            }
        }
        foreach (var thread in tree.Threads)
        {
            if (ThreadRefusal(thread, judgeIds: tree.UserNamespace is null) is { } problem)
            {
                return thread.Tid == thread.Pid ? $"task {thread.Pid} {problem}" : $"thread {thread.Tid} of task {thread.Pid} {problem}";
            }
        }
        return null;
    }

    private string? ThreadRefusal(ThreadIdentity thread, bool judgeIds)
    {
        var creds = thread.Creds;
        if (judgeIds)
        {
            uint[] uids = [creds.Uid, creds.Euid, creds.Suid, creds.Fsuid];
            if (DenyRoot && uids.Contains(0u))
            {
                return "would run as root (uid 0), which is not allowed";
            }
            if (Uids is { } allowedUids && uids.FirstOrDefault(uid => !allowedUids.Contains(uid), uint.MaxValue) is var uid && uid != uint.MaxValue)
            {
                return string.Create(CultureInfo.InvariantCulture, $"would run as uid {uid}, which is not allowed");
            }
            if (Gids is { } allowedGids &&
                new[] { creds.Gid, creds.Egid, creds.Sgid, creds.Fsgid }.Concat(creds.Groups).FirstOrDefault(gid => !allowedGids.Contains(gid), uint.MaxValue) is var gid &&
                gid != uint.MaxValue)
            {
                return string.Create(CultureInfo.InvariantCulture, $"would run with gid {gid}, which is not allowed");
            }
        }
        if (Capabilities is { } allowedCapabilities)
        {
            if (Held(creds) is not { } held)
            {
                return "holds capability numbers past 63, which no kernel has";
            }
            if ((held & ~allowedCapabilities) is var extra && extra != 0)
            {
                return $"would hold capabilities that are not allowed: {Compat.Capabilities.Names64(extra)}";
            }
        }
        return null;
    }

    /// <summary>
    /// What a thread holds, or can regain without help from a file's capabilities:
    /// its permitted, effective, inheritable and ambient sets, and, while any of
    /// its real, effective or saved uids is 0 and SECBIT_NOROOT is clear, its
    /// bounding set, which execve grants root (capabilities(7)). Null when a set
    /// names capabilities past 63.
    /// </summary>
    private static ulong? Held(CredsEntry creds)
    {
        bool root = (creds.Uid == 0 || creds.Euid == 0 || creds.Suid == 0) && (creds.Secbits & NoRoot) == 0;
        RepeatedField<uint>[] sets = root
            ? [creds.CapPrm, creds.CapEff, creds.CapInh, creds.CapAmb, creds.CapBnd]
            : [creds.CapPrm, creds.CapEff, creds.CapInh, creds.CapAmb];
        ulong held = 0;
        foreach (var words in sets)
        {
            // CRIU stores each set as 32-bit words, lowest capabilities first.
            if (words.Skip(2).Any(word => word != 0))
            {
                return null;
            }
            held |= (words.Count > 0 ? words[0] : 0UL) | ((words.Count > 1 ? (ulong)words[1] : 0UL) << 32);
        }
        return held;
    }

    private static string? MapRefusal(RepeatedField<UidGidExtent> map, string what, IdRanges? allowed, bool denyZero)
    {
        foreach (var extent in map)
        {
            if (extent.Count == 0)
            {
                continue;
            }
            ulong end = (ulong)extent.LowerFirst + extent.Count;
            var range = string.Create(CultureInfo.InvariantCulture, $"{extent.LowerFirst}-{end - 1}");
            if (end > 1UL << 32)
            {
                return $"the tree's user namespace maps {what} past 2^32";
            }
            if (denyZero && extent.LowerFirst == 0)
            {
                return $"the tree's user namespace maps root (uid 0) of this host, which is not allowed";
            }
            if (allowed is not null && !allowed.Contains(extent.LowerFirst, extent.Count))
            {
                return $"the tree's user namespace maps {what} {range} of this host, which are not all allowed";
            }
        }
        return null;
    }

    /// <summary>The policy in words, as the check's detail gives it.</summary>
    public override string ToString()
    {
        if (this == Default)
        {
            return "any user, capability and namespace (no restore policy set)";
        }
        var parts = new List<string>
        {
            Uids is null ? DenyRoot ? "any uid but 0" : "any uid" : $"uids {Uids}{(DenyRoot ? " but 0" : "")}",
            Gids is null ? "any gid" : $"gids {Gids}",
            Capabilities is not { } capabilities ? "any capability" : capabilities == 0 ? "no capability" : $"capabilities {Compat.Capabilities.Names64(capabilities)}",
            Namespaces is not { } namespaces ? "any namespace" : namespaces == TreeNamespaces.None ? "no namespace of its own" : $"namespaces {NamespaceNames(namespaces)}",
        };
        return string.Join("; ", parts);
    }

    /// <summary>Namespace names as /proc/PID/ns and unshare(1) give them: "net, uts".</summary>
    public static string NamespaceNames(TreeNamespaces namespaces) =>
        string.Join(", ", NamespaceNamesByFlag.Where(pair => namespaces.HasFlag(pair.Flag)).Select(pair => pair.Name));

    /// <summary>A comma-separated list of namespace names (mnt, net, pid, ipc, uts, user, time), or "none", or "all".</summary>
    public static TreeNamespaces ParseNamespaces(string list)
    {
        var trimmed = list.Trim();
        if (trimmed.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return TreeNamespaces.None;
        }
        var all = NamespaceNamesByFlag.Aggregate(TreeNamespaces.None, (set, pair) => set | pair.Flag);
        if (trimmed.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return all;
        }
        var parsed = TreeNamespaces.None;
        foreach (var item in trimmed.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var known = NamespaceNamesByFlag.FirstOrDefault(pair => pair.Name.Equals(item, StringComparison.OrdinalIgnoreCase));
            parsed |= known.Name is not null
                ? known.Flag
                : throw new FormatException($"unknown namespace '{item}' (one of {string.Join(", ", NamespaceNamesByFlag.Select(pair => pair.Name))})");
        }
        return parsed;
    }
}
