using System.Text.Json;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// Reads and validates one outcome object, from a request body (the API) or from a Kafka message (the aggregator):
/// <c>{"prediction_id": "…", "predictor_name": "…", "actual": 23.0 | "fraud" | true, "observed_at": "RFC 3339"}</c>.
/// prediction_id and predictor_name follow the prediction log's rules; actual is a finite number, a non-empty string of
/// at most <see cref="IngestionLimits.MaxStringValueLength"/> characters without control characters, or a boolean;
/// observed_at is an RFC 3339 timestamp with an offset. Unknown fields are ignored (and not forwarded).
/// </summary>
public static class OutcomeRecordReader
{
    /// <summary>Reads the outcome at the reader's current token (a request body).</summary>
    /// <param name="now">Wall-clock time: observed_at must lie within [now − <paramref name="labelHorizon"/>,
    /// now + <see cref="IngestionLimits.MaxFutureSkew"/>].</param>
    public static Outcome? ReadRequestRecord(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        TimeSpan labelHorizon, DateTimeOffset now, out RecordFault? fault) =>
        Read(ref reader, nonFinite, limits, labelHorizon, now, requireSchemaVersion: null, out fault);

    /// <summary>Reads the outcome of a Kafka message line: accepted by the API already (no time window, the ceiling
    /// limits); its "v" must equal <paramref name="schemaVersion"/>.</summary>
    public static Outcome? ReadMessageRecord(ref Utf8JsonReader reader, NonFiniteMap nonFinite, int schemaVersion, out RecordFault? fault) =>
        Read(ref reader, nonFinite, IngestionLimits.Ceiling, TimeSpan.MaxValue, now: null, schemaVersion, out fault);

    private static Outcome? Read(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits, TimeSpan labelHorizon,
        DateTimeOffset? now, int? requireSchemaVersion, out RecordFault? fault)
    {
        fault = null;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            fault = new("", "an outcome must be a JSON object", RejectReason.WrongType);
            reader.Skip();
            return null;
        }

        string? predictionId = null, predictorName = null;
        ActualValue? actual = null;
        DateTimeOffset? observedAt = null;
        int? version = null;
        var seen = Fields.None;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var field = Identify(ref reader);
            reader.Read();
            if (fault is not null || field == Fields.None || (field == Fields.Version && requireSchemaVersion is null))
            {
                reader.Skip();
                continue;
            }
            if ((seen & field) != 0)
            {
                fault = new(NameOf(field), "appears more than once", RejectReason.DuplicateField);
                reader.Skip();
                continue;
            }
            seen |= field;
            switch (field)
            {
                case Fields.PredictionId:
                    predictionId = PredictionRecordReader.ReadName(ref reader, "prediction_id", limits.MaxPredictionIdLength, allowControl: true,
                        shared: false, ref fault);
                    break;
                case Fields.PredictorName:
                    predictorName = PredictionRecordReader.ReadName(ref reader, "predictor_name", limits.MaxNameLength, allowControl: false,
                        shared: true, ref fault);
                    break;
                case Fields.Actual:
                    actual = ReadActual(ref reader, nonFinite, limits, ref fault);
                    break;
                case Fields.ObservedAt:
                    observedAt = PredictionRecordReader.ReadTimestamp(ref reader, "observed_at", limits.MaxFutureSkew, labelHorizon,
                        "the label horizon", now, ref fault);
                    break;
                case Fields.Version:
                    version = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v) ? v : -1;
                    break;
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip(); // a value of the wrong type: step over all of it
            }
        }

        if (fault is not null)
        {
            return null;
        }
        if (requireSchemaVersion is { } required && version != required)
        {
            fault = new("v", version is null ? "schema version is missing" : $"schema version {version} is not supported (expected {required})",
                RejectReason.UnsupportedSchemaVersion);
            return null;
        }
        var missing = string.Join(", ", AllFields.Where(f => (seen & f) == 0).Select(NameOf));
        if (missing.Length > 0)
        {
            fault = new(missing, missing.Contains(',', StringComparison.Ordinal) ? "are required" : "is required", RejectReason.MissingField);
            return null;
        }
        return new Outcome(predictorName!, predictionId!, actual!.Value, observedAt!.Value);
    }

    private static ActualValue? ReadActual(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits, ref RecordFault? fault)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.True:
                return ActualValue.Of(true);
            case JsonTokenType.False:
                return ActualValue.Of(false);
            case JsonTokenType.Number:
                if (PredictionRecordReader.TryGetNumber(ref reader, nonFinite, out var number) && double.IsFinite(number))
                {
                    return ActualValue.Of(number);
                }
                fault = new("actual", "must be a finite number (NaN, Infinity and numbers beyond the 64-bit range cannot be evaluated)",
                    RejectReason.NumberOutOfRange);
                return null;
            case JsonTokenType.String:
                var label = PredictionRecordReader.ReadName(ref reader, "actual", limits.MaxStringValueLength, allowControl: false, shared: true, ref fault);
                return label is null ? null : ActualValue.Of(label);
            default:
                fault = new("actual", $"must be a number, a string or a boolean, got {PredictionRecordReader.Describe(reader.TokenType)}",
                    RejectReason.WrongType);
                return null;
        }
    }

    [Flags]
    private enum Fields
    {
        None = 0,
        PredictionId = 1,
        PredictorName = 2,
        Actual = 4,
        ObservedAt = 8,
        Version = 16,
    }

    private static readonly Fields[] AllFields = [Fields.PredictionId, Fields.PredictorName, Fields.Actual, Fields.ObservedAt];

    private static Fields Identify(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("prediction_id"u8)) return Fields.PredictionId;
        if (reader.ValueTextEquals("predictor_name"u8)) return Fields.PredictorName;
        if (reader.ValueTextEquals("actual"u8)) return Fields.Actual;
        if (reader.ValueTextEquals("observed_at"u8)) return Fields.ObservedAt;
        if (reader.ValueTextEquals("v"u8)) return Fields.Version;
        return Fields.None;
    }

    private static string NameOf(Fields field) => field switch
    {
        Fields.PredictionId => "prediction_id",
        Fields.PredictorName => "predictor_name",
        Fields.Actual => "actual",
        Fields.ObservedAt => "observed_at",
        _ => "v",
    };
}
