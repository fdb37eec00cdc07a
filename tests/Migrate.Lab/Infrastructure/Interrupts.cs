using System.Runtime.InteropServices;

namespace Migrate.Lab.Infrastructure;

/// <summary>
/// Ctrl-C and SIGTERM cancel the measurement instead of ending the tool at
/// once, so that what it started is ended and the lab is taken down.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;

    public Interrupts()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _cancel.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _cancel.Cancel();
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _cancel.Dispose();
    }
}
