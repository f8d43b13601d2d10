using System.Buffers;
using System.Globalization;
using System.Text.Json;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>
/// Writes prediction logs in the API's wire format with <see cref="Utf8JsonWriter"/>. Non-finite numbers
/// are written as the bare tokens NaN, Infinity and -Infinity (as Python's json.dumps writes them), which
/// the API accepts; strict JSON has no way to say them.
/// </summary>
public static class PredictionPayloadWriter
{
    private static readonly JsonWriterOptions Options = new() { SkipValidation = true };

    public static string ContentType(PayloadFormat format) =>
        format == PayloadFormat.Ndjson ? "application/x-ndjson" : "application/json";

    public static void Write(IReadOnlyList<PredictionLog> records, PayloadFormat format, IBufferWriter<byte> output) =>
        WriteFramed(records, format, output, WriteRecord);

    /// <summary>Records as a JSON array, or one per line (NDJSON), each written by <paramref name="writeRecord"/>.</summary>
    internal static void WriteFramed<T>(IReadOnlyList<T> records, PayloadFormat format, IBufferWriter<byte> output, Action<Utf8JsonWriter, T> writeRecord)
    {
        using var writer = new Utf8JsonWriter(output, Options);
        if (format == PayloadFormat.Json)
        {
            writer.WriteStartArray();
            foreach (var record in records)
            {
                writeRecord(writer, record);
            }

            writer.WriteEndArray();
            writer.Flush();
            return;
        }

        foreach (var record in records)
        {
            writeRecord(writer, record);
            writer.Flush();
            output.Write("\n"u8);
            writer.Reset(output);
        }
    }

    public static byte[] ToBytes(IReadOnlyList<PredictionLog> records, PayloadFormat format)
    {
        var buffer = new ArrayBufferWriter<byte>(records.Count * 700);
        Write(records, format, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>sent_at as RFC 3339 in UTC with milliseconds, e.g. 2026-11-22T03:04:05.123Z.</summary>
    public static string FormatSentAt(DateTimeOffset sentAt) =>
        sentAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static void WriteRecord(Utf8JsonWriter writer, PredictionLog record)
    {
        writer.WriteStartObject();
        Span<char> sentAt = stackalloc char[24];
        record.SentAt.UtcDateTime.TryFormat(sentAt, out var length, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        writer.WriteString("sent_at"u8, sentAt[..length]);
        writer.WriteString("prediction_id"u8, record.PredictionId);
        writer.WriteString("predictor_name"u8, record.PredictorName);
        writer.WriteString("model_id"u8, record.ModelId);
        writer.WriteStartObject("features"u8);
        foreach (var (name, value) in record.Features)
        {
            writer.WritePropertyName(name);
            WriteFeatureValue(writer, value);
        }

        writer.WriteEndObject();
        writer.WritePropertyName("prediction_result"u8);
        WriteNumber(writer, record.PredictionResult);
        writer.WriteStartArray("default_values_used"u8);
        foreach (var name in record.DefaultValuesUsed)
        {
            writer.WriteStringValue(name);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteFeatureValue(Utf8JsonWriter writer, FeatureValue value)
    {
        if (value.IsNull)
        {
            writer.WriteNullValue();
        }
        else if (value.Kind == FeatureValueKind.Number)
        {
            WriteNumber(writer, value.Number);
        }
        else if (value.Text is { } text)
        {
            writer.WriteStringValue(text);
        }
        else
        {
            // The remaining kind is a boolean, stored as 1 or 0.
            writer.WriteBooleanValue(value.Number != 0);
        }
    }

    private static void WriteNumber(Utf8JsonWriter writer, double number)
    {
        if (double.IsFinite(number))
        {
            writer.WriteNumberValue(number);
        }
        else if (double.IsNaN(number))
        {
            writer.WriteRawValue("NaN"u8, skipInputValidation: true);
        }
        else
        {
            writer.WriteRawValue(number > 0 ? "Infinity"u8 : "-Infinity"u8, skipInputValidation: true);
        }
    }
}
