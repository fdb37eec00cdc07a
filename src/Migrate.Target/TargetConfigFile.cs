using System.CommandLine;

namespace Migrate.Target;

/// <summary>The configuration file or a value in it cannot be used (exit 2).</summary>
internal sealed class TargetConfigException(string message) : Exception(message);

/// <summary>
/// The agent's configuration file: one "name = value" a line, the names of the
/// long options without their dashes ("listen = 0.0.0.0:7070"), "#" or ";"
/// starting a comment (Microsoft.Extensions.Configuration.Ini reads it). The
/// packaged service starts the agent without flags, so this file is what an
/// operator edits; an agent started by hand reads it too, and every flag
/// given overrides its line.
/// </summary>
internal sealed class TargetConfigFile
{
    public const string DefaultPath = "/etc/migrate/migrate-target.conf";

    private readonly IConfiguration _values;
    private readonly string? _path;

    private TargetConfigFile(IConfiguration values, string? path)
    {
        _values = values;
        _path = path;
    }

    /// <summary>Where a missing required value may be set, for error messages.</summary>
    public string Path => _path ?? DefaultPath;

    /// <param name="path">The file --config named (it must exist), or null for <see cref="DefaultPath"/> if it exists.</param>
    /// <param name="options">The options the file may set.</param>
    public static TargetConfigFile Load(string? path, IEnumerable<Option> options)
    {
        var file = path ?? DefaultPath;
        if (!File.Exists(file))
        {
            return path is null
                ? new TargetConfigFile(new ConfigurationBuilder().Build(), null)
                : throw new TargetConfigException($"--config: {path} does not exist");
        }
        IConfiguration values;
        try
        {
            values = new ConfigurationBuilder().AddIniFile(System.IO.Path.GetFullPath(file), optional: false, reloadOnChange: false).Build();
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new TargetConfigException($"cannot read {file}: {e.Message}");
        }
        var known = options.Select(Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var unknown = values.AsEnumerable().Where(pair => pair.Value is not null).Select(pair => pair.Key).Where(key => !known.Contains(key)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new TargetConfigException(
                $"{file}: unknown setting{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)}; the file may set {string.Join(", ", known.Order(StringComparer.Ordinal))}");
        }
        return new TargetConfigFile(values, file);
    }

    /// <summary>The option's value: from the command line if given there, else from this file, else <paramref name="fallback"/>.</summary>
    public T Get<T>(ParseResult parse, Option<T> option, T fallback)
    {
        if (parse.GetResult(option) is { Implicit: false })
        {
            return parse.GetValue(option)!;
        }
        var key = Key(option);
        if (_values[key] is null)
        {
            return fallback;
        }
        try
        {
            return _values.GetValue<T>(key)!;
        }
        catch (InvalidOperationException)
        {
            throw new TargetConfigException($"{Path}: {key} = {_values[key]} is not a {Describe(typeof(T))}");
        }
    }

    private static string Key(Option option) => option.Name.TrimStart('-');

    private static string Describe(Type type) =>
        type == typeof(bool) ? "boolean (true or false)" : type == typeof(int) ? "whole number" : type.Name;
}
