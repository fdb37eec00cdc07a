using System.Text.Json.Serialization;

namespace Migrate.Engine.Compat;

public enum CheckVerdict
{
    [JsonStringEnumMemberName("pass")]
    Pass,

    [JsonStringEnumMemberName("warn")]
    Warn,

    [JsonStringEnumMemberName("fail")]
    Fail,
}

/// <summary>One check: what it looked at, its verdict, and what the operator can do about a warning or a failure.</summary>
public sealed record CheckResult(
    string Name,
    [property: JsonPropertyName("result")] CheckVerdict Verdict,
    string Detail,
    string? Remedy = null)
{
    [JsonIgnore]
    public bool Failed => Verdict == CheckVerdict.Fail;
}
