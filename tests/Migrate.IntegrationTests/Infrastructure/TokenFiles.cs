using Migrate.Engine.Credentials;
using Migrate.Tests.Shared;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>Token files a test writes itself, as an operator might get them wrong.</summary>
internal static class TokenFiles
{
    /// <summary>A well-formed token file, mode 0600, naming <paramref name="targets"/>.</summary>
    public static string Write(string path, string token, params CertificateFingerprint[] targets)
    {
        File.WriteAllText(path, new CredentialFile(token, targets).Format());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>A well-formed token file of a target that does not exist: a random token, a stranger's fingerprint.</summary>
    public static string WriteUnused(string path)
    {
        using var stranger = TestCertificates.SelfSigned("nobody");
        return Write(path, CredentialFile.NewToken(), CertificateFingerprint.Of(stranger));
    }

    /// <summary>The agent's token file with another token: the right target, the wrong secret.</summary>
    public static string WriteWrongToken(string path, TargetAgent agent)
    {
        var file = CredentialFile.Parse(File.ReadAllText(agent.TokenFile), agent.TokenFile);
        return Write(path, CredentialFile.NewToken(), [.. file.Targets]);
    }
}
