using Migrate.Engine.Credentials;
using Migrate.IntegrationTests.Infrastructure;
using Migrate.Tests.Shared;

namespace Migrate.IntegrationTests;

/// <summary>
/// A target the source recognises (its certificate is the one the token file
/// names) that answers the handshake with a session ID meant as a path: the
/// ID would become the source's session directory, which it later deletes
/// recursively, as root.
/// </summary>
[Collection(CriuCollection.Name)]
public sealed class HostileTargetTests(Workloads workloads) : IDisposable
{
    private readonly TempDirectory _root = new("hostile");

    [Theory]
    [InlineData("/")]
    [InlineData("..")]
    [InlineData("../..")]
    [InlineData("0123456789abcdef0123456789abc/..")]
    public async Task A_session_id_that_is_a_path_is_refused_with_exit_3_and_nothing_is_deleted(string hostileId)
    {
        using var certificate = TestCertificates.SelfSigned("migrate-target");
        await using var fake = await FakeTarget.StartAsync(certificate, hostileId);
        using var counter = await Counter.StartAsync(workloads, bufferMiB: 1);
        var tokenFile = TokenFiles.Write(_root.Combine("token"), CredentialFile.NewToken(), fake.Fingerprint);
        // WORK/../.. is the root of this test's tree: every level holds what a
        // recursive delete of WORK/ID, or of WORK/ID/images, would take.
        var work = _root.Combine("a", "b", "work");
        var kept = new[] { _root.Combine("a", "b", "work", "kept"), _root.Combine("a", "b", "images", "kept"), _root.Combine("a", "images", "kept"), _root.Combine("a", "kept") };
        foreach (var file in kept)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, "still here");
        }

        var result = await MigrateCli.RunAsync("--to", fake.Address, "--token-file", tokenFile, "--work-dir", work, counter.Pid.ToString());

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("malformed session ID", result.Stdout, StringComparison.Ordinal);
        Assert.Equal("refused", result.Report!.Value.GetProperty("outcome").GetString());
        Assert.All(kept, file => Assert.True(File.Exists(file), $"{file} was deleted"));
        Assert.Equal(["kept"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName));
        // The source went no further than the handshake (after its health check, which
        // carries no token), and the process never stopped.
        Assert.Equal(["/grpc.health.v1.Health/Check", "/migrate.v1.MigrationTarget/Handshake"], fake.Requests.Select(request => request.Path));
        Assert.Null(fake.Requests[0].Authorization);
        Assert.True(ProcFs.IsRunning(counter.Pid));
        await counter.WaitForProgressAsync();
    }

    public void Dispose() => _root.Dispose();
}
