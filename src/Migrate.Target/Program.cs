using System.CommandLine;
using Migrate.Common;
using Migrate.Engine.Credentials;
using Migrate.Engine.Migration.Target;
using Migrate.Target;

var config = new Option<string?>("--config")
{
    Description = $"Configuration file, whose lines the flags below override (default {TargetConfigFile.DefaultPath}, if it exists)",
};
var listen = new Option<string>("--listen")
{
    Description = "Address to listen on, HOST:PORT (port 0 picks a free one and prints it)",
};
var workDir = new Option<string>("--work-dir")
{
    Description = "Directory for session images and CRIU logs (default /var/lib/migrate-target)",
};
var tokenFile = new Option<string>("--token-file")
{
    Description = "The file to copy to source hosts: the token they present and this agent's certificate fingerprint; " +
        "created (mode 0600) if missing, with FILE.key (this agent's key) and FILE.operator (settles sessions by hand) beside it (default " + CredentialFile.DefaultPath + ")",
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
    Description = "Most connections open at once; more are closed as they arrive (default 32)",
};
var keepImages = new Option<bool>("--keep-images")
{
    Description = "Keep each session's images after it ends",
};
var restoredCgroups = new Option<string>("--restored-cgroups")
{
    Description = "Where restored processes go: 'source', the cgroups they had there (made here if missing), or 'agent', this agent's own (its systemd unit's) (default source)",
};
restoredCgroups.AcceptOnlyFromAmong("source", "agent");
var limits = new StorageLimitOptions();
var policy = new RestorePolicyOptions();
Option[] configurable = [listen, workDir, tokenFile, certificate, key, clientCa, keepImages, restoredCgroups, maxConnections, .. limits.All, .. policy.All];

var root = new RootCommand("migrate-target: receives migrating processes and restores them with CRIU") { config };
foreach (var option in configurable)
{
    root.Options.Add(option);
}
VersionOptionAction.Install(root, "migrate-target");
root.SetAction((parse, cancellationToken) =>
{
    TargetHostOptions options;
    try
    {
        var file = TargetConfigFile.Load(parse.GetValue(config), configurable);
        options = new TargetHostOptions(
            file.Get(parse, listen, "") is { Length: > 0 } address
                ? address
                : throw new TargetConfigException($"no address to listen on: pass --listen HOST:PORT or set listen in {file.Path}"),
            file.Get(parse, workDir, "/var/lib/migrate-target"),
            file.Get(parse, tokenFile, CredentialFile.DefaultPath),
            file.Get(parse, keepImages, false),
            file.Get(parse, restoredCgroups, "source") switch
            {
                "source" => RestoredCgroups.Source,
                "agent" => RestoredCgroups.Agent,
                var other => throw new TargetConfigException($"restored-cgroups is 'source' or 'agent', not '{other}' ({file.Path})"),
            },
            file.Get(parse, certificate, null),
            file.Get(parse, key, null),
            file.Get(parse, clientCa, null),
            file.Get(parse, maxConnections, 32),
            limits.Read(parse, file),
            policy.Read(parse, file));
    }
    catch (TargetConfigException e)
    {
        Console.Error.WriteLine($"migrate-target: {e.Message}");
        return Task.FromResult(ExitCodes.Usage);
    }
    return TargetHost.RunAsync(options, cancellationToken);
});

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
