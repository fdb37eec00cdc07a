using System.Globalization;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// A workload's status file: one line of key=value tokens that the workload
/// rewrites in place, and that follows it wherever it is restored.
/// </summary>
internal static class StatusFile
{
    /// <summary>The tokens, or null before the workload first wrote the file.</summary>
    public static IReadOnlyDictionary<string, string>? Read(string path)
    {
        try
        {
            var tokens = File.ReadAllText(path)
                .Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                .Select(token => token.Split('=', 2))
                .Where(pair => pair.Length == 2)
                .ToDictionary(pair => pair[0], pair => pair[1]);
            return tokens.Count > 0 ? tokens : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public static ulong Number(string path, string key) =>
        Read(path) is { } status && status.TryGetValue(key, out var value) ? ulong.Parse(value, CultureInfo.InvariantCulture) : 0;

    public static Task WaitBeyondAsync(string path, string key, ulong value, string what, TimeSpan? timeout = null) =>
        Eventually.WaitAsync(() => Number(path, key) > value, what, timeout);

    public static string Describe(string path) =>
        Read(path) is { } status ? string.Join(' ', status.Select(kv => $"{kv.Key}={kv.Value}")) : "(no status)";
}
