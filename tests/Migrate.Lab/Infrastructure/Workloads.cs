namespace Migrate.Lab.Infrastructure;

/// <summary>Compiles the C workloads of tests/workloads as their README says.</summary>
internal static class Workloads
{
    public static async Task<string> BuildAsync(string name, string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var binary = Path.Combine(directory, name);
        var gcc = await ChildProcess.RunAsync(
            "gcc", ["-O2", "-Wall", "-Werror", "-o", binary, Repository.Workload(name)], TimeSpan.FromMinutes(2), cancellationToken);
        return gcc.Succeeded ? binary : throw new LabException($"gcc {name}.c failed:\n{gcc.Stderr}");
    }
}
