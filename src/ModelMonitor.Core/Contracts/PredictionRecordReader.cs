using System.Buffers;
using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Contracts;

/// <summary>
/// Reads and validates one prediction-log object from a <see cref="Utf8JsonReader"/> over a complete buffer.
/// Structural JSON errors throw <see cref="JsonException"/> (the whole body is malformed); a record that is
/// well-formed JSON but breaks the contract yields its first <see cref="RecordFault"/> and the reader is left
/// at the record's closing brace, so the next record can be read.
/// </summary>
public static class PredictionRecordReader
{
    /// <summary>Reads the record of a request body at the reader's current StartObject token (the API).</summary>
    /// <param name="now">Wall-clock time: sent_at must lie within [now - AllowedLateness, now + MaxFutureSkew].</param>
    /// <param name="onlyContractFields">True when the object holds only the contract's fields: its JSON can then be
    /// forwarded as it came.</param>
    /// <param name="omitFeaturesIfForwardableUpTo">When set, a record with <paramref name="onlyContractFields"/> that is at
    /// most this many bytes as sent is validated in full but returned with no features: its caller forwards the JSON
    /// and does not need them, and copying them out is a large part of the API's allocation. Other records keep theirs.</param>
    public static PredictionLog? ReadRequestRecord(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        DateTimeOffset now, out RecordFault? fault, out bool onlyContractFields, int? omitFeaturesIfForwardableUpTo = null) =>
        Read(ref reader, nonFinite, limits, now, requireSchemaVersion: null, out fault, out onlyContractFields, omitFeaturesIfForwardableUpTo);

    /// <summary>
    /// Reads the record of a Kafka message (the aggregator): accepted by the API already, so no time window, and the
    /// <see cref="IngestionLimits.Ceiling"/> limits; its "v" field must be present and equal to <paramref name="schemaVersion"/>.
    /// </summary>
    public static PredictionLog? ReadMessageRecord(ref Utf8JsonReader reader, NonFiniteMap nonFinite, int schemaVersion, out RecordFault? fault) =>
        Read(ref reader, nonFinite, IngestionLimits.Ceiling, now: null, schemaVersion, out fault, out _, omitFeaturesIfForwardableUpTo: null);

