using System.Globalization;
using Migrate.Lab.Infrastructure;

namespace Migrate.Lab.Commands;

/// <summary>Comma-separated option values (--sizes 64,256).</summary>
internal static class Lists
{
    public static IReadOnlyList<string> Words(string option, string text)
    {
        var words = text.Split(',', StringSplitOptions.TrimEntries);
        return words.Any(word => word.Length == 0) ? throw new UsageException($"{option}: empty item in '{text}'") : words.Distinct().ToList();
    }

    /// <summary>Whole numbers of at least <paramref name="minimum"/>.</summary>
    public static IReadOnlyList<int> Numbers(string option, string text, int minimum) =>
        Words(option, text).Select(word =>
            int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= minimum
                ? n
                : throw new UsageException($"{option}: '{word}' is not a whole number of at least {minimum}")).ToList();
}
