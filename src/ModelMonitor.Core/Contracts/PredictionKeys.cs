using System.Text.Json;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>What the evaluation join needs of a prediction log: who predicted what for which prediction_id, and when.</summary>
public readonly record struct PredictionKey(string PredictorName, string PredictionId, string ModelId, DateTimeOffset SentAt, double PredictionResult);

/// <summary>
/// Reads the <see cref="PredictionKey"/> of the records of a predictions message (<see cref="PredictionMessages"/>) for
/// the predictors a caller wants, and nothing else: features and default_values_used are stepped over, not
/// materialized, and a record of an unwanted predictor is left as soon as its predictor_name is read. The join reads
/// every record of the topic but keeps those of evaluated predictors only, so this costs it a fraction of a full
/// decode (<see cref="PredictionLogCodec.TryDecode"/>). The records were validated by the API; a line this cannot read
/// (not an object, a field missing or of the wrong type, another schema version) is reported, never thrown.
/// </summary>
public static class PredictionKeys
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = IngestionLimits.MaxJsonDepth };

    /// <returns>The number of records the message held (read, skipped as unwanted, or malformed).</returns>
    public static int Decode(ReadOnlySpan<byte> value, Func<string, bool> wanted, List<PredictionKey> keys, List<string> errors) =>
        PredictionMessages.DecodeLines(value, errors, (ReadOnlySpan<byte> line, out string? error) =>
        {
            if (!TryRead(line, wanted, out var key, out var why))
            {
                error = why;
                return false;
            }
            if (key is { } found)
            {
                keys.Add(found);
            }
            error = null;
            return true;
        });

    /// <param name="key">The record's key; null when its predictor is not wanted.</param>
    private static bool TryRead(ReadOnlySpan<byte> line, Func<string, bool> wanted, out PredictionKey? key, out string error)
    {
        key = null;
        error = "";
        try
        {
            var json = NonFiniteLiterals.Rewrite(line, out var nonFinite);
            var reader = new Utf8JsonReader(json, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "not a JSON object";
                return false;
            }
            int? version = null;
            DateTimeOffset? sentAt = null;
            string? predictionId = null, predictor = null, model = null;
            double? result = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("predictor_name"u8))
                {
                    reader.Read();
                    predictor = RepeatedStrings.Read(ref reader);
                    if (!wanted(predictor))
                    {
                        return true; // not evaluated: the rest of the record does not matter
                    }
                }
                else if (reader.ValueTextEquals("prediction_id"u8))
                {
                    reader.Read();
                    predictionId = reader.GetString();
                }
                else if (reader.ValueTextEquals("model_id"u8))
                {
                    reader.Read();
                    model = RepeatedStrings.Read(ref reader);
                }
                else if (reader.ValueTextEquals("sent_at"u8))
                {
                    reader.Read();
                    sentAt = reader.GetDateTimeOffset().ToUniversalTime();
                }
                else if (reader.ValueTextEquals("prediction_result"u8))
                {
                    reader.Read();
                    result = reader.TokenType == JsonTokenType.Number && PredictionRecordReader.TryGetNumber(ref reader, nonFinite, out var number)
                        ? number
                        : null;
                }
                else if (reader.ValueTextEquals("v"u8))
                {
                    reader.Read();
                    version = reader.TryGetInt32(out var v) ? v : -1;
                }
                else
                {
                    reader.Read();
                    reader.Skip(); // features, default_values_used, anything else
                }
            }
            if (version != PredictionLogCodec.SchemaVersion)
            {
                error = version is null ? "schema version is missing" : $"schema version {version} is not supported";
                return false;
            }
            if (predictor is null || predictionId is null || model is null || sentAt is null || result is null)
            {
                error = "a field the join needs (predictor_name, prediction_id, model_id, sent_at, prediction_result) is missing or not readable";
                return false;
            }
            key = new PredictionKey(predictor, predictionId, model, sentAt.Value, result.Value);
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            error = $"malformed record: {e.Message}";
            return false;
        }
    }
}
