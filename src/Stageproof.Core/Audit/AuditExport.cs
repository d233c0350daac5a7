using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stageproof.Core.Audit;

/// <summary>
/// The audit log as JSON lines: one camelCase object per event, in chain order, every field present (nulls too)
/// and times in the hashed form, so an export can be verified again with <see cref="AuditChain.Verify"/>.
/// </summary>
public static class AuditExport
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
        Converters = { new ChainTimeConverter() },
    };

    public static async Task WriteJsonLinesAsync(IEnumerable<AuditEvent> events, TextWriter writer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var e in events)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await writer.WriteAsync(JsonSerializer.Serialize(e, Options).AsMemory(), cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync("\n".AsMemory(), cancellationToken).ConfigureAwait(false);
        }
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads an export back; blank lines are skipped, a malformed line is an <see cref="InputException"/> naming it.</summary>
    public static async Task<IReadOnlyList<AuditEvent>> ReadJsonLinesAsync(TextReader reader, string sourceName = "audit export", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var events = new List<AuditEvent>();
        var lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                events.Add(JsonSerializer.Deserialize<AuditEvent>(line, Options)
                    ?? throw new JsonException("null instead of an event"));
            }
            catch (Exception ex) when (ex is JsonException or FormatException)
            {
                throw new InputException([new InputProblem(sourceName, lineNumber, 1, "event", ex.Message)]);
            }
        }
        return events;
    }

    private sealed class ChainTimeConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTimeOffset();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(AuditChain.FormatTime(value));
    }
}
