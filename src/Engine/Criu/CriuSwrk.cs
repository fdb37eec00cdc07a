using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Google.Protobuf;
using Migrate.Engine.Criu.Rpc;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Criu;

/// <summary>
/// Called for each notification CRIU sends when <c>notify_scripts</c> is set
/// (pre-dump, post-dump, post-restore, ...). Returning false fails the action
/// where CRIU honours it (Documentation/action-scripts.txt).
/// </summary>
public delegate ValueTask<bool> CriuNotifyHandler(string script, int pid);

/// <summary>
/// One conversation with <c>criu swrk FD</c>: CRIU serves one request on a
/// SOCK_SEQPACKET socket inherited as FD, sends notifications it wants
/// answered, then its final response, and exits (criu/cr-service.c,
/// cr_service_work).
/// </summary>
internal static class CriuSwrk
{
    /// <summary>CRIU's final response, and what it printed to standard error.</summary>
    public sealed record Reply(CriuResp Response, string Stderr);

    // CRIU's messages are small; a dump response with stats is well under this.
    private const int MaxMessageBytes = 1 << 20;

    public static async Task<Reply> RunAsync(
        string criuPath,
        CriuReq request,
        CriuNotifyHandler? onNotify,
        IReadOnlyDictionary<string, string>? environment,
        TimeSpan timeout,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var (ours, theirs) = Descriptors.SocketPair(Interop.SOCK_SEQPACKET);
        using var socket = new Socket(ours);
        using var criu = await StartAsync(criuPath, theirs, environment, cancellationToken).ConfigureAwait(false);
        var stderr = criu.StandardError.ReadToEndAsync(CancellationToken.None);

        // CRIU's silence is counted on the caller's clock; the limit starts with its first wait below.
        using var silence = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, silence.Token);
        var buffer = ArrayPool<byte>.Shared.Rent(MaxMessageBytes);
        try
        {
            await SendAsync(socket, request, deadline.Token).ConfigureAwait(false);
            while (true)
            {
                // The limit is on CRIU's silence, not on the notification handlers,
                // which may move a whole process while CRIU waits.
                silence.CancelAfter(timeout);
                var response = await ReceiveAsync(socket, buffer, deadline.Token).ConfigureAwait(false);
                if (response is null)
                {
                    await criu.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                    throw new CriuProcessExitedException(criu.ExitCode, (await stderr.ConfigureAwait(false)).Trim());
                }
                if (response.Type != CriuReqType.Notify)
                {
                    // Closing our end first: a CRIU that would wait for another request sees EOF and exits.
                    socket.Close();
                    await criu.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                    return new Reply(response, (await stderr.ConfigureAwait(false)).Trim());
                }
                bool ok = onNotify is null || await onNotify(response.Notify.Script, response.Notify.Pid).ConfigureAwait(false);
                await SendAsync(socket, new CriuReq { Type = CriuReqType.Notify, NotifySuccess = ok }, deadline.Token)
                    .ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (silence.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            criu.Kill();
            throw new TimeoutException($"criu {request.Type} did not answer within {timeout.TotalSeconds:0} s and was killed");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            socket.Close();
            // CRIU exits right after its final response; wait so no zombie is left.
            await criu.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            ChildReaper.ForgetSpawned(criu.Id);
        }
    }

    /// <summary>Starts CRIU on its end of the socketpair, and closes this process's copy of that end whatever happens.</summary>
    private static async Task<Process> StartAsync(
        string criuPath, SafeSocketHandle theirs, IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        // In a session of its own, CRIU never gets the terminal's Ctrl-C: killed
        // mid-dump it could leave its parasite code in the tasks. migrate
        // handles Ctrl-C itself and lets CRIU finish or roll back. setsid
        // execs CRIU in place, so the inherited socket and the PID stay.
        var startInfo = new ProcessStartInfo("setsid")
        {
            ArgumentList = { criuPath, "swrk", theirs.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture) },
            RedirectStandardError = true,
            RedirectStandardOutput = false,
            UseShellExecute = false,
        };
        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                startInfo.Environment[name] = value;
            }
        }

        using (theirs)
        {
            if (FindExecutable(criuPath) is null)
            {
                throw new CriuNotFoundException(criuPath);
            }
            // While CRIU's end is inheritable, any child started by this process
            // would inherit it too: children the engine starts wait at this gate.
            await ChildReaper.SpawnGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                Descriptors.SetInheritable(theirs, true);
                var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"could not start {criuPath}");
                ChildReaper.TrackSpawned(process.Id);
                return process;
            }
            finally
            {
                // Closed before the gate opens, so no other child inherits it.
                theirs.Dispose();
                ChildReaper.SpawnGate.Release();
            }
        }
    }

    /// <summary>The executable's full path, looked up in PATH unless it has a slash; null if there is none.</summary>
    internal static string? FindExecutable(string name)
    {
        if (name.Contains('/'))
        {
            return File.Exists(name) ? name : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
    }

    private static async Task SendAsync(Socket socket, CriuReq request, CancellationToken cancellationToken)
    {
        var bytes = request.ToByteArray();
        int sent = await socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        if (sent != bytes.Length)
        {
            throw new IOException($"short write to criu: {sent} of {bytes.Length} bytes");
        }
    }

    /// <summary>One CRIU response, or null when CRIU closed the socket without one.</summary>
    private static async Task<CriuResp?> ReceiveAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        int received;
        try
        {
            received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return null;
        }
        return received == 0 ? null : CriuResp.Parser.ParseFrom(buffer, 0, received);
    }
}

/// <summary>CRIU exited without answering: it crashed or refused its arguments.</summary>
public sealed class CriuProcessExitedException(int exitCode, string stderr)
    : Exception($"criu exited with code {exitCode} without answering" + (stderr.Length > 0 ? $": {stderr}" : ""))
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>There is no criu binary to run.</summary>
public sealed class CriuNotFoundException(string path)
    : Exception($"cannot find '{path}': install CRIU 4.2 or newer (scripts/setup.sh does)");
