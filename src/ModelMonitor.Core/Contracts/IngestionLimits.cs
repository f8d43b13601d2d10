namespace ModelMonitor.Core.Contracts;

/// <summary>The limits a prediction log must respect. Defaults are the documented API contract.</summary>
public sealed record IngestionLimits
{
    public int MaxPredictionIdLength { get; init; } = 256;
    public int MaxNameLength { get; init; } = 200;
    public int MaxFeatures { get; init; } = 2_000;
    public int MaxFeatureNameLength { get; init; } = 200;
    public int MaxStringValueLength { get; init; } = 1_024;
    public int MaxRecordsPerRequest { get; init; } = 10_000;
    public int MaxErrorsReported { get; init; } = 100;
    public TimeSpan MaxFutureSkew { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan AllowedLateness { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Nesting is never valid in a record; this bounds the work a hostile body can cause.</summary>
    public const int MaxJsonDepth = 8;

    /// <summary>The documented defaults.</summary>
    public static IngestionLimits Default { get; } = new();

    /// <summary>
    /// The largest limits an operator may configure (the API refuses to start beyond them). Kafka messages are
    /// decoded with these: whatever the API was configured to accept, the aggregator accepts it too, so no
    /// acknowledged record is refused downstream because the API's limits were raised.
    /// </summary>
    public static IngestionLimits Ceiling { get; } = new()
    {
        MaxPredictionIdLength = 10_000,
        MaxNameLength = 10_000,
        MaxFeatures = 100_000,
        MaxFeatureNameLength = 10_000,
        MaxStringValueLength = 1_000_000,
        MaxRecordsPerRequest = 1_000_000,
        MaxErrorsReported = 100_000,
        MaxFutureSkew = TimeSpan.MaxValue,
        AllowedLateness = TimeSpan.MaxValue,
    };
}
