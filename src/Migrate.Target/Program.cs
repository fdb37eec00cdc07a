using System.CommandLine;
using Migrate.Common;
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
    Description = "Token a source must present; created with a random token (mode 0600) if missing (default /etc/migrate/token)",
};
var keepImages = new Option<bool>("--keep-images")
{
    Description = "Keep each session's images after it ends",
};
var limits = new StorageLimitOptions();
var policy = new RestorePolicyOptions();
Option[] configurable = [listen, workDir, tokenFile, keepImages, .. limits.All, .. policy.All];

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
            file.Get(parse, tokenFile, "/etc/migrate/token"),
            file.Get(parse, keepImages, false),
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
