using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

public static class MemoryAreaExtensions
{
    extension(MemoryArea area)
    {
        /// <summary>
        /// Whether CRIU would dump pages of this area: private memory it can read
        /// (criu/proc_parse.c, criu/mem.c). The kernel's special areas are mapped
        /// anew on restore, not copied.
        /// </summary>
        public bool HoldsProcessData => area.Private && area.Readable && !area.IsKernelSpecial;
    }
}
