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
                var names = string.Join(", ", Enumerable.Range(0, 64).Where(bit => (missing & (1UL << bit)) != 0).Select(Name));
                return Checks.Fail(CheckName, $"task {pid} holds capabilities the target's root cannot grant: {names}",
                    $"start the process without them (setpriv --bounding-set -{names.Replace(", ", ",-", StringComparison.Ordinal)}), " +
                    "or migrate to a host whose root has them");
            }
        }
        return Checks.Pass(CheckName, "the target's root can grant every capability the process holds");
    }

    private static string Name(int bit) => bit < Names.Length ? "cap_" + Names[bit] : $"capability {bit}";
}
