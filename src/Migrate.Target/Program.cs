using System.CommandLine;
using Migrate.Engine.Credentials;
using Migrate.Target;

var listen = new Option<string>("--listen")
{
    Description = "Address to listen on, HOST:PORT (port 0 picks a free one and prints it)",
    Required = true,
};
var workDir = new Option<string>("--work-dir")
{
    Description = "Directory for session images and CRIU logs",
    DefaultValueFactory = _ => "/var/lib/migrate-target",
};
var tokenFile = new Option<string>("--token-file")
{
    Description = "The file to copy to source hosts: the token they present and this agent's certificate fingerprint; " +
        "created (mode 0600) if missing, with FILE.key (this agent's key) and FILE.operator (settles sessions by hand) beside it",
    DefaultValueFactory = _ => CredentialFile.DefaultPath,
};
var certificate = new Option<string?>("--cert")
{
    Description = "Present this certificate (PEM, from your own CA) instead of the self-signed one in FILE.key",
};
var key = new Option<string?>("--key")
{
    Description = "The private key of --cert (PEM, mode 0600); default: in the --cert file",
};
var clientCa = new Option<string?>("--client-ca")
{
    Description = "Require each source to present a client certificate that a CA in this PEM file signed (mutual TLS)",
};
var maxConnections = new Option<int>("--max-connections")
{
    Description = "Most connections open at once; more are closed at once",
    DefaultValueFactory = _ => 32,
};
var keepImages = new Option<bool>("--keep-images")
{
    Description = "Keep each session's images after it ends",
};
var maxSessionGiB = new Option<int>("--max-session-gib")
{
    Description = "Most image data one session may store, in GiB",
    DefaultValueFactory = _ => 64,
};

var root = new RootCommand("migrate-target: receives migrating processes and restores them with CRIU")
{
    listen, workDir, tokenFile, certificate, key, clientCa, keepImages, maxSessionGiB, maxConnections,
};
root.SetAction((parse, cancellationToken) => TargetHost.RunAsync(
    new TargetHostOptions(
        parse.GetValue(listen)!,
        parse.GetValue(workDir)!,
        parse.GetValue(tokenFile)!,
        parse.GetValue(keepImages),
        (long)parse.GetValue(maxSessionGiB) << 30,
        parse.GetValue(certificate),
        parse.GetValue(key),
        parse.GetValue(clientCa),
        parse.GetValue(maxConnections)),
    cancellationToken));

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"migrate-target: {error.Message}");
    }
    Console.Error.WriteLine("Try 'migrate-target --help'.");
    return ExitCodes.Usage;
}
return await parsed.InvokeAsync();
