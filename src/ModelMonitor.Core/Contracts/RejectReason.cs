namespace ModelMonitor.Core.Contracts;

/// <summary>Why one record was rejected. The label value is used in metrics.</summary>
public enum RejectReason
{
    MissingField,
    WrongType,
    TooLong,
    Empty,
    ControlCharacters,
    TooManyFeatures,
    DuplicateField,
    NestedValue,
    NumberOutOfRange,
    InvalidTimestamp,
    TimestampInFuture,
    TimestampTooOld,
    UnsupportedSchemaVersion,

    /// <summary>Valid, but larger as a Kafka message than Kafka:MaxMessageBytes (or the broker) allows.</summary>
    TooLargeForKafka,

    /// <summary>A string holds U+0000 or an unpaired UTF-16 surrogate: Postgres text and jsonb cannot store it.</summary>
    UnstorableText,

    /// <summary>The request's API key may not write this record's predictor (its predictor patterns): 403 semantics.</summary>
    ForbiddenPredictor,
}

public static class RejectReasons
{
    private static readonly string[] Labels =
    [
        "missing_field", "wrong_type", "too_long", "empty", "control_characters", "too_many_features",
        "duplicate_field", "nested_value", "number_out_of_range", "invalid_timestamp", "timestamp_in_future",
        "timestamp_too_old", "unsupported_schema_version", "too_large_for_kafka", "unstorable_text", "forbidden_predictor",
    ];

    public static IReadOnlyList<RejectReason> All { get; } = Enum.GetValues<RejectReason>();

    /// <summary>snake_case label for metrics, e.g. timestamp_too_old.</summary>
    public static string ToLabel(this RejectReason reason) => Labels[(int)reason];
}

/// <summary>One rejected record: its position in the request, the field at fault and what is wrong.</summary>
public sealed record RecordError(int Index, string Field, string Message, RejectReason Reason);
