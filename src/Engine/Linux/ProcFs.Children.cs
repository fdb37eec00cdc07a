using System.Globalization;

namespace Migrate.Engine.Linux;

public static partial class ProcFs
{
    /// <summary>/proc/PID/task/TID/children: each thread's children (proc(5)).</summary>
    public static class Children
    {
        /// <summary>The children of every thread of <paramref name="pid"/>, ascending; empty when it has gone.</summary>
        public static IReadOnlyList<int> Of(int pid) => Read(PidDirectory(pid));

        /// <summary>The children of this process, as the /proc mounted here numbers them.</summary>
        public static IReadOnlyList<int> OfSelf() => Read("/proc/self");

        private static IReadOnlyList<int> Read(string processDirectory)
        {
            string[] tasks;
            try
            {
                tasks = Directory.GetDirectories(Path.Combine(processDirectory, "task"));
            }
            catch (Exception e) when (IsGone(e))
            {
                return [];
            }
            var children = new SortedSet<int>();
            using var buffer = new FileBuffer();
            foreach (var task in tasks)
            {
                var path = Path.Combine(task, "children");
                // A thread that exited while we looked has no children to list.
                if (buffer.TryRead(path))
                {
                    Parse(buffer.Content, path, children);
                }
            }
            return [.. children];
        }

        /// <summary>PIDs separated by spaces.</summary>
        internal static void Parse(ReadOnlySpan<byte> text, string name, ISet<int> children)
        {
            foreach (var range in text.SplitAny(" \n"u8))
            {
                var word = text[range];
                if (word.IsEmpty)
                {
                    continue;
                }
                if (!int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                {
                    ThrowHelper.InvalidData(name, range.Start.Value, "not a PID");
                }
                children.Add(pid);
            }
        }
    }
}
