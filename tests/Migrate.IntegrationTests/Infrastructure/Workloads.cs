using System.Diagnostics;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>The C workloads of tests/workloads, compiled once per test run.</summary>
public sealed class Workloads : IDisposable
{
    private readonly TempDirectory _directory = new("workloads");
    private readonly Dictionary<string, string> _binaries = [];

    public string Binary(string name)
    {
        lock (_binaries)
        {
            if (!_binaries.TryGetValue(name, out var binary))
            {
                binary = _directory.Combine(name);
                var gcc = Process.Start(new ProcessStartInfo("gcc")
                {
                    ArgumentList = { "-O2", "-Wall", "-Werror", "-o", binary, Path.Combine(Repository.Workloads, name + ".c") },
                    RedirectStandardError = true,
                })!;
                var errors = gcc.StandardError.ReadToEnd();
                gcc.WaitForExit();
                Assert.True(gcc.ExitCode == 0, $"gcc {name}.c failed:\n{errors}");
                _binaries[name] = binary;
            }
            return binary;
        }
    }

    public void Dispose() => _directory.Dispose();
}

[CollectionDefinition(Name)]
public sealed class CriuCollection : ICollectionFixture<Workloads>
{
    /// <summary>Tests that run CRIU share this collection and run one at a time: the machine has two cores.</summary>
    public const string Name = "criu";
}
