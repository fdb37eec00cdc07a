using System.Diagnostics;

namespace Migrate.Engine.Tests.Compat;

/// <summary>Builds a small shared object with gcc, for tests that need real ELF files.</summary>
internal static class SharedObject
{
    public static byte[] Build(TempDirectory directory, string name, string source)
    {
        var c = directory.Combine(name + ".c");
        var so = directory.Combine(name + ".so");
        File.WriteAllText(c, source);
        using var gcc = Process.Start(new ProcessStartInfo("gcc")
        {
            ArgumentList = { "-shared", "-fPIC", "-nostdlib", "-O1", "-o", so, c },
            RedirectStandardError = true,
        })!;
        var errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        Assert.True(gcc.ExitCode == 0, errors);
        return File.ReadAllBytes(so);
    }
}
