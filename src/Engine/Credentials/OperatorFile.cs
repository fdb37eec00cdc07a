namespace Migrate.Engine.Credentials;

/// <summary>
/// The target's operator secret (the token file's path with
/// <c>.operator</c>): whoever holds it may commit or abort any session of
/// the agent by hand. It stays on the target host, where only root reads it.
/// </summary>
public sealed record OperatorFile(string Secret)
{
    private const string Kind = "migrate-operator";
    private const string SecretField = "secret";

    private static readonly string[] Comments =
    [
        "Written by migrate-target. Lets its holder commit or abort any session of this",
        "agent by hand (migrate commit|abort --operator-file). Keep it on this host.",
    ];

    public static OperatorFile New() => new(SessionSecrets.New());

    /// <param name="path">The file's path, for messages.</param>
    public static OperatorFile Parse(string text, string path)
    {
        var describe = $"the operator file {path}";
        var fields = FieldFile.Parse(text, Kind, describe, legacy: null, SecretField);
        return fields[SecretField].ToList() is [var secret] && SessionSecrets.IsValid(secret)
            ? new OperatorFile(secret)
            : throw new CredentialException($"{describe} must have one '{SecretField}' line of {SessionSecrets.Length} lowercase hex digits");
    }

    public string Format() => FieldFile.Format(Kind, Comments, [(SecretField, Secret)]);
}
