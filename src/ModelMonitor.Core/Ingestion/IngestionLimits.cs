namespace ModelMonitor.Core.Ingestion;

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
}
