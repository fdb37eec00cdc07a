using System.Globalization;

namespace Migrate.Engine.Credentials;

/// <summary>
/// The layout the agents' credential files share: <c># comments</c>, then a
/// header line naming the kind of file and its format version, then one
/// <c>NAME VALUE</c> field per line. Messages name lines by number and never
/// echo a value: values are secrets.
/// </summary>
internal static class FieldFile
{
    public const int Version = 1;

    public static string Format(string kind, IEnumerable<string> comments, IEnumerable<(string Name, string Value)> fields) =>
        string.Concat(comments.Select(line => $"# {line}\n")) + $"{kind} {Version}\n" + string.Concat(fields.Select(field => $"{field.Name} {field.Value}\n"));

    /// <summary>The fields by name; a name outside <paramref name="known"/> is refused.</summary>
    /// <param name="describe">Names the file in messages: "the token file /etc/migrate/token".</param>
    /// <param name="legacy">What to say of a file that holds one bare word (the format before this one), or null if there was none.</param>
    public static ILookup<string, string> Parse(string text, string kind, string describe, string? legacy, params string[] known)
    {
        var lines = text.Split('\n')
            .Select((line, index) => (Text: line.Trim(), Number: index + 1))
            .Where(line => line.Text.Length > 0 && !line.Text.StartsWith('#'))
            .ToList();
        if (lines.Count == 0)
        {
            throw new CredentialException($"{describe} is empty");
        }
        if (legacy is not null && lines is [var word] && !word.Text.Contains(' ', StringComparison.Ordinal))
        {
            throw new CredentialException($"{describe} {legacy}");
        }
        var header = lines[0].Text.Split(' ', 2, StringSplitOptions.TrimEntries);
        if (header[0] != kind)
        {
            throw new CredentialException($"{describe} is not a {kind} file: its first line is not '{kind} {Version}'");
        }
        if (header.Length != 2 || header[1] != Version.ToString(CultureInfo.InvariantCulture))
        {
            throw new CredentialException($"{describe} is in another format than {Version}, the one this migrate reads: install the same migrate version on both hosts");
        }
        var fields = new List<(string Name, string Value)>();
        foreach (var (line, number) in lines.Skip(1))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !known.Contains(parts[0], StringComparer.Ordinal))
            {
                throw new CredentialException($"{describe}: line {number} is not one of: {string.Join(", ", known.Select(name => name + " VALUE"))}");
            }
            fields.Add((parts[0], parts[1]));
        }
        return fields.ToLookup(field => field.Name, field => field.Value, StringComparer.Ordinal);
    }
}
