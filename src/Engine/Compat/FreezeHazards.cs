using System.Buffers.Binary;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Compat;

/// <summary>A reason to thaw the process and freeze it again a moment later.</summary>
public sealed record FreezeHazard(string Check, string Detail);

/// <summary>
/// States a thread may be frozen in that would crash it once restored, found
/// in CRIU's dump while CRIU still holds the tasks:
/// <list type="bullet">
/// <item>a pending return probe: its stack holds a return address into the
/// [uprobes] area (the kernel's trampoline), or it executes there; restored,
/// it jumps to an area it no longer has (reproduced in ENVIRONMENT.md);</item>
/// <item>when CRIU will proxify the vDSO: an instruction pointer within the
/// first 16 bytes of a vDSO symbol, which the proxy overwrites with a jump.</item>
/// </list>
/// Both are momentary; a later freeze finds the thread elsewhere.
/// </summary>
public static class FreezeHazards
{
    public const string ReturnProbes = "return-probes";
    public const string VdsoPatch = "vdso-patch";

    /// <summary>How many bytes CRIU's proxy writes over each vDSO symbol entry (criu/arch/x86/vdso-pie.c).</summary>
    public const int VdsoPatchBytes = 16;

    /// <summary>The deepest part of a stack searched for return addresses.</summary>
    private const int StackWindow = 1 << 20;

    public static IReadOnlyList<FreezeHazard> Find(string imagesDirectory, VdsoLayout? proxifiedVdso)
    {
        var hazards = new List<FreezeHazard>();
        foreach (var task in ProcessTreeImage.Read(imagesDirectory))
        {
            int pid = checked((int)task.Pid);
            var areas = ProcFs.Maps.Read(pid);
            var uprobes = areas.FirstOrDefault(area => area.Path == UprobeSites.AreaName);
            var vdso = areas.FirstOrDefault(area => area.Path == "[vdso]");
            foreach (var tid in task.Threads.Select(t => checked((int)t)))
            {
                if (Registers(imagesDirectory, tid) is not { } registers)
                {
                    continue;
                }
                if (uprobes.End != 0)
                {
                    if (registers.Ip >= uprobes.Start && registers.Ip < uprobes.End)
                    {
                        hazards.Add(new(ReturnProbes, $"thread {tid} executes in the [uprobes] area at 0x{registers.Ip:x}"));
                    }
                    else if (ReturnAddressInto(pid, areas, registers.Sp, uprobes) is { } slot)
                    {
                        hazards.Add(new(ReturnProbes, $"thread {tid} has a pending return probe: its stack at 0x{slot:x} returns into the [uprobes] area"));
                    }
                }
                if (proxifiedVdso is not null && vdso.End != 0 && registers.Ip >= vdso.Start && registers.Ip < vdso.End)
                {
                    ulong offset = registers.Ip - vdso.Start;
                    var symbol = VdsoLayouts.Proxied(proxifiedVdso).FirstOrDefault(s => offset >= s.Offset && offset < s.Offset + VdsoPatchBytes);
                    if (symbol is not null)
                    {
                        hazards.Add(new(VdsoPatch, $"thread {tid} stands at {symbol.Name}+{offset - symbol.Offset}, in the bytes CRIU's vDSO proxy overwrites"));
                    }
                }
            }
        }
        return hazards;
    }

    private static UserX86RegsEntry? Registers(string imagesDirectory, int tid)
    {
        var path = Path.Combine(imagesDirectory, $"core-{tid}.img");
        if (!File.Exists(path))
        {
            return null;
        }
        var reader = ImageReader.Open(File.ReadAllBytes(path), ImageMagic.Core, path);
        return reader.TryRead(CoreEntry.Parser, out var core) && core.Mtype == CoreEntry.Types.March.X8664 ? core.ThreadInfo?.Gpregs : null;
    }

    /// <summary>The stack slot that holds an address inside <paramref name="target"/>, or null.</summary>
    private static ulong? ReturnAddressInto(int pid, IReadOnlyList<MemoryArea> areas, ulong sp, MemoryArea target)
    {
        var stack = areas.FirstOrDefault(area => sp >= area.Start && sp < area.End);
        if (stack.End == 0)
        {
            return null;
        }
        ulong from = sp & ~7UL;
        int length = (int)Math.Min(stack.End - from, StackWindow);
        var buffer = new byte[length];
        long read = ProcessMemory.Read(pid, from, buffer);
        for (int offset = 0; offset + 8 <= read; offset += 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(offset));
            if (word >= target.Start && word < target.End)
            {
                return from + (ulong)offset;
            }
        }
        return null;
    }
}
