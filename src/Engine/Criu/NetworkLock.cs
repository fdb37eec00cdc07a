using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;

namespace Migrate.Engine.Criu;

/// <summary>
/// The nftables table in which a dump with --tcp-established locked the
/// process's connections. CRIU leaves it when the tasks stay stopped for a
/// migration (criu/cr-dump.c, cr_dump_finish), one table per dump. Once the
/// source copy is dead its sockets are gone, and a segment of those
/// connections that still reaches this host (before the service address
/// moves) would be answered with a reset that kills the connection on the
/// target. So the connections move into migrate's own quarantine table, where
/// their entries expire by themselves, and CRIU's table goes.
/// </summary>
public static class NetworkLock
{
    /// <summary>The one table migrate keeps: its set entries expire, so it never grows.</summary>
    public const string QuarantineTable = "migrate-quarantine";

    /// <summary>How long this host keeps dropping a moved connection's segments.</summary>
    public static readonly TimeSpan Quarantine = TimeSpan.FromMinutes(2);

    // criu/netfilter.c, nftables_get_table: snprintf("inet CRIU-%s", run id)
    // into a 32-byte buffer (criu/net.c), so the name keeps only what fits.
    private const int CriuTableBuffer = 32;
    private const string FamilyPrefix = "inet ";

    /// <summary>The table's name as CRIU makes it for the dump with this run ID.</summary>
    public static string TableName(string runId)
    {
        var name = $"CRIU-{runId}";
        int room = CriuTableBuffer - 1 - FamilyPrefix.Length;
        return name.Length <= room ? name : name[..room];
    }

    /// <summary>
    /// Moves the connections the dump in <paramref name="imagesDirectory"/>
    /// locked into the quarantine and deletes CRIU's table, in one nftables
    /// transaction; throws if nft could not.
    /// </summary>
    public static async Task HandOverAsync(string imagesDirectory, CancellationToken cancellationToken)
    {
        if (await CriuTableAsync(imagesDirectory, cancellationToken).ConfigureAwait(false) is not { } table)
        {
            return;
        }
        var (listed, listing, listError) = await NftAsync(["-j", "list", "table", "inet", table], null, cancellationToken).ConfigureAwait(false);
        if (listed != 0)
        {
            throw new IOException($"nft list table inet {table} failed: {listError.Trim()}");
        }
        var script = new StringBuilder(QuarantineScript);
        foreach (var (set, element) in LockedConnections(listing))
        {
            script.Append($"add element inet {QuarantineTable} {set} {{ {element} timeout {(int)Quarantine.TotalSeconds}s }}\n");
        }
        script.Append($"delete table inet {table}\n");
        var (exitCode, _, error) = await NftAsync(["-f", "-"], script.ToString(), cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new IOException($"nft could not move the connections out of table inet {table}: {error.Trim()}");
        }
    }

    /// <summary>
    /// Deletes CRIU's table, letting the connections through again: for a tree
    /// resumed here after CRIU left it stopped. Throws if nft could not.
    /// </summary>
    public static async Task ReleaseAsync(string imagesDirectory, CancellationToken cancellationToken)
    {
        if (await CriuTableAsync(imagesDirectory, cancellationToken).ConfigureAwait(false) is not { } table)
        {
            return;
        }
        var (exitCode, _, error) = await NftAsync(["delete", "table", "inet", table], null, cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new IOException($"nft delete table inet {table} failed: {error.Trim()}");
        }
    }

    /// <summary>The table the dump made, named from the run ID in its inventory image; null if the dump locked nothing.</summary>
    private static async Task<string?> CriuTableAsync(string imagesDirectory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(imagesDirectory, "inventory.img");
        var reader = ImageReader.Open(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), ImageMagic.Inventory, path);
        return reader.TryRead(InventoryEntry.Parser, out var inventory) && !string.IsNullOrEmpty(inventory.DumpCriuRunId)
            ? TableName(inventory.DumpCriuRunId)
            : null;
    }

    // Declared with add and flush, the quarantine is made once and the same
    // however many migrations run at once: nft -f applies a file as one transaction.
    private static readonly string QuarantineScript = $$"""
        add table inet {{QuarantineTable}}
        add set inet {{QuarantineTable}} conns4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; flags timeout; }
        add set inet {{QuarantineTable}} conns6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; flags timeout; }
        add chain inet {{QuarantineTable}} input { type filter hook input priority 0; }
        add chain inet {{QuarantineTable}} output { type filter hook output priority 0; }
        flush chain inet {{QuarantineTable}} input
        flush chain inet {{QuarantineTable}} output
        add rule inet {{QuarantineTable}} input ip saddr . tcp sport . ip daddr . tcp dport @conns4 drop
        add rule inet {{QuarantineTable}} output ip saddr . tcp sport . ip daddr . tcp dport @conns4 drop
        add rule inet {{QuarantineTable}} input ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 drop
        add rule inet {{QuarantineTable}} output ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 drop

        """;

    /// <summary>The elements of CRIU's conns4 and conns6 sets, as nft writes them back: "ADDR . PORT . ADDR . PORT".</summary>
    internal static IEnumerable<(string Set, string Element)> LockedConnections(string nftJson)
    {
        using var document = JsonDocument.Parse(nftJson);
        var result = new List<(string, string)>();
        foreach (var item in document.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (!item.TryGetProperty("set", out var set) || !set.TryGetProperty("elem", out var elements))
            {
                continue;
            }
            var name = set.GetProperty("name").GetString();
            if (name is not ("conns4" or "conns6"))
            {
                continue;
            }
            foreach (var element in elements.EnumerateArray())
            {
                var parts = element.GetProperty("concat").EnumerateArray().Select(part => part.ToString());
                result.Add((name, string.Join(" . ", parts)));
            }
        }
        return result;
    }

    private static async Task<(int ExitCode, string Output, string Error)> NftAsync(
        IReadOnlyList<string> arguments, string? input, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("nft") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            using var nft = Process.Start(start)!;
            if (input is not null)
            {
                await nft.StandardInput.WriteAsync(input.AsMemory(), cancellationToken).ConfigureAwait(false);
                nft.StandardInput.Close();
            }
            var output = nft.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = await nft.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await nft.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return (nft.ExitCode, await output.ConfigureAwait(false), error);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot run nft: {e.Message}", e);
        }
    }
}
