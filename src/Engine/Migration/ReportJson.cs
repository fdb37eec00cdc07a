using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Migrate.Engine.Migration;

/// <summary>Writes the reports as JSON that people read as well as scripts, and reads them back strictly.</summary>
internal static class ReportJson
{
    // The default encoder escapes ' and every non-ASCII character (\u0027), for
    // JSON embedded in HTML. A report is a file or a pipe, never a web page.
    private static readonly JsonWriterOptions Readable = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Readable))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Options that read what <see cref="Write"/> wrote and refuse anything
    /// less: the writer leaves out no member (a step not reached is written as
    /// null), so a member missing on reading, or null where the type has no
    /// null, means the JSON is not such a report. Members the reader does not
    /// know are skipped: a newer writer may add some.
    /// </summary>
    public static JsonSerializerOptions StrictReader(JsonSerializerContext context) =>
        new(context.Options)
        {
            TypeInfoResolver = context.WithAddedModifier(RequireEveryMember),
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
        };

    public static T Read<T>(string json, JsonSerializerOptions strictReader) =>
        JsonSerializer.Deserialize(json, (JsonTypeInfo<T>)strictReader.GetTypeInfo(typeof(T)))
        ?? throw new JsonException("the report is null");

    private static void RequireEveryMember(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }
        foreach (var property in typeInfo.Properties)
        {
            // Members computed from others (RoundStats.CompressionRatio) are written but never read.
            if (property.Set is not null || property.AssociatedParameter is not null)
            {
                property.IsRequired = true;
            }
        }
    }
}
