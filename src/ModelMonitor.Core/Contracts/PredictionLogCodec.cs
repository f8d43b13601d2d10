using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// One prediction log as a record of a Kafka message (a line of the message value, see
/// <see cref="PredictionMessages"/>): the API's JSON record plus "v" (schema version) as its first field. Records holding only the contract's fields are forwarded as the client sent them
/// (<see cref="EncodeVerbatim"/>); others are re-written canonically without the extra fields (<see cref="Encode"/>).
/// Non-finite numbers are written as the bare tokens NaN, Infinity and -Infinity, as on the API.
/// Example: {"v":1,"sent_at":"2026-11-22T10:15:00.123Z","prediction_id":"d-1","predictor_name":"eta",
/// "model_id":"eta_v12","prediction_result":17.5,"default_values_used":[],
/// "features":{"distance_km":3.2,"market":"paris","x":NaN}}
/// </summary>
public static class PredictionLogCodec
{
    public const int SchemaVersion = 1;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // no HTML here: keep non-ASCII readable
        SkipValidation = false,
    };

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = IngestionLimits.MaxJsonDepth };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    public static byte[] Encode(PredictionLog log)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v"u8, SchemaVersion);
            writer.WriteString("sent_at"u8, log.SentAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
            writer.WriteString("prediction_id"u8, log.PredictionId);
            writer.WriteString("predictor_name"u8, log.PredictorName);
            writer.WriteString("model_id"u8, log.ModelId);
            // The fields a join reads (PredictionKeys) before the features: it stops reading a record once it has them.
            writer.WritePropertyName("prediction_result"u8);
            WriteNumber(writer, log.PredictionResult);
            writer.WriteStartArray("default_values_used"u8);
            foreach (var name in log.DefaultValuesUsed)
            {
                writer.WriteStringValue(name);
            }
            writer.WriteEndArray();
            writer.WriteStartObject("features"u8);
            foreach (var (name, value) in log.Features)
            {
                writer.WritePropertyName(name);
                switch (value.Kind)
                {
                    case FeatureValueKind.Number:
                        WriteNumber(writer, value.Number);
                        break;
                    case FeatureValueKind.Text:
                        writer.WriteStringValue(value.Text);
                        break;
                    case FeatureValueKind.Logical:
                        writer.WriteBooleanValue(value.IsTrue);
                        break;
                    default:
                        writer.WriteNullValue();
                        break;
                }
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    // The start of every message value: {"v":1,
    private static readonly byte[] VersionPrefix = Encoding.UTF8.GetBytes($"{{\"v\":{SchemaVersion},");

    /// <summary>
    /// The message value of a record forwarded as the client sent it: <paramref name="record"/> is one validated
    /// JSON object (starting with '{', at least one field, only the contract's fields, no "v") and becomes
    /// {"v":1, followed by the rest of the object, byte for byte (the client's field order, escapes, spacing and
    /// bare NaN/Infinity tokens), except that line breaks become spaces: JSON strings cannot hold a raw line
    /// break, so every CR or LF byte is whitespace between tokens, and each message stays one line for
    /// line-oriented tools (kcat | grep). Cheaper than <see cref="Encode"/>: one copy, no number or date formatting.
    /// </summary>
    public static byte[] EncodeVerbatim(ReadOnlySpan<byte> record)
    {
        if (record.IsEmpty || record[0] != (byte)'{' || record[^1] != (byte)'}')
        {
            throw new ArgumentException("A verbatim record must be one JSON object.", nameof(record));
        }
        var value = new byte[VerbatimLength(record)];
        WriteVerbatim(record, value);
        return value;
    }

    /// <summary>The length of <see cref="EncodeVerbatim"/>'s result for <paramref name="record"/>.</summary>
    internal static int VerbatimLength(ReadOnlySpan<byte> record) => VersionPrefix.Length + record.Length - 1;

    /// <summary><see cref="EncodeVerbatim"/> into <paramref name="destination"/> (<see cref="VerbatimLength"/> bytes).</summary>
    internal static void WriteVerbatim(ReadOnlySpan<byte> record, Span<byte> destination)
    {
        if (record.IsEmpty || record[0] != (byte)'{' || record[^1] != (byte)'}')
        {
            throw new ArgumentException("A verbatim record must be one JSON object.", nameof(record));
        }
        VersionPrefix.CopyTo(destination);
        var rest = destination.Slice(VersionPrefix.Length, record.Length - 1);
        record[1..].CopyTo(rest);
        rest.Replace((byte)'\n', (byte)' ');
        rest.Replace((byte)'\r', (byte)' ');
    }

    /// <summary>
    /// The message value the API writes for an accepted record: <paramref name="verbatim"/> (the record as sent,
    /// see <see cref="Ingestion.ParsedBatch.AcceptedJson"/>) after "v", or the canonical encoding of
    /// <paramref name="log"/> when there is none.
    /// </summary>
    public static byte[] ValueOf(PredictionLog log, ReadOnlyMemory<byte> verbatim) =>
        verbatim.IsEmpty ? Encode(log) : EncodeVerbatim(verbatim.Span);

    private static void WriteNumber(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteRawValue(double.IsNaN(value) ? "NaN"u8 : value > 0 ? "Infinity"u8 : "-Infinity"u8, skipInputValidation: true);
        }
    }

    /// <summary>Decodes one record (a line of a message value, see <see cref="PredictionMessages.Decode"/>); never throws on bad input (a poison record gives false and why).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out PredictionLog? log, [NotNullWhen(false)] out string? error)
    {
        log = null;
        if (utf8.Trim(" \t\r\n"u8).IsEmpty)
        {
            error = "empty message";
            return false;
        }
        try
        {
            var json = NonFiniteLiterals.Rewrite(utf8, out var nonFinite);
            var reader = new Utf8JsonReader(json, ReaderOptions);
            reader.Read();
            log = PredictionRecordReader.ReadMessageRecord(ref reader, nonFinite, SchemaVersion, out var fault);
            if (log is null)
            {
                error = $"{fault!.Field}: {fault.Message}";
                return false;
            }
            reader.Read(); // trailing content after the object is malformed
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            log = null;
            error = $"malformed message: {e.Message}";
            return false;
        }
    }
}
