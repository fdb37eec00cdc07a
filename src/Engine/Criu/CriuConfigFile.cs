using System.Text;

namespace Migrate.Engine.Criu;

/// <summary>
/// A CRIU configuration file (Documentation/configuration-files.txt): one
/// long option per line. The RPC has no field for some options, such as
/// allow-uprobes or work-dir, so the engine passes them this way.
/// </summary>
public sealed class CriuConfigFile
{
    private readonly List<string> _lines = [];

    public CriuConfigFile Add(string option, string? value = null)
    {
        if (option.Any(char.IsWhiteSpace) || option.StartsWith('-'))
        {
            throw new ArgumentException($"not a CRIU long option name: '{option}'", nameof(option));
        }
        if (value is not null && (value.Contains('\n') || value.Contains('"')))
        {
            throw new ArgumentException($"CRIU option value cannot hold a newline or quote: '{value}'", nameof(value));
        }
        _lines.Add(value is null ? option : $"{option} \"{value}\"");
        return this;
    }

    public string Render() => string.Join('\n', _lines) + "\n";

    // CRIU reads the file as plain bytes: a byte-order mark would spoil the first option.
    public void WriteTo(string path) => File.WriteAllText(path, Render(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
}
