using System.Diagnostics.CodeAnalysis;

namespace Migrate.Engine.Images;

internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void InvalidImage(string name, long offset, string problem) =>
        throw new InvalidDataException($"{name}: at offset {offset}: {problem}");
}
