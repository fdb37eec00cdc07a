using System.CommandLine;
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
    Description = "Token a source must present; created with a random token (mode 0600) if missing",
    DefaultValueFactory = _ => "/etc/migrate/token",
};
var keepImages = new Option<bool>("--keep-images")
{
    Description = "Keep each session's images after it ends",
};
var limits = new StorageLimitOptions();
var policy = new RestorePolicyOptions();

var root = new RootCommand("migrate-target: receives migrating processes and restores them with CRIU")
{
    listen, workDir, tokenFile, keepImages,
};
foreach (var option in limits.All.Concat(policy.All))
{
    root.Add(option);
}
root.SetAction((parse, cancellationToken) => TargetHost.RunAsync(
    new TargetHostOptions(
        parse.GetValue(listen)!,
        parse.GetValue(workDir)!,
        parse.GetValue(tokenFile)!,
        parse.GetValue(keepImages),
        limits.Read(parse),
        policy.Read(parse)),
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
