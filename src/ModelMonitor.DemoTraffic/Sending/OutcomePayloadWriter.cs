using System.Buffers;
using System.Globalization;
using System.Text.Json;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>
/// Writes actual outcomes in the API's wire format:
/// <c>{"prediction_id":"…","predictor_name":"…","actual":23.5 | true | "label","observed_at":"2026-11-22T03:04:05.123Z"}</c>.
/// </summary>
public static class OutcomePayloadWriter
{
    public static void Write(IReadOnlyList<Outcome> outcomes, PayloadFormat format, IBufferWriter<byte> output) =>
        PredictionPayloadWriter.WriteFramed(outcomes, format, output, WriteOutcome);

    public static byte[] ToBytes(IReadOnlyList<Outcome> outcomes, PayloadFormat format)
    {
        var buffer = new ArrayBufferWriter<byte>(outcomes.Count * 160);
        Write(outcomes, format, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteOutcome(Utf8JsonWriter writer, Outcome outcome)
    {
        writer.WriteStartObject();
        writer.WriteString("prediction_id"u8, outcome.PredictionId);
        writer.WriteString("predictor_name"u8, outcome.PredictorName);
        writer.WritePropertyName("actual"u8);
        switch (outcome.Actual.Kind)
        {
            case ActualKind.Boolean:
                writer.WriteBooleanValue(outcome.Actual.Number != 0);
                break;
            case ActualKind.Label:
                writer.WriteStringValue(outcome.Actual.Label);
                break;
            default:
                writer.WriteNumberValue(outcome.Actual.Number);
                break;
        }

        Span<char> observedAt = stackalloc char[24];
        outcome.ObservedAt.UtcDateTime.TryFormat(observedAt, out var length, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        writer.WriteString("observed_at"u8, observedAt[..length]);
        writer.WriteEndObject();
    }
}
