using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>
/// CRIU restores each task's capabilities, and it can only grant those in
/// the target root's bounding set: a process holding one more fails to
/// restore ("Unable to restore capabilities"). Measured in ENVIRONMENT.md
/// with CAP_SYS_RESOURCE between the stock-kernel guest and this host.
/// </summary>
public static class Capabilities
{
    public const string CheckName = "capabilities";

    // linux/capability.h
    private static readonly string[] Names =
    [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ];

    /// <summary>The capabilities root can hold on this host.</summary>
    public static ulong BoundingSet() => ProcFs.Status.Read(Environment.ProcessId)?.CapBnd ?? ulong.MaxValue;

    /// <summary>Fails when a task holds a capability the target's root cannot grant.</summary>
    public static CheckResult Compare(IEnumerable<int> pids, ulong targetBoundingSet)
    {
        foreach (var pid in pids)
        {
            var status = ProcFs.Status.Read(pid);
            ulong held = (status?.CapPrm ?? 0) | (status?.CapEff ?? 0) | (status?.CapInh ?? 0);
            ulong missing = held & ~targetBoundingSet;
            if (missing != 0)
            {
                var names = Names64(missing);
                return Checks.Fail(CheckName, $"task {pid} holds capabilities the target's root cannot grant: {names}",
                    $"start the process without them (setpriv --bounding-set -{names.Replace(", ", ",-", StringComparison.Ordinal)}), " +
                    "or migrate to a host whose root has them");
            }
        }
        return Checks.Pass(CheckName, "the target's root can grant every capability the process holds");
    }

    /// <summary>The highest capability number this build knows (CAP_LAST_CAP, linux/capability.h).</summary>
    public static int LastKnown => Names.Length - 1;

    /// <summary>"cap_sys_admin", or "capability 45" for a number this build has no name for.</summary>
    public static string Name(int bit) => bit < Names.Length ? "cap_" + Names[bit] : $"capability {bit}";

    /// <summary>The names of the capabilities in <paramref name="set"/>, lowest first.</summary>
    public static string Names64(ulong set) =>
        string.Join(", ", Enumerable.Range(0, 64).Where(bit => (set & (1UL << bit)) != 0).Select(Name));

    /// <summary>
    /// A comma-separated list of capability names, with or without "cap_",
    /// in any case ("net_bind_service,CAP_CHOWN"), or "none", or "all".
    /// </summary>
    public static ulong ParseSet(string list)
    {
        var trimmed = list.Trim();
        if (trimmed.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }
        if (trimmed.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return ulong.MaxValue;
        }
        ulong set = 0;
        foreach (var item in trimmed.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var name = item.StartsWith("cap_", StringComparison.OrdinalIgnoreCase) ? item[4..] : item;
            int bit = Array.FindIndex(Names, known => known.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (bit < 0)
            {
                throw new FormatException($"unknown capability '{item}' (capabilities(7) names them, e.g. net_bind_service)");
            }
            set |= 1UL << bit;
        }
        return set;
    }
}
