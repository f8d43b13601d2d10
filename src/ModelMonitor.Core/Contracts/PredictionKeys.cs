using System.Buffers;
using System.Text.Json;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>What the evaluation join needs of a prediction log: who predicted what for which prediction_id, and when.</summary>
public readonly record struct PredictionKey(string PredictorName, string PredictionId, string ModelId, DateTimeOffset SentAt, double PredictionResult);

/// <summary>
/// Reads the <see cref="PredictionKey"/> of the records of a predictions message (<see cref="PredictionMessages"/>) for
/// the predictors a caller wants, and nothing else: a record is left as soon as the key's fields are read (the encoder
/// writes them before default_values_used and the features; in another order those are stepped over, not materialized),
/// and a record of an unwanted predictor as soon as its predictor_name is read. The join reads
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
        byte[]? rented = null;
        try
        {
            // Most of a record is its features, which the key does not need: read it with the features object emptied.
            var featuresAt = FeaturesObject(line, out var featuresEnd);
            var removed = featuresEnd - featuresAt - 2; // the object's content, between its braces
            if (featuresAt >= 0 && removed > 0)
            {
                rented = ArrayPool<byte>.Shared.Rent(line.Length - removed);
                line[..(featuresAt + 1)].CopyTo(rented);
                line[(featuresEnd - 1)..].CopyTo(rented.AsSpan(featuresAt + 1));
                line = rented.AsSpan(0, line.Length - removed);
            }
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
                if (version is not null && predictor is not null && predictionId is not null && model is not null && sentAt is not null && result is not null)
                {
                    break; // all the join needs: the encoder writes these before the features, which are then never read
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
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static readonly SearchValues<byte> ObjectStops = SearchValues.Create("\"}{["u8);
    private static readonly SearchValues<byte> StringStops = SearchValues.Create("\"\\"u8);

    /// <summary>
    /// Where the top-level "features" object of a record starts (its '{') and ends (just past its '}'), found by a byte scan
    /// rather than tokenized; −1 when the record has none or it is not a flat object (then the reader steps over it as
    /// any other value). The first <c>"features"</c> followed by a colon is the top-level property: a string value cannot
    /// hold an unescaped quote, a value is never followed by a colon, and the fields before the features are scalars.
    /// </summary>
    internal static int FeaturesObject(ReadOnlySpan<byte> line, out int end)
    {
        end = -1;
        var name = line.IndexOf("\"features\""u8);
        if (name < 0)
        {
            return -1;
        }
        var i = name + 10;
        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t' or (byte)'\r')
        {
            i++;
        }
        if (i >= line.Length || line[i] != (byte)':')
        {
            return -1;
        }
        i++;
        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t' or (byte)'\r')
        {
            i++;
        }
        if (i >= line.Length || line[i] != (byte)'{')
        {
            return -1;
        }
        var start = i++;
        while (i < line.Length)
        {
            var next = line[i..].IndexOfAny(ObjectStops);
            if (next < 0)
            {
                return -1;
            }
            i += next;
            switch (line[i])
            {
                case (byte)'}':
                    end = i + 1;
                    return start;
                case (byte)'"':
                    i++;
                    while (true)
                    {
                        var stop = i < line.Length ? line[i..].IndexOfAny(StringStops) : -1;
                        if (stop < 0)
                        {
                            return -1; // unterminated: the reader reports it
                        }
                        i += stop;
                        if (line[i] == (byte)'\\')
                        {
                            i += 2; // an escaped character, \" included
                            continue;
                        }
                        i++; // past the closing quote
                        break;
                    }
                    continue;
                default:
                    return -1; // a nested object or array: not a valid record, left to the reader
            }
        }
        return -1;
    }
}
