using System.Globalization;
using System.Text;

namespace Migrate.Engine.Linux;

public static partial class ProcFs
{
    /// <summary>
    /// /proc/PID/status: the fields of it the engine uses (proc(5)). A field
    /// the kernel does not show (VmRSS of a zombie, say) is null.
    /// </summary>
    public sealed record Status
    {
        // The largest status seen is about 1.5 KiB; long Groups lists can grow it.
        private const int StackBytes = 4096;

        /// <summary>Name: the command name, escaped as the kernel shows it.</summary>
        public string? Name { get; init; }

        /// <summary>State: the state letter (R, S, D, T, t, Z, X, ...).</summary>
        public char? State { get; init; }

        public int? Tgid { get; init; }

        public int? ParentPid { get; init; }

        /// <summary>TracerPid: the PID tracing this task, 0 when none.</summary>
        public int? TracerPid { get; init; }

        /// <summary>VmRSS in KiB.</summary>
        public ulong? ResidentKiB { get; init; }

        public ulong? CapInh { get; init; }

        public ulong? CapPrm { get; init; }

        public ulong? CapEff { get; init; }

        public ulong? CapBnd { get; init; }

        /// <summary>Seccomp: 0 none, 1 strict, 2 filter (linux/seccomp.h).</summary>
        public int? Seccomp { get; init; }

        /// <summary>The last PID of NSpid: the task's PID in its own PID namespace, which CRIU's images name it by.</summary>
        public int? NamespacePid { get; init; }

        /// <summary>Reads the status of process or thread <paramref name="pid"/>, or returns null when it has gone.</summary>
        public static Status? Read(int pid)
        {
            var path = Path.Combine(PidDirectory(pid), "status");
            Span<byte> buffer = stackalloc byte[StackBytes];
            int length;
            try
            {
                length = ReadSmall(path, buffer);
            }
            catch (InvalidDataException)
            {
                using var large = new FileBuffer();
                return large.TryRead(path) ? Parse(large.Content, path) : null;
            }
            return length < 0 ? null : Parse(buffer[..length], path);
        }

        /// <summary>Lines of "Key:\tvalue"; keys it does not use are skipped.</summary>
        internal static Status Parse(ReadOnlySpan<byte> text, string name)
        {
            string? command = null;
            char? state = null;
            int? tgid = null, parent = null, tracer = null, seccomp = null, namespacePid = null;
            ulong? resident = null, inheritable = null, permitted = null, effective = null, bounding = null;
            int offset = 0;
            foreach (var range in text.Split((byte)'\n'))
            {
                var line = text[range];
                int colon = line.IndexOf((byte)':');
                int at = offset + colon + 1;
                offset += line.Length + 1;
                if (colon <= 0)
                {
                    continue;
                }
                var key = line[..colon];
                var value = line[(colon + 1)..].Trim(" \t"u8);
                if (key.SequenceEqual("Name"u8))
                {
                    command = Encoding.UTF8.GetString(value);
                }
                else if (key.SequenceEqual("State"u8))
                {
                    state = value.IsEmpty ? null : (char)value[0];
                }
                else if (key.SequenceEqual("Tgid"u8))
                {
                    tgid = Integer(value, name, at);
                }
                else if (key.SequenceEqual("PPid"u8))
                {
                    parent = Integer(value, name, at);
                }
                else if (key.SequenceEqual("NSpid"u8))
                {
                    int last = value.LastIndexOfAny(" \t"u8);
                    namespacePid = Integer(value[(last + 1)..], name, at + last + 1);
                }
                else if (key.SequenceEqual("TracerPid"u8))
                {
                    tracer = Integer(value, name, at);
                }
                else if (key.SequenceEqual("VmRSS"u8))
                {
                    resident = Kibibytes(value, name, at);
                }
                else if (key.SequenceEqual("CapInh"u8))
                {
                    inheritable = Hexadecimal(value, name, at);
                }
                else if (key.SequenceEqual("CapPrm"u8))
                {
                    permitted = Hexadecimal(value, name, at);
                }
                else if (key.SequenceEqual("CapEff"u8))
                {
                    effective = Hexadecimal(value, name, at);
                }
                else if (key.SequenceEqual("CapBnd"u8))
                {
                    bounding = Hexadecimal(value, name, at);
                }
                else if (key.SequenceEqual("Seccomp"u8))
                {
                    seccomp = Integer(value, name, at);
                }
            }
            return new Status
            {
                Name = command,
                State = state,
                Tgid = tgid,
                ParentPid = parent,
                TracerPid = tracer,
                ResidentKiB = resident,
                CapInh = inheritable,
                CapPrm = permitted,
                CapEff = effective,
                CapBnd = bounding,
                Seccomp = seccomp,
                NamespacePid = namespacePid,
            };
        }

        private static int Integer(ReadOnlySpan<byte> value, string name, int offset)
        {
            if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int number))
            {
                ThrowHelper.InvalidData(name, offset, $"'{Encoding.UTF8.GetString(value)}' is not a number");
            }
            return number;
        }

        private static ulong Hexadecimal(ReadOnlySpan<byte> value, string name, int offset)
        {
            if (!ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong number))
            {
                ThrowHelper.InvalidData(name, offset, $"'{Encoding.UTF8.GetString(value)}' is not hexadecimal");
            }
            return number;
        }

        // "1234 kB"
        private static ulong Kibibytes(ReadOnlySpan<byte> value, string name, int offset)
        {
            int space = value.IndexOf((byte)' ');
            if (!ulong.TryParse(space < 0 ? value : value[..space], NumberStyles.None, CultureInfo.InvariantCulture, out ulong number))
            {
                ThrowHelper.InvalidData(name, offset, $"'{Encoding.UTF8.GetString(value)}' is not a size in kB");
            }
            return number;
        }
    }
}
