using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Migrate.Engine.Migration;

/// <summary>Writes the reports as JSON that people read as well as scripts.</summary>
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
}
