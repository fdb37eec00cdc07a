using System.CommandLine;
using Migrate.Engine.Credentials;

namespace Migrate.Source;

/// <summary>
/// How this host reaches targets: the token file, and how to recognise a
/// target and be recognised by it. Every command that talks to a target takes them.
/// </summary>
internal sealed class CredentialOptionSet
{
    private readonly Option<string> _tokenFile = new("--token-file")
    {
        Description = "The token file migrate-target wrote, copied from the target host: its token and its certificate's fingerprint",
        DefaultValueFactory = _ => CredentialFile.DefaultPath,
    };
    private readonly Option<string?> _ca = new("--ca")
    {
        Description = "Recognise targets by a certificate that a CA in this PEM file signed for the host in --to, instead of by the token file's fingerprints",
    };
    private readonly Option<string?> _certificate = new("--cert")
    {
        Description = "Present this client certificate (PEM) to targets that require one (migrate-target --client-ca)",
    };
    private readonly Option<string?> _key = new("--key")
    {
        Description = "The private key of --cert (PEM, mode 0600); default: in the --cert file",
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _tokenFile, _ca, _certificate, _key })
        {
            command.Options.Add(option);
        }
    }

    public string TokenFile(ParseResult parse) => parse.GetValue(_tokenFile)!;

    /// <summary>The credentials the options name; throws <see cref="UsageException"/> on any file that is missing or wrong.</summary>
    public TargetCredentials Build(ParseResult parse)
    {
        var path = TokenFile(parse);
        var ca = parse.GetValue(_ca);
        var certificate = parse.GetValue(_certificate);
        var key = parse.GetValue(_key);
        if (key is not null && certificate is null)
        {
            throw new UsageException("--key needs --cert");
        }
        try
        {
            var file = CredentialFile.Parse(ReadTokenFile(path), path);
            var trust = ca is not null ? TargetTrust.SignedBy(CertificateAuthority.Load(ca, "CA file"))
                : file.Targets.Count > 0 ? TargetTrust.Pinned(file.Targets, path)
                : throw new UsageException(
                    $"the token file {path} names no target certificate (no target-sha256 line): copy it again from the target host, or recognise targets by their CA with --ca");
            return new TargetCredentials(file.Token, trust, certificate is null ? null : PemCertificates.LoadWithKey(certificate, key));
        }
        catch (CredentialException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static string ReadTokenFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException(
                $"the token file {path} does not exist: copy it from the target host (migrate-target writes it to its --token-file), or name it with --token-file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read the token file {path}: permission denied (migrate runs as root; the file is root's, mode 0600)");
        }
    }
}
