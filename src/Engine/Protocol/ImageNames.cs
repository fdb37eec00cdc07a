using System.Text.RegularExpressions;

namespace Migrate.Engine.Protocol;

/// <summary>
/// What names the target accepts for image sets and files. CRIU's images sit
/// in one flat directory with names like "pages-1.img", so anything with a
/// path separator, a leading dot or an odd character is refused: the names
/// come from the network and the target writes files as root.
/// </summary>
public static partial class ImageNames
{
    public const int MaxFileNameLength = 128;

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9._-]*$")]
    private static partial Regex FileNamePattern();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex SetNamePattern();

    public static bool IsValidFileName(string name) =>
        name.Length <= MaxFileNameLength && FileNamePattern().IsMatch(name) && !name.Contains("..", StringComparison.Ordinal);

    public static bool IsValidSetName(string name) => SetNamePattern().IsMatch(name);
}