    private static PredictionLog? Read(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        DateTimeOffset? now, int? requireSchemaVersion, out RecordFault? fault, out bool onlyContractFields,
        int? omitFeaturesIfForwardableUpTo)
    {
        fault = null;
        onlyContractFields = true;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            fault = new("", "a prediction log must be a JSON object", RejectReason.WrongType);
            reader.Skip();
            return null;
        }
        var start = reader.TokenStartIndex;
        var features = t_features ??= new List<KeyValuePair<string, FeatureValue>>(64);
        features.Clear();
        try
        {
            return ReadFields(ref reader, nonFinite, limits, now, requireSchemaVersion, features, start, omitFeaturesIfForwardableUpTo,
                ref fault, ref onlyContractFields);
        }
        finally
        {
            features.Clear(); // drop the references
        }
    }

    /// <param name="features">Scratch list the features are read into.</param>
    /// <param name="start">Where the object starts in the reader's buffer.</param>
    private static PredictionLog? ReadFields(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        DateTimeOffset? now, int? requireSchemaVersion, List<KeyValuePair<string, FeatureValue>> features, long start,
        int? omitFeaturesIfForwardableUpTo, ref RecordFault? fault, ref bool onlyContractFields)
    {
        DateTimeOffset? sentAt = null;
        string? predictionId = null, predictorName = null, modelId = null;
        double? predictionResult = null;
        List<string>? defaults = null;
        int? version = null;
        var seen = SeenFields.None;

        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var field = IdentifyField(ref reader);
            reader.Read();
            if (field == SeenFields.None || (field == SeenFields.Version && requireSchemaVersion is null))
            {
                onlyContractFields = false;
            }
            if (fault is not null || field == SeenFields.None)
            {
                reader.Skip(); // after the first fault, or an unknown field: ignore the value
                continue;
            }
            if ((seen & field) != 0)
            {
                fault = new(FieldName(field), "appears more than once", RejectReason.DuplicateField);
                reader.Skip();
                continue;
            }
            seen |= field;
            switch (field)
            {
                case SeenFields.SentAt:
                    sentAt = ReadTimestamp(ref reader, limits, now, ref fault);
                    break;
                case SeenFields.PredictionId:
                    predictionId = ReadName(ref reader, "prediction_id", limits.MaxPredictionIdLength, allowControl: true, shared: false, ref fault);
                    break;
                case SeenFields.PredictorName:
                    predictorName = ReadName(ref reader, "predictor_name", limits.MaxNameLength, allowControl: false, shared: true, ref fault);
                    break;
                case SeenFields.ModelId:
                    modelId = ReadName(ref reader, "model_id", limits.MaxNameLength, allowControl: false, shared: true, ref fault);
                    break;
                case SeenFields.Features:
                    ReadFeatures(ref reader, nonFinite, limits, features, ref fault);
                    break;
                case SeenFields.PredictionResult:
                    predictionResult = ReadNumber(ref reader, nonFinite, "prediction_result", ref fault);
                    break;
                case SeenFields.DefaultValuesUsed:
                    defaults = ReadDefaults(ref reader, limits, ref fault);
                    break;
                case SeenFields.Version:
                    version = ReadVersion(ref reader, ref fault);
                    break;
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                // A field of the wrong type (an array where a string belongs): step over the whole value, so the
                // next token read is the next field's name.
                reader.Skip();
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
        if (MissingFields(seen) is { } missing)
        {
            fault = new(missing, missing.Contains(',', StringComparison.Ordinal) ? "are required" : "is required", RejectReason.MissingField);
            return null;
        }

        var omit = omitFeaturesIfForwardableUpTo is { } limit && onlyContractFields && reader.BytesConsumed - start <= limit;
        return new PredictionLog(sentAt!.Value, predictionId!, predictorName!, modelId!,
            omit || features.Count == 0 ? [] : features.ToArray(), predictionResult!.Value, defaults ?? (IReadOnlyList<string>)[]);
    }

    private static readonly (SeenFields Flag, string Name)[] RequiredFields =
    [
        (SeenFields.SentAt, "sent_at"), (SeenFields.PredictionId, "prediction_id"),
        (SeenFields.PredictorName, "predictor_name"), (SeenFields.ModelId, "model_id"),
        (SeenFields.Features, "features"), (SeenFields.PredictionResult, "prediction_result"),
    ];

    /// <summary>Every required field not seen, joined with ", " (all of them, so one round trip fixes the record), or null.</summary>
    private static string? MissingFields(SeenFields seen)
    {
        string? missing = null;
        foreach (var (flag, name) in RequiredFields)
        {
            if ((seen & flag) == 0)
            {
                missing = missing is null ? name : missing + ", " + name;
            }
        }
        return missing;
    }

    [Flags]
    private enum SeenFields
    {
        None = 0,
        SentAt = 1,
        PredictionId = 2,
        PredictorName = 4,
        ModelId = 8,
        Features = 16,
        PredictionResult = 32,
        DefaultValuesUsed = 64,
        Version = 128,
    }

    private static SeenFields IdentifyField(ref Utf8JsonReader reader)
    {
        if (StorableText.Problem(ref reader) is not null)
        {
            return SeenFields.None; // not a contract name (and comparing it would throw on a lone surrogate)
        }
        if (reader.ValueTextEquals("sent_at"u8)) return SeenFields.SentAt;
        if (reader.ValueTextEquals("prediction_id"u8)) return SeenFields.PredictionId;
        if (reader.ValueTextEquals("predictor_name"u8)) return SeenFields.PredictorName;
        if (reader.ValueTextEquals("model_id"u8)) return SeenFields.ModelId;
        if (reader.ValueTextEquals("features"u8)) return SeenFields.Features;
        if (reader.ValueTextEquals("prediction_result"u8)) return SeenFields.PredictionResult;
        if (reader.ValueTextEquals("default_values_used"u8)) return SeenFields.DefaultValuesUsed;
        if (reader.ValueTextEquals("v"u8)) return SeenFields.Version;
        return SeenFields.None;
    }

    private static string FieldName(SeenFields field) => field switch
    {
        SeenFields.SentAt => "sent_at",
        SeenFields.PredictionId => "prediction_id",
        SeenFields.PredictorName => "predictor_name",
        SeenFields.ModelId => "model_id",
        SeenFields.Features => "features",
        SeenFields.PredictionResult => "prediction_result",
        SeenFields.DefaultValuesUsed => "default_values_used",
        _ => "v",
    };

    private static DateTimeOffset? ReadTimestamp(ref Utf8JsonReader reader, IngestionLimits limits, DateTimeOffset? now, ref RecordFault? fault) =>
        ReadTimestamp(ref reader, "sent_at", limits.MaxFutureSkew, limits.AllowedLateness, "the allowed lateness", now, ref fault);

    /// <summary>An RFC 3339 timestamp with an offset, as UTC; with <paramref name="now"/>, within [now − <paramref name="maxAge"/>, now + <paramref name="maxFutureSkew"/>].</summary>
    internal static DateTimeOffset? ReadTimestamp(ref Utf8JsonReader reader, string field, TimeSpan maxFutureSkew, TimeSpan maxAge, string maxAgeName,
        DateTimeOffset? now, ref RecordFault? fault)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            fault = new(field, $"must be an RFC 3339 timestamp string, got {Describe(reader.TokenType)}", RejectReason.WrongType);
            return null;
        }
        if (reader.ValueSpan.Length > 64 || !reader.TryGetDateTimeOffset(out var value) || !HasOffset(reader.ValueSpan))
        {
            fault = new(field, "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-22T10:15:00Z", RejectReason.InvalidTimestamp);
            return null;
        }
        if (now is { } clock)
        {
            if (value > clock + maxFutureSkew)
            {
                fault = new(field, $"is more than {maxFutureSkew.TotalMinutes:0.#} minutes in the future", RejectReason.TimestampInFuture);
                return null;
            }
            if (value < clock - maxAge)
            {
                fault = new(field, $"is older than {maxAgeName} of {maxAge.TotalDays:0.##} days", RejectReason.TimestampTooOld);
                return null;
            }
        }
        return value.ToUniversalTime();
    }

    /// <summary>RFC 3339 requires a zone: Z or ±hh:mm at the end (ISO 8601 without one would mean local time).</summary>
    private static bool HasOffset(ReadOnlySpan<byte> text) =>
        text.Length > 6 && (text[^1] is (byte)'Z' or (byte)'z' || (text[^6] is (byte)'+' or (byte)'-' && text[^3] == (byte)':'));

    /// <param name="shared">Read through <see cref="RepeatedStrings"/>: for names that repeat on every record, not ids.</param>
    internal static string? ReadName(ref Utf8JsonReader reader, string field, int maxLength, bool allowControl, bool shared, ref RecordFault? fault)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            fault = new(field, $"must be a string, got {Describe(reader.TokenType)}", RejectReason.WrongType);
            return null;
        }
        if (StorableText.Problem(ref reader) is { } unstorable)
        {
            fault = new(field, unstorable, RejectReason.UnstorableText);
            return null;
        }
        var text = ReadBoundedString(ref reader, maxLength, shared);
        if (text is null)
        {
            fault = new(field, $"is longer than {maxLength} characters", RejectReason.TooLong);
            return null;
        }
        if (text.Length == 0)
        {
            fault = new(field, "must not be empty", RejectReason.Empty);
            return null;
        }
        if (!allowControl && ContainsControl(text))
        {
            fault = new(field, "must not contain control characters", RejectReason.ControlCharacters);
            return null;
        }
        return text;
    }

    /// <summary>The string value, or null when it is longer than <paramref name="maxLength"/> UTF-16 characters.
    /// Checks the raw length first so a 5 MB string is never materialized. The caller checks
    /// <see cref="StorableText"/> first (reading a lone surrogate as a string throws).</summary>
    internal static string? ReadBoundedString(ref Utf8JsonReader reader, int maxLength, bool shared = false)
    {
        var raw = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        // An escape takes at most 6 bytes (\uXXXX) per UTF-16 character; UTF-8 at most 3.
        if (raw > (long)maxLength * 6)
        {
            return null;
        }
        var text = shared ? RepeatedStrings.Read(ref reader) : reader.GetString()!;
        return text.Length > maxLength ? null : text;
    }

    private const int PreviewLength = 40;

    /// <summary>The first <see cref="PreviewLength"/> characters of the current string as written (escapes kept), to
    /// say which value an error is about without materializing a long one.</summary>
    private static string Preview(ref Utf8JsonReader reader)
    {
        ReadOnlySpan<byte> raw = reader.HasValueSequence
            ? reader.ValueSequence.Slice(0, Math.Min(reader.ValueSequence.Length, PreviewLength * 4)).ToArray()
            : reader.ValueSpan[..Math.Min(reader.ValueSpan.Length, PreviewLength * 4)];
        var text = System.Text.Encoding.UTF8.GetString(raw);
        if (text.Length <= PreviewLength)
        {
            return text;
        }
        // Do not cut a surrogate pair in half.
        var cut = char.IsHighSurrogate(text[PreviewLength - 1]) ? PreviewLength - 1 : PreviewLength;
        return text[..cut];
    }

    internal static bool ContainsControl(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }
        return false;
    }

    private static double? ReadNumber(ref Utf8JsonReader reader, NonFiniteMap nonFinite, string field, ref RecordFault? fault)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            fault = new(field, $"must be a number, got {Describe(reader.TokenType)}", RejectReason.WrongType);
            return null;
        }
        if (TryGetNumber(ref reader, nonFinite, out var value))
        {
            return value;
        }
        fault = new(field, "is out of the range of a 64-bit floating-point number", RejectReason.NumberOutOfRange);
        return null;
    }

    internal static bool TryGetNumber(ref Utf8JsonReader reader, NonFiniteMap nonFinite, out double value)
    {
        if (!nonFinite.IsEmpty && nonFinite.TryGet(reader.TokenStartIndex, out value))
        {
            return true;
        }
        // A literal like 1e999 overflows: only the bare NaN/Infinity tokens may stand for non-finite values.
        return reader.TryGetDouble(out value) && double.IsFinite(value);
    }

    // Features are collected in a per-thread scratch list and copied once into an array of the exact size: a
    // list grown from a guess allocated 2-3 times the memory per record (measured: allocation was about 17% of the
    // API's CPU time). Read is not re-entrant, so one list per thread is enough.
    [ThreadStatic]
    private static List<KeyValuePair<string, FeatureValue>>? t_features;

    private static void ReadFeatures(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        List<KeyValuePair<string, FeatureValue>> features, ref RecordFault? fault)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            fault = new("features", $"must be an object of feature name to value, got {Describe(reader.TokenType)}", RejectReason.WrongType);
            reader.Skip();
            return;
        }
        HashSet<string>? names = null; // only for many features: below that a scan is cheaper than hashing
        var seen = 0UL;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (fault is not null)
            {
                reader.Read();
                reader.Skip();
                continue;
            }
            if (StorableText.Problem(ref reader) is { } unstorable)
            {
                fault = new("features", $"a feature name {unstorable}", RejectReason.UnstorableText);
                reader.Read();
                reader.Skip();
                continue;
            }
            var name = ReadBoundedString(ref reader, limits.MaxFeatureNameLength, shared: true);
            var tooLong = name is null ? Preview(ref reader) : null;
            reader.Read();
            if (name is null || name.Length == 0)
            {
                fault = new("features", name is null
                    ? $"a feature name is longer than {limits.MaxFeatureNameLength} characters: \"{tooLong}…\""
                    : "a feature name is empty", name is null ? RejectReason.TooLong : RejectReason.Empty);
                reader.Skip();
                continue;
            }
            if (features.Count == limits.MaxFeatures)
            {
                fault = new("features", $"has more than {limits.MaxFeatures} features", RejectReason.TooManyFeatures);
                reader.Skip();
                continue;
            }
            if (IsDuplicate(features, ref names, ref seen, name))
            {
                fault = new($"features.{name}", "appears more than once", RejectReason.DuplicateField);
                reader.Skip();
                continue;
            }
            var value = ReadFeatureValue(ref reader, nonFinite, limits, name, ref fault);
            features.Add(new(name, value));
        }
    }

    private const int ScanLimit = 32;

    /// <summary>Whether <paramref name="name"/> is already among the features read (then it is not added).</summary>
    /// <param name="seen">Bits of a cheap fingerprint (length and end characters) of the names read so far: only a
    /// name whose bit is already set needs the scan, so a record without duplicates is checked in O(n) mostly.</param>
    private static bool IsDuplicate(List<KeyValuePair<string, FeatureValue>> features, ref HashSet<string>? names, ref ulong seen, string name)
    {
        if (features.Count < ScanLimit)
        {
            var bit = 1UL << ((name.Length * 31 + name[0] * 7 + name[^1]) & 63);
            var maybe = (seen & bit) != 0;
            seen |= bit;
            if (!maybe)
            {
                return false;
            }
            foreach (var feature in features)
            {
                if (string.Equals(feature.Key, name, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            return false;
        }
        if (names is null)
        {
            names = new HashSet<string>(features.Count * 2, StringComparer.Ordinal);
            foreach (var feature in features)
            {
                names.Add(feature.Key);
            }
        }
        return !names.Add(name);
    }

    private static FeatureValue ReadFeatureValue(ref Utf8JsonReader reader, NonFiniteMap nonFinite, IngestionLimits limits,
        string name, ref RecordFault? fault)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (TryGetNumber(ref reader, nonFinite, out var number))
                {
                    return FeatureValue.FromNumber(number);
                }
                fault = new($"features.{name}", "is out of the range of a 64-bit floating-point number", RejectReason.NumberOutOfRange);
                return FeatureValue.Null;
            case JsonTokenType.String:
                if (StorableText.Problem(ref reader) is { } unstorable)
                {
                    fault = new($"features.{name}", unstorable, RejectReason.UnstorableText);
                    return FeatureValue.Null;
                }
                var text = ReadBoundedString(ref reader, limits.MaxStringValueLength, shared: true);
                if (text is null)
                {
                    fault = new($"features.{name}", $"is a string longer than {limits.MaxStringValueLength} characters", RejectReason.TooLong);
                    return FeatureValue.Null;
                }
                return FeatureValue.FromString(text);
            case JsonTokenType.True:
                return FeatureValue.FromBoolean(true);
            case JsonTokenType.False:
                return FeatureValue.FromBoolean(false);
            case JsonTokenType.Null:
                return FeatureValue.Null;
            default:
                fault = new($"features.{name}", $"must be a number, string, boolean or null, got {Describe(reader.TokenType)} (nested values are not allowed)",
                    RejectReason.NestedValue);
                reader.Skip();
                return FeatureValue.Null;
        }
    }

    private static List<string>? ReadDefaults(ref Utf8JsonReader reader, IngestionLimits limits, ref RecordFault? fault)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            fault = new("default_values_used", $"must be an array of feature names, got {Describe(reader.TokenType)}", RejectReason.WrongType);
            reader.Skip();
            return null;
        }
        var names = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (fault is not null)
            {
                reader.Skip();
                continue;
            }
            if (reader.TokenType != JsonTokenType.String)
            {
                fault = new("default_values_used", $"must contain only feature-name strings, got {Describe(reader.TokenType)}", RejectReason.WrongType);
                reader.Skip();
                continue;
            }
            if (StorableText.Problem(ref reader) is { } unstorable)
            {
                fault = new("default_values_used", $"a feature name {unstorable}", RejectReason.UnstorableText);
                continue;
            }
            var name = ReadBoundedString(ref reader, limits.MaxFeatureNameLength);
            if (name is null || name.Length == 0)
            {
                fault = new("default_values_used", name is null
                    ? $"a feature name is longer than {limits.MaxFeatureNameLength} characters: \"{Preview(ref reader)}…\""
                    : "a feature name is empty", name is null ? RejectReason.TooLong : RejectReason.Empty);
                continue;
            }
            if (names.Count == limits.MaxFeatures)
            {
                fault = new("default_values_used", $"names more than {limits.MaxFeatures} features", RejectReason.TooManyFeatures);
                continue;
            }
            if (!names.Contains(name, StringComparer.Ordinal))
            {
                names.Add(name);
            }
        }
        return fault is null ? names : null;
    }

    private static int? ReadVersion(ref Utf8JsonReader reader, ref RecordFault? fault)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var version))
        {
            return version;
        }
        fault = new("v", "schema version must be an integer", RejectReason.UnsupportedSchemaVersion);
        reader.Skip();
        return null;
    }

    internal static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}

/// <summary>What is wrong with a record: the field (dotted path) at fault and a message.</summary>
public sealed record RecordFault(string Field, string Message, RejectReason Reason);
