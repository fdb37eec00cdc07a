using System.Collections.Concurrent;

namespace Migrate.Engine.Linux;

/// <summary>
/// The one OS thread that makes ptrace requests. A tracee is traced by a
/// thread, not by a process: only the thread that seized it may make requests
/// on it (kernel/ptrace.c, ptrace_check_attach), so every request from SEIZE to
/// DETACH runs here. When the thread ends, the kernel detaches whatever it
/// still traces, stopped or not (exit_ptrace): that is how a tracee that never
/// stopped is let go, since PTRACE_DETACH needs it stopped.
/// </summary>
internal sealed class TracerThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;

    public TracerThread()
    {
        _thread = new Thread(Serve) { IsBackground = true, Name = "ptrace tracer" };
        _thread.Start();
    }

    /// <summary>Whether the caller is this tracer's thread.</summary>
    public bool IsCurrent => Thread.CurrentThread == _thread;

    /// <summary>Runs <paramref name="work"/> on the tracer thread and waits for its result or exception.</summary>
    public T Run<T>(Func<T> work)
    {
        if (IsCurrent)
        {
            return work();
        }
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task.GetAwaiter().GetResult();
    }

    /// <summary>Ends the thread, and with it every trace it still holds.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        if (!IsCurrent)
        {
            _thread.Join();
        }
        _work.Dispose();
    }

    private void Serve()
    {
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }
}
