using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// Outcomes on the Kafka topic modelmonitor.outcomes. A record is one line,
/// <c>{"v":1,"prediction_id":"…","predictor_name":"…","actual":…,"observed_at":"…Z"}</c> (re-written canonically: outcomes
/// are small), and the outcomes of one request that share a partition travel as one message, lines joined by '\n',
/// as predictions do (<see cref="PredictionMessages"/>). The partition is <see cref="PredictionPartitioner"/>'s of the
/// prediction_id, so an outcome lands in the partition number its predictions have in modelmonitor.predictions
/// (co-partitioning: both topics must have the same partition count).
/// </summary>
public static class OutcomeMessages
{
    public const int SchemaVersion = 1;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = IngestionLimits.MaxJsonDepth };

    /// <summary>One outcome as a message line.</summary>
    public static byte[] Encode(Outcome outcome)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v"u8, SchemaVersion);
            writer.WriteString("prediction_id"u8, outcome.PredictionId);
            writer.WriteString("predictor_name"u8, outcome.PredictorName);
            switch (outcome.Actual.Kind)
            {
                case ActualKind.Number:
                    writer.WriteNumber("actual"u8, outcome.Actual.Number);
                    break;
                case ActualKind.Boolean:
                    writer.WriteBoolean("actual"u8, outcome.Actual.Number == 1);
                    break;
                default:
                    writer.WriteString("actual"u8, outcome.Actual.Label);
                    break;
            }
            writer.WriteString("observed_at"u8, outcome.ObservedAt.UtcDateTime);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Groups the outcomes by partition, in their order, into messages of at most <paramref name="maxMessageBytes"/>.</summary>
    public static MessagePlan Plan(IReadOnlyList<Outcome> outcomes, int partitionCount, int maxMessageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        var byPartition = new List<(int Record, byte[] Line)>?[partitionCount];
        var tooLarge = new List<(int Record, int Bytes)>();
        for (var i = 0; i < outcomes.Count; i++)
        {
            var line = Encode(outcomes[i]);
            if (line.Length > maxMessageBytes)
            {
                tooLarge.Add((i, line.Length));
                continue;
            }
            (byPartition[PredictionPartitioner.PartitionOf(outcomes[i].PredictionId, partitionCount)] ??= []).Add((i, line));
        }

        var messages = new List<PlannedMessage>();
        for (var partition = 0; partition < partitionCount; partition++)
        {
            if (byPartition[partition] is not { } lines)
            {
                continue;
            }
            var start = 0;
            while (start < lines.Count)
            {
                var bytes = lines[start].Line.Length;
                var end = start + 1;
                while (end < lines.Count && bytes + 1 + lines[end].Line.Length <= maxMessageBytes)
                {
                    bytes += 1 + lines[end].Line.Length;
                    end++;
                }
                var value = new byte[bytes];
                var at = 0;
                for (var i = start; i < end; i++)
                {
                    if (at > 0)
                    {
                        value[at++] = PredictionMessages.Separator;
                    }
                    lines[i].Line.CopyTo(value, at);
                    at += lines[i].Line.Length;
                }
                messages.Add(new PlannedMessage(partition, value, [.. lines[start..end].Select(l => l.Record)]));
                start = end;
            }
        }
        return new MessagePlan(messages, tooLarge);
    }

    /// <summary>Decodes every outcome of a message value into <paramref name="outcomes"/>; a line that cannot be decoded adds
    /// one entry to <paramref name="errors"/> and the others are still read. Never throws on bad input.</summary>
    /// <returns>The number of records the message held (decoded or not).</returns>
    public static int Decode(ReadOnlySpan<byte> value, List<Outcome> outcomes, List<string> errors) =>
        PredictionMessages.DecodeLines(value, errors, (ReadOnlySpan<byte> line, out string? error) =>
        {
            if (TryDecode(line, out var outcome, out var why))
            {
                outcomes.Add(outcome);
                error = null;
                return true;
            }
            error = why;
            return false;
        });

    private static bool TryDecode(ReadOnlySpan<byte> line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Outcome? outcome, out string error)
    {
        outcome = null;
        error = "";
        if (line.Trim(" \t\r\n"u8).IsEmpty)
        {
            error = "empty message";
            return false;
        }
        try
        {
            var reader = new Utf8JsonReader(line, ReaderOptions);
            reader.Read();
            outcome = OutcomeRecordReader.ReadMessageRecord(ref reader, NonFiniteMap.Empty, SchemaVersion, out var fault);
            if (outcome is null)
            {
                error = $"{fault!.Field}: {fault.Message}";
                return false;
            }
            reader.Read();
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            outcome = null;
            error = $"malformed message: {e.Message}";
            return false;
        }
    }
}
