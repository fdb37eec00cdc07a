using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Criu;

/// <summary>
/// The nftables table in which a dump with --tcp-established locked the
/// process's connections. CRIU leaves it when the tasks stay stopped for a
/// migration (criu/cr-dump.c, cr_dump_finish); once the source copy is dead
/// it only blocks the old connections' packets on the source, so it goes.
/// </summary>
public static partial class NetworkLock
{
    public static async Task RemoveAsync(string imagesDirectory, ILogger logger)
    {
        var path = Path.Combine(imagesDirectory, "inventory.img");
        var reader = ImageReader.Open(await File.ReadAllBytesAsync(path).ConfigureAwait(false), ImageMagic.Inventory, path);
        if (!reader.TryRead(InventoryEntry.Parser, out var inventory) || string.IsNullOrEmpty(inventory.DumpCriuRunId))
        {
            return;
        }
        var table = $"CRIU-{inventory.DumpCriuRunId}";
        var start = new ProcessStartInfo("nft") { ArgumentList = { "delete", "table", "inet", table }, RedirectStandardError = true };
        try
        {
            using var nft = Process.Start(start)!;
            var error = await nft.StandardError.ReadToEndAsync().ConfigureAwait(false);
            await nft.WaitForExitAsync().ConfigureAwait(false);
            if (nft.ExitCode != 0)
            {
                LogNotRemoved(logger, table, error.Trim());
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            LogNotRemoved(logger, table, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CRIU's network lock table inet {Table} stays on this host: {Reason}")]
    private static partial void LogNotRemoved(ILogger logger, string table, string reason);
}
