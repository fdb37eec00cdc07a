using System.Runtime.InteropServices;

namespace Migrate.Source;

/// <summary>
/// Ctrl-C and SIGTERM, counted. The first asks the command to stop what it
/// can stop cleanly (a migration rolls back unless past its commit point; an
/// evacuation starts no new migration); a second asks it to abandon work in
/// flight too. The process is never torn down under a command.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    private readonly CancellationTokenSource _first = new();
    private readonly CancellationTokenSource _second = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;

    public Interrupts()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken First => _first.Token;

    public CancellationToken Second => _second.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (_first.IsCancellationRequested)
        {
            _second.Cancel();
        }
        else
        {
            _first.Cancel();
        }
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _first.Dispose();
        _second.Dispose();
    }
}
