using System.Threading.Channels;

namespace Migrate.Engine.Protocol;

/// <summary>
/// Runs a producer on its own task, a few items ahead of a consumer, so that
/// reading and compressing overlap with the network and both cores work. Items
/// own pooled memory: whatever the consumer never took is disposed.
/// </summary>
internal static class BoundedPipeline
{
    public static async Task<TResult> RunAsync<TItem, TResult>(
        int depth,
        Func<ChannelWriter<TItem>, CancellationToken, Task<TResult>> produce,
        Func<TItem, CancellationToken, Task> consume,
        CancellationToken cancellationToken)
        where TItem : IDisposable
    {
        using var producerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var items = Channel.CreateBounded<TItem>(new BoundedChannelOptions(depth) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(async () =>
        {
            try
            {
                var result = await produce(items.Writer, producerStop.Token).ConfigureAwait(false);
                items.Writer.Complete();
                return result;
            }
            catch (Exception e)
            {
                items.Writer.Complete(e);
                throw;
            }
        }, producerStop.Token);
        try
        {
            await foreach (var item in items.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                using (item)
                {
                    await consume(item, cancellationToken).ConfigureAwait(false);
                }
            }
            return await producer.ConfigureAwait(false);
        }
        finally
        {
            await producerStop.CancelAsync().ConfigureAwait(false);
            await producer.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            while (items.Reader.TryRead(out var unsent))
            {
                unsent.Dispose();
            }
        }
    }
}
