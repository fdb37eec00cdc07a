using Migrate.Engine.Compat;
using Migrate.Engine.Criu;
using Migrate.Engine.Images;
using Migrate.Engine.Linux;
using Migrate.Engine.Memory;
using Migrate.Engine.Protocol;

namespace Migrate.Engine.Migration.Target;

/// <summary>
/// Makes a stopped copy from a session's images: judges them against the
/// target's restore policy, rebuilds the pages images content-hash pre-copy
/// left to the target, checks the images, restores them with CRIU with the
/// tasks left stopped (lazily if asked and possible), and makes sure they are
/// stopped.
/// </summary>
internal sealed class SessionRestorer(ICriu criu, CriuFeatureSet features, ITargetHost host, TargetOptions options, PidClaims claims, TimeProvider time)
{
    /// <summary>Restores <paramref name="order"/>'s image set from <paramref name="store"/>.</summary>
    public async Task<(RestoreResult Result, RestoredCopy Copy)> RestoreAsync(
        SessionStore store, RestoreOrder order, CancellationToken cancellationToken)
    {
        if (!store.HasSet(order.Set))
        {
            throw new InvalidSessionStateException($"image set '{order.Set}' has not been received");
        }
        var images = store.SetDirectory(order.Set);
        // Who the images would make CRIU create, judged before anything else is done with them.
        var checks = new List<CheckResult> { Require(options.Policy.Check(images)) };

        var started = time.GetTimestamp();
        long rebuiltBytes = Rebuild(store, images, order.Rebuild);
        double rebuildMs = time.GetElapsedTime(started).TotalMilliseconds;

        // The images, checked before CRIU is asked to restore them.
        RequireParentPages(store, images);
        var pids = host.ImagePids(images);
        using var claim = claims.Claim(pids);
        checks.Add(Require(host.CheckPids(pids, "at restore")));
        if (order.StripSites.Count > 0)
        {
            host.StripUprobes(images, order.StripSites);
        }

        bool lazy = order.Options.LazyPages && features.LazyPages;
        string? note = order.Options.LazyPages && !lazy
            ? "this target's kernel or CRIU cannot restore lazily (userfaultfd), so memory was loaded before the resume"
            : null;
        var (copy, restoreMs, verifyMs) = await RestoreStoppedAsync(images, pids, store.Directory, order.Options, lazy, cancellationToken).ConfigureAwait(false);
        // The final go or no-go, while the restored tasks are still stopped.
        if (order.StripSites.Count > 0)
        {
            var stripped = host.CheckStripped(order.StripSites);
            if (stripped.Failed)
            {
                await copy.KillAsync().ConfigureAwait(false);
                await copy.DisposeAsync().ConfigureAwait(false);
                throw new CheckFailedException(stripped);
            }
            checks.Add(stripped);
        }
        checks.Add(Checks.Pass("restored", $"{Checks.Count(copy.Pids.Count, "task")} restored {(lazy ? "lazily" : "eagerly")} and stopped, waiting for the commit"));
        var result = new RestoreResult(copy.RootPid, copy.Pids, new TargetTimings(rebuildMs, restoreMs, verifyMs), lazy, note, checks, rebuiltBytes);
        return (result, copy);
    }

    /// <summary>
    /// The lazy-pages daemon died while the copy waited for its commit: pages it
    /// had not copied yet would read as zeros once the process ran (the kernel
    /// drops a userfaultfd's ranges with its last owner). The source copy is
    /// already gone, but the images are whole: kill the copy and restore them
    /// again with all memory loaded.
    /// </summary>
    public async Task<RestoredCopy> RestoreAgainEagerlyAsync(
        RestoredCopy failed, SessionStore store, RestoreOrder order, CancellationToken cancellationToken)
    {
        await failed.KillAsync().ConfigureAwait(false);
        await failed.DisposeAsync().ConfigureAwait(false);
        // The killed tasks hold their PIDs until reaped, and the restore needs them.
        host.ReapExitedChildren();
        var images = store.SetDirectory(order.Set);
        var pids = host.ImagePids(images);
        using var claim = claims.Claim(pids);
        var (copy, _, _) = await RestoreStoppedAsync(images, pids, store.Directory, order.Options, lazy: false, cancellationToken)
            .ConfigureAwait(false);
        return copy;
    }

