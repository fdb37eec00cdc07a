using System.Globalization;

namespace Migrate.Engine.Linux;

public static partial class ProcFs
{
    /// <summary>/proc/PID/stat: the fields of it the engine uses (proc(5)).</summary>
    public readonly record struct Stat(char State, uint Flags)
    {
        // The whole line is well under this: 52 numbers and a 15-byte name.
        private const int MaxBytes = 2048;

        /// <summary>Reads the stat of process or thread <paramref name="pid"/>, or returns null when it has gone.</summary>
        public static Stat? Read(int pid)
        {
            var path = Path.Combine(PidDirectory(pid), "stat");
            Span<byte> buffer = stackalloc byte[MaxBytes];
            int length = ReadSmall(path, buffer);
            return length < 0 ? null : Parse(buffer[..length], path);
        }

        /// <summary>
        /// "pid (comm) S ppid pgrp session tty_nr tpgid flags ...": the name may
        /// hold spaces and parentheses, so the fields are counted from the last ')'.
        /// </summary>
        internal static Stat Parse(ReadOnlySpan<byte> line, string name)
        {
            int close = line.LastIndexOf((byte)')');
            if (close < 0 || close + 2 >= line.Length)
            {
                ThrowHelper.InvalidData(name, 0, "no state after the command name");
            }
            var fields = line[(close + 2)..];
            char state = (char)fields[0];
            // Fields after ')': state, ppid, pgrp, session, tty_nr, tpgid, flags.
            var flags = Field(fields, 6, name, close + 2);
            if (!uint.TryParse(flags, NumberStyles.None, CultureInfo.InvariantCulture, out uint value))
            {
                ThrowHelper.InvalidData(name, close + 2, "the flags field is not a number");
            }
            return new Stat(state, value);
        }

        private static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> fields, int index, string name, int offset)
        {
            for (int i = 0; i < index; i++)
            {
                int space = fields.IndexOf((byte)' ');
                if (space < 0)
                {
                    ThrowHelper.InvalidData(name, offset, $"fewer than {index + 1} fields after the command name");
                }
                fields = fields[(space + 1)..];
            }
            int end = fields.IndexOfAny((byte)' ', (byte)'\n');
            return end < 0 ? fields : fields[..end];
        }
    }
}
