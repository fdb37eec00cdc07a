using System.Diagnostics;
using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Matrix;

/// <summary>
/// What a user would script with CRIU alone, no migrate:
/// 1. on B, a receiver (socat listening on B's link address, piping into
///    tar -x), waited for until it listens;
/// 2. on A, criu dump --leave-stopped: stopped, not killed, so a failed copy
///    or restore could still kill -CONT it back to life on A;
/// 3. on A, tar -c | socat across the rate-limited link, as scp would, minus
///    ssh's cost;
/// 4. on B, in B's agent PID namespace (where the PID is free), criu restore
///    -d: the process runs at once;
/// 5. SIGKILL to the stopped source copy.
/// The images live in the lab's tmpfs on both sides, as migrate's do.
/// </summary>
internal sealed class CriuByHand : IMover
{
    private const int ReceiverPort = 7710;

    public IReadOnlyList<string> Packages => ["socat"];

    public async Task<Move> MoveAsync(MoveRequest request, CancellationToken cancellationToken)
    {
        var lab = request.Lab;
        var images = Path.Combine(lab.WorkDirectory, "byhand");
        var imagesA = Path.Combine(images, "a");
        var imagesB = Path.Combine(images, "b");
        if (Directory.Exists(images))
        {
            Directory.Delete(images, recursive: true);
        }
        Directory.CreateDirectory(imagesA);
        Directory.CreateDirectory(imagesB);
        var log = Path.Combine(request.RunDirectory, "byhand.out");
        var clock = Stopwatch.StartNew();
        using var receiver = lab.Start("b", ["bash", "-c", $"socat -u TCP-LISTEN:{ReceiverPort},bind={lab.AddressOfB},reuseaddr - | tar -x -C '{imagesB}'"]);
        var receiverShell = request.Owned.Add(OwnedProcess.Of(receiver.Id));
        var received = CollectAsync(receiver);
        try
        {
            if (!await Poll.UntilAsync(() => ListeningAsync(lab, cancellationToken), TimeSpan.FromSeconds(20), cancellationToken))
            {
                return new Move { Failure = "receiver-not-listening" };
            }

            var dumpStart = clock.Elapsed;
            var dump = await lab.RunAsync("a", [Repository.Criu, "dump", "-t", request.Source.Pid.ToString(CultureInfo.InvariantCulture), "-D", imagesA,
                "-W", request.RunDirectory, "-o", "dump.log", "--leave-stopped"], request.Timeout, cancellationToken);
            await File.AppendAllTextAsync(log, dump.Stdout + dump.Stderr, cancellationToken);
            if (!dump.Succeeded)
            {
                return new Move { Failure = "criu-dump-failed" }; // CRIU resumed the source
            }

            var copyStart = clock.Elapsed;
            var send = await lab.RunAsync("a", ["bash", "-c", $"tar -c -C '{imagesA}' . | socat -u - TCP:{lab.AddressOfB}:{ReceiverPort}"], request.Timeout, cancellationToken);
            await File.AppendAllTextAsync(log, send.Stdout + send.Stderr, cancellationToken);
            using var copyDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            copyDeadline.CancelAfter(TimeSpan.FromSeconds(60));
            if (!send.Succeeded || !await ExitedCleanlyAsync(receiver, copyDeadline.Token, cancellationToken))
            {
                return new Move { Failure = "copy-failed" };
            }
            await File.AppendAllTextAsync(log, await received, cancellationToken);
            long bytes = new DirectoryInfo(imagesA).EnumerateFiles("*", SearchOption.AllDirectories).Sum(file => file.Length);

            var restoreStart = clock.Elapsed;
            var restore = await lab.RunAsync("b", [Repository.Criu, "restore", "-D", imagesB, "-W", request.RunDirectory, "-o", "restore.log", "-d"],
                request.Timeout, cancellationToken, agentNamespace: true);
            await File.AppendAllTextAsync(log, restore.Stdout + restore.Stderr, cancellationToken);
            if (!restore.Succeeded)
            {
                return new Move { Failure = "criu-restore-failed", Bytes = bytes };
            }
            var restoreEnd = clock.Elapsed;

            await request.Source.EndAsync();
            return new Move
            {
                RestoredPid = request.Source.Pid, // criu restore gives it its dumped PID
                FrozenMs = (restoreEnd - dumpStart).TotalMilliseconds,
                TotalMs = clock.Elapsed.TotalMilliseconds,
                Bytes = bytes,
                Parts = new FreezeParts(
                    DumpMs: (copyStart - dumpStart).TotalMilliseconds, DiffMs: null, TransferMs: (restoreStart - copyStart).TotalMilliseconds,
                    RebuildMs: null, RestoreMs: (restoreEnd - restoreStart).TotalMilliseconds, VerifyMs: null, ResumeMs: null),
            };
        }
        finally
        {
            if (!receiver.HasExited)
            {
                // Its socat would keep the port, its tar the directory: they go first, then the shell.
                foreach (var child in ProcFs.Children(receiverShell.Pid))
                {
                    await (OwnedProcess.Find(child)?.EndAsync() ?? Task.CompletedTask);
                }
                await receiverShell.EndAsync();
            }
            Directory.Delete(images, recursive: true);
        }
    }

    private static async Task<bool> ListeningAsync(LabHosts lab, CancellationToken cancellationToken)
    {
        var sockets = await lab.RunAsync("b", ["ss", "-Hltn", $"sport = :{ReceiverPort}"], TimeSpan.FromSeconds(30), cancellationToken);
        return sockets.Succeeded && sockets.Stdout.Trim().Length > 0;
    }

    /// <summary>The receiver ended with exit 0 before the copy's deadline.</summary>
    private static async Task<bool> ExitedCleanlyAsync(Process receiver, CancellationToken deadline, CancellationToken cancellationToken)
    {
        try
        {
            await receiver.WaitForExitAsync(deadline);
            return receiver.ExitCode == 0;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static async Task<string> CollectAsync(Process receiver)
    {
        var stdout = receiver.StandardOutput.ReadToEndAsync();
        var stderr = receiver.StandardError.ReadToEndAsync();
        return await stdout + await stderr;
    }
}
