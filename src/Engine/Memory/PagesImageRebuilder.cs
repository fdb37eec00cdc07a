using System.Buffers;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// Writes a task's pages image (pages-ID.img) from the target's page store,
/// page for page in the order its pagemap image lists them, which is the
/// order CRIU wrote them in: the result is byte-identical to CRIU's own.
/// It writes the whole file or, on any failure, leaves none.
/// </summary>
public static class PagesImageRebuilder
{
    private const int PagesPerWrite = 256;

    /// <param name="runs">The pagemap's runs, in its order; read as the file is written.</param>
    /// <returns>The bytes written.</returns>
    public static long Rebuild(PageStore store, int pid, IEnumerable<PagemapRun> runs, string pagesPath)
    {
        var output = PrivateFiles.CreateNew(pagesPath);
        var buffer = ArrayPool<byte>.Shared.Rent(PagesPerWrite * PageSize.Bytes);
        try
        {
            long offset = 0;
            foreach (var run in runs.Where(run => run.InPagesFile))
            {
                long done = 0;
                while (done < run.Pages)
                {
                    int want = (int)Math.Min(PagesPerWrite, run.Pages - done);
                    ulong address = run.Address + ((ulong)done << PageSize.Shift);
                    int found = store.TryRead(pid, address, want, buffer);
                    if (found < want)
                    {
                        ulong missing = address + ((ulong)found << PageSize.Shift);
                        throw new InvalidDataException($"task {pid}: the target never received the page at 0x{missing:x}");
                    }
                    RandomAccess.Write(output, buffer.AsSpan(0, want * PageSize.Bytes), offset);
                    offset += want * PageSize.Bytes;
                    done += want;
                }
            }
            output.Dispose();
            return offset;
        }
        catch
        {
            output.Dispose();
            File.Delete(pagesPath);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