    /// <param name="pids">The tree's PIDs from the images, checked free just before: what CRIU creates.</param>
    private async Task<(RestoredCopy Copy, double RestoreMs, double VerifyMs)> RestoreStoppedAsync(
        string images, IReadOnlyList<int> pids, string workDirectory, RestoreOptions restoreOptions, bool lazy, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var lazyPages = lazy ? await criu.StartLazyPagesAsync(images, workDirectory, cancellationToken).ConfigureAwait(false) : null;
        try
        {
            await criu.RestoreAsync(new CriuRestore
            {
                ImagesDirectory = images,
                WorkDirectory = workDirectory,
                ShellJob = restoreOptions.ShellJob,
                TcpEstablished = restoreOptions.TcpEstablished,
                TcpClose = restoreOptions.TcpClose,
                FileLocks = restoreOptions.FileLocks,
                LinkRemap = restoreOptions.LinkRemap,
                ExternalUnixSockets = restoreOptions.ExternalUnixSockets,
                AllowUprobes = restoreOptions.AllowUprobes,
                LazyPages = lazy,
                KeepCallersCgroups = options.RestoredCgroups == RestoredCgroups.Agent,
                LeaveStopped = true,
            }, onNotify: null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // CRIU kills what it made when it fails by itself (criu/cr-restore.c), but not
            // when it is killed or dies: then its tasks may stay, stopped half-way.
            KillWhatCriuLeft(pids);
            if (lazyPages is not null)
            {
                await lazyPages.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
        double restoreMs = time.GetElapsedTime(started).TotalMilliseconds;

        started = time.GetTimestamp();
        // CRIU restores the PIDs its images name; pin them while they are stopped.
        RestoredCopy copy;
        try
        {
            copy = new RestoredCopy(host.Pin(pids), host.DumpedStates(images), lazyPages);
        }
        catch
        {
            KillWhatCriuLeft(pids);
            if (lazyPages is not null)
            {
                await lazyPages.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
        try
        {
            await VerifyStoppedAsync(copy, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await copy.KillAsync().ConfigureAwait(false);
            await copy.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return (copy, restoreMs, time.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>
    /// Only a stopped copy may wait for the commit: a running one would be a
    /// duplicate of the source's. CRIU's SIGSTOP may still be pending when the
    /// restore returns, so the check waits a little before it judges.
    /// </summary>
    private async Task VerifyStoppedAsync(RestoredCopy copy, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.StopTimeout;
        // A zombie was dumped dead and comes back dead: it never runs, so it cannot duplicate anything.
        while (copy.Pids.FirstOrDefault(pid => !host.State(pid).IsStopped() && !(copy.DumpedStates.Zombies.Contains(pid) && host.State(pid) == 'Z'))
               is var running && running != 0)
        {
            if (time.GetUtcNow() > deadline)
            {
                throw new InvalidSessionStateException(
                    $"restored task {running} is in state {host.State(running)}, not stopped, after {options.StopTimeout.TotalSeconds:0} s; the copy was killed");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(2), time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The tasks of the tree that exist now are CRIU's: their PIDs were free
    /// before it ran, and claimed for this restore alone. Killed through
    /// pidfds, so that none is left stopped and untracked.
    /// </summary>
    private void KillWhatCriuLeft(IReadOnlyList<int> pids)
    {
        using var left = host.PinLeftovers(pids);
        if (left.Pids.Count > 0)
        {
            left.Kill(RestoredCopy.KillTimeout);
            host.ReapExitedChildren();
        }
    }

    /// <summary>
    /// Writes the pages images the order names from the page store. Every
    /// instruction and every pagemap is checked first, and the room for all
    /// the pages they ask for is charged to the session before a byte is
    /// written; on any failure the files written so far are removed.
    /// </summary>
    /// <returns>The bytes written.</returns>
    private static long Rebuild(SessionStore store, string images, IReadOnlyList<PagesRebuild> rebuilds)
    {
        if (rebuilds.Count == 0)
        {
            return 0;
        }
        var pages = store.CompletePages;
        long bytes = 0;
        var outputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rebuild in rebuilds)
        {
            if (rebuild.Pid <= 0 || !ImageNames.IsValidFileName(rebuild.PagemapFile) || !ImageNames.IsValidFileName(rebuild.PagesFile) ||
                !outputs.Add(rebuild.PagesFile))
            {
                throw new TransferRejectedException(TransferRejection.Malformed, "refused pages rebuild instruction");
            }
            long measured = Measure(images, rebuild);
            if (measured > store.Allowance.Limit - bytes)
            {
                throw new TransferRejectedException(TransferRejection.TooLarge,
                    $"the pagemaps ask for more pages than the session may store ({StorageAllowance.Describe(store.Allowance.Limit)})");
            }
            bytes += measured;
        }
        try
        {
            store.Allowance.Charge(bytes);
        }
        catch (StorageLimitException e)
        {
            throw new TransferRejectedException(TransferRejection.TooLarge, $"the pages images cannot be rebuilt: {e.Message}", e);
        }
        var files = new List<string>();
        long written = 0;
        try
        {
            foreach (var rebuild in rebuilds)
            {
                using var pagemap = PagemapReader.Open(Path.Combine(images, rebuild.PagemapFile));
                var path = Path.Combine(images, rebuild.PagesFile);
                written += PagesImageRebuilder.Rebuild(pages, rebuild.Pid, pagemap.ReadRuns(), path);
                files.Add(path);
            }
            return written;
        }
        catch (Exception e)
        {
            files.ForEach(File.Delete);
            store.Allowance.Refund(bytes);
            if (e is IOException io and not FileNotFoundException)
            {
                throw new TransferRejectedException(TransferRejection.StorageFailed, $"cannot write the pages images: {io.Message}", io);
            }
            throw;
        }
    }

    /// <summary>The bytes of the pages image <paramref name="rebuild"/> asks for, from its pagemap, read and checked run by run.</summary>
    private static long Measure(string images, PagesRebuild rebuild)
    {
        using var pagemap = PagemapReader.Open(Path.Combine(images, rebuild.PagemapFile));
        if (pagemap.PagesFileName != rebuild.PagesFile)
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"{rebuild.PagemapFile} names {pagemap.PagesFileName}, not {rebuild.PagesFile}");
        }
        if (File.Exists(Path.Combine(images, rebuild.PagesFile)))
        {
            throw new TransferRejectedException(TransferRejection.Malformed, $"{rebuild.PagesFile} was sent, and is to be rebuilt too");
        }
        long pages = 0;
        foreach (var run in pagemap.ReadRuns().Where(run => run.InPagesFile))
        {
            // Runs lie apart within user memory, so their sum cannot overflow.
            pages += run.Pages;
        }
        return pages * PageSize.Bytes;
    }

    /// <summary>
    /// A dump whose parent is the write-protect chain may name as "in the
    /// parent" only pages the chain holds; anything else would fail CRIU's
    /// restore half-way, or restore pages that were never sent.
    /// </summary>
    private static void RequireParentPages(SessionStore store, string images)
    {
        if (store.ExistingChain is not { TopSet: not null } chain)
        {
            return;
        }
        foreach (var file in Directory.EnumerateFiles(images, "pagemap-*.img"))
        {
            if (PageOwner.FromPagemapFileName(Path.GetFileName(file)) is not { } owner)
            {
                continue;
            }
            using var pagemap = PagemapReader.Open(file);
            foreach (var run in pagemap.ReadRuns().Where(run => (run.Flags & PagemapRun.InParent) != 0))
            {
                if (!chain.Holds(owner, run.Address, run.Pages))
                {
                    throw new TransferRejectedException(TransferRejection.Malformed,
                        $"the final dump of {owner} names {run.Pages} pages at 0x{run.Address:x} as pre-copied, and the target never received them");
                }
            }
        }
    }

    private static CheckResult Require(CheckResult check) => check.Failed ? throw new CheckFailedException(check) : check;
}
