using System.Globalization;

namespace Migrate.Lab.Infrastructure;

/// <summary>
/// A workload's status file (tests/workloads/README.md): one line of
/// key=value tokens that the workload rewrites in place with one pwrite, and
/// that follows it wherever it is restored.
/// </summary>
internal sealed class StatusFile(string path)
{
    public string Path { get; } = path;

    /// <summary>The tokens, or null before the workload first wrote the file.</summary>
    public IReadOnlyDictionary<string, string>? Read()
    {
        try
        {
            var tokens = File.ReadAllText(Path)
                .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
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

    /// <summary>KEY's number, or null while the file does not say it.</summary>
    public long? Number(string key) =>
        Read() is { } status && status.TryGetValue(key, out var value) ? long.Parse(value, CultureInfo.InvariantCulture) : null;

    /// <summary>KEY's number, which the workload always writes once the file exists.</summary>
    /// <exception cref="LabException">The file or the key is missing.</exception>
    public long Require(string key) => Number(key) ?? throw new LabException($"{Path} has no {key}= ({Describe()})");

    public string? Text(string key) => Read() is { } status && status.TryGetValue(key, out var value) ? value : null;

    /// <summary>At least <paramref name="passes"/> verification passes are complete.</summary>
    public bool HasPasses(long passes) => Number("passes") >= passes;

    /// <summary>"ok", or "BAD-page-N" naming the first page found bad.</summary>
    public string Verdict() => Text("verify") is "ok" ? "ok" : $"BAD-page-{Text("page") ?? "?"}";

    public string Describe() => Read() is { } status ? string.Join(' ', status.Select(kv => $"{kv.Key}={kv.Value}")) : "(no status)";
}
