namespace Migrate.Engine.Criu;

/// <summary>
/// A final dump whose outcome the caller decides while CRIU holds the tasks
/// frozen. CRIU asks at its post-dump notification whether to go on: "yes"
/// leaves the tasks stopped (the caller then owns them), "no" makes CRIU roll
/// back by itself: unlock the network, take TCP sockets out of repair mode,
/// resume the tasks (criu/cr-dump.c, cr_dump_finish). Only CRIU can do that,
/// since it holds the sockets. Should the caller die before answering, CRIU
/// sees its socket close and rolls back the same way.
/// </summary>
public sealed class FrozenDump
{
    private readonly TaskCompletionSource<long> _freezing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _dumped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<bool> _decision = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private readonly Task _dump;

    private FrozenDump(ICriu criu, CriuDump dump, TimeProvider time, CancellationToken cancellationToken)
    {
        _time = time;
        _dump = RunAsync(criu, dump, cancellationToken);
    }

    /// <summary>Starts the dump; await <see cref="WaitDumpedAsync"/> next.</summary>
    public static FrozenDump Start(ICriu criu, CriuDump dump, TimeProvider time, CancellationToken cancellationToken) =>
        new(criu, dump with { LeaveStopped = true }, time, cancellationToken);

    /// <summary>When CRIU froze the tasks (its pre-dump notification comes right before), as a <see cref="TimeProvider"/> timestamp; null if it never did.</summary>
    public long? FreezeTimestamp => _freezing.Task.IsCompletedSuccessfully ? _freezing.Task.Result : null;

    /// <summary>
    /// Waits until CRIU has dumped the frozen tasks and asks whether to go on;
    /// returns that moment's timestamp. Throws CRIU's failure if the dump failed
    /// first: then CRIU has already resumed the tasks.
    /// </summary>
    public async Task<long> WaitDumpedAsync()
    {
        try
        {
            return await _dumped.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_dumped.Task.IsCanceled)
        {
            // The dump ended without asking: its own failure says why.
            await _dump.ConfigureAwait(false);
            throw new CriuException("dump", "CRIU finished without asking whether to go on (no post-dump notification)", [], null);
        }
    }

    /// <summary>Answers "yes": CRIU leaves the tasks stopped and exits. Throws if CRIU failed after all.</summary>
    public async Task KeepStoppedAsync()
    {
        _decision.TrySetResult(true);
        await _dump.ConfigureAwait(false);
    }

    /// <summary>
    /// Answers "no" (or, if CRIU already failed, nothing): CRIU resumes the tasks
    /// and exits. Never throws: CRIU reports the refused notification as a
    /// failure, and that failure is the point.
    /// </summary>
    public async Task ResumeAsync()
    {
        _decision.TrySetResult(false);
        try
        {
            await _dump.ConfigureAwait(false);
        }
        catch (Exception e) when (e is CriuException or CriuProcessExitedException or TimeoutException or OperationCanceledException)
        {
            // Expected: CRIU fails the dump it was told to abandon.
        }
    }

    private async Task RunAsync(ICriu criu, CriuDump dump, CancellationToken cancellationToken)
    {
        try
        {
            await criu.DumpAsync(dump, async (script, _) =>
            {
                switch (script)
                {
                    case "pre-dump":
                        // CRIU freezes the tasks right after this notification.
                        _freezing.TrySetResult(_time.GetTimestamp());
                        return true;
                    case "post-dump":
                        _dumped.TrySetResult(_time.GetTimestamp());
                        return await _decision.Task.ConfigureAwait(false);
                    default:
                        return true;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Nobody waits on an answer CRIU can no longer ask for.
            _dumped.TrySetCanceled(CancellationToken.None);
        }
    }
}
