using System.Globalization;
using System.Threading.Channels;
using Migrate.Engine.Memory;

// Tracks the writes of process PID and reads them, round after round with no
// pause, so that most of its time is spent inside a round; prints one line a
// round. Run by the integration tests, which kill it by its PID.
//   dotnet Migrate.TrackerHost.dll PID
if (args.Length != 1 || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
{
    Console.Error.WriteLine("usage: Migrate.TrackerHost PID");
    return 2;
}
using var tracker = new WriteProtectTracker();
for (int round = 1; ; round++)
{
    var channel = Channel.CreateUnbounded<PageBatchBuilder>();
    long pages = 0;
    foreach (var writes in tracker.Scan([pid]))
    {
        pages += (await PageScanner.ReadWritesAsync(writes, (builder, address, count) => builder.Keep(address, count), channel.Writer, default)).Scanned;
    }
    channel.Writer.Complete();
    await foreach (var batch in channel.Reader.ReadAllAsync())
    {
        batch.Dispose();
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} pages {pages}"));
}
