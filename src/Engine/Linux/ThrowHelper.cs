using System.Diagnostics.CodeAnalysis;

namespace Migrate.Engine.Linux;

internal static class ThrowHelper
{
    /// <summary>Binary input is malformed: says which file, where, and what is wrong.</summary>
    [DoesNotReturn]
    public static void InvalidData(string name, long offset, string problem) =>
        throw new InvalidDataException($"{name}: at offset {offset}: {problem}");
}
