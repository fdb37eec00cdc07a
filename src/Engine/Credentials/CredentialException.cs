namespace Migrate.Engine.Credentials;

/// <summary>
/// A credential, key or certificate file is missing, malformed or not
/// private; the message names the file and says what to do.
/// </summary>
public sealed class CredentialException(string message, Exception? inner = null) : Exception(message, inner);
