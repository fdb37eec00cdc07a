using System.Globalization;
using System.Text;

namespace Migrate.Engine.Linux;

public static partial class ProcFs
{
    /// <summary>/proc/PID/maps: the process's VMAs, in address order.</summary>
    public static class Maps
    {
        /// <summary>The areas of process <paramref name="pid"/>, or an empty list when it has gone.</summary>
        public static IReadOnlyList<MemoryArea> Read(int pid)
        {
            var path = Path.Combine(PidDirectory(pid), "maps");
            using var buffer = new FileBuffer();
            return buffer.TryRead(path) ? Parse(buffer.Content, path) : [];
        }

        internal static List<MemoryArea> Parse(ReadOnlySpan<byte> text, string name)
        {
            var areas = new List<MemoryArea>();
            string previousPath = "";
            var previousPathBytes = ReadOnlySpan<byte>.Empty;
            int offset = 0;
            foreach (var range in text.Split((byte)'\n'))
            {
                var line = text[range];
                if (!line.IsEmpty)
                {
                    var area = ParseLine(line, name, offset, previousPath, previousPathBytes, out previousPathBytes);
                    areas.Add(area);
                    previousPath = area.Path;
                }
                offset += line.Length + 1;
            }
            return areas;
        }

        /// <summary>Parses one line, as a test gives it.</summary>
        internal static MemoryArea ParseLine(string line) => ParseLine(Encoding.UTF8.GetBytes(line), "maps line", 0, "", [], out _);

        /// <summary>
        /// "start-end perms offset major:minor inode   path": the path is the
        /// rest of the line, spaces and all. A library's areas follow one
        /// another, so a path equal to the previous line's reuses its string.
        /// </summary>
        private static MemoryArea ParseLine(
            ReadOnlySpan<byte> line, string name, int offset, string previousPath, ReadOnlySpan<byte> previousPathBytes, out ReadOnlySpan<byte> pathBytes)
        {
            var rest = line;
            var range = NextField(ref rest, name, offset, "address range");
            int dash = range.IndexOf((byte)'-');
            if (dash < 0)
            {
                ThrowHelper.InvalidData(name, offset, "no '-' in the address range");
            }
            ulong start = Hex(range[..dash], name, offset);
            ulong end = Hex(range[(dash + 1)..], name, offset);
            var perms = NextField(ref rest, name, offset, "permissions");
            if (perms.Length < 4)
            {
                ThrowHelper.InvalidData(name, offset, "permissions shorter than 4 letters");
            }
            ulong fileOffset = Hex(NextField(ref rest, name, offset, "offset"), name, offset);
            var device = NextField(ref rest, name, offset, "device");
            int colon = device.IndexOf((byte)':');
            if (colon < 0)
            {
                ThrowHelper.InvalidData(name, offset, "no ':' in the device");
            }
            var inodeText = NextField(ref rest, name, offset, "inode");
            if (!ulong.TryParse(inodeText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
            {
                ThrowHelper.InvalidData(name, offset, "the inode is not a number");
            }
            pathBytes = rest.Trim(" \t"u8);
            string path = pathBytes.IsEmpty ? ""
                : pathBytes.SequenceEqual(previousPathBytes) ? previousPath
                : Encoding.UTF8.GetString(pathBytes);
            return new MemoryArea(start, end, perms[0] == 'r', perms[1] == 'w', perms[2] == 'x', perms[3] == 'p', fileOffset,
                new DeviceNumber((uint)Hex(device[..colon], name, offset), (uint)Hex(device[(colon + 1)..], name, offset)), inode, path);
        }

        private static ReadOnlySpan<byte> NextField(ref ReadOnlySpan<byte> rest, string name, int offset, string field)
        {
            rest = rest.TrimStart((byte)' ');
            int space = rest.IndexOf((byte)' ');
            if (rest.IsEmpty)
            {
                ThrowHelper.InvalidData(name, offset, $"no {field}");
            }
            var value = space < 0 ? rest : rest[..space];
            rest = space < 0 ? [] : rest[space..];
            return value;
        }

        private static ulong Hex(ReadOnlySpan<byte> text, string name, int offset)
        {
            if (!ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value))
            {
                ThrowHelper.InvalidData(name, offset, $"'{Encoding.UTF8.GetString(text)}' is not hexadecimal");
            }
            return value;
        }
    }
}
