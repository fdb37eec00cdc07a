using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Migrate.Engine.Credentials;

/// <summary>Certificates and keys in PEM files, read with .NET's own X.509 support.</summary>
public static class PemCertificates
{
    /// <summary>
    /// A certificate with its private key. The key is read from
    /// <paramref name="keyFile"/>, or from the certificate's file when that is
    /// null; whichever holds it must be private (mode 0600).
    /// </summary>
    public static X509Certificate2 LoadWithKey(string certificateFile, string? keyFile)
    {
        var keyPath = keyFile ?? certificateFile;
        var keyText = SecretFiles.Read(keyPath, "key file");
        var certificateText = keyFile is null ? keyText : Read(certificateFile, "certificate file");
        try
        {
            return X509Certificate2.CreateFromPem(certificateText, keyText);
        }
        catch (CryptographicException e)
        {
            throw new CredentialException($"cannot use the certificate in {certificateFile} with the private key in {keyPath}: {e.Message}", e);
        }
    }

    /// <summary>Every certificate of a PEM bundle: the authorities an operator trusts.</summary>
    public static X509Certificate2Collection LoadAll(string file, string what)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(Read(file, what));
        }
        catch (CryptographicException e)
        {
            throw new CredentialException($"cannot read the {what} {file}: {e.Message}", e);
        }
        return certificates.Count > 0 ? certificates : throw new CredentialException($"the {what} {file} holds no PEM certificate");
    }

    private static string Read(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CredentialException($"the {what} {path} does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CredentialException($"cannot read the {what} {path}: {e.Message}", e);
        }
    }
}
