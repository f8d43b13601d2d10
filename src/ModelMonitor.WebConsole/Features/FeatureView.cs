using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Features;

/// <summary>One window of a feature (feature_stats).</summary>
public sealed record FeaturePoint(DateTimeOffset Start, long Predictions, long NumericCount, long CategoricalCount,
    double? P05, double? P25, double? P50, double? P75, double? P95, double? Mean, double? Stddev,
    double? MissingRatio, double? DefaultRatio, double? NonfiniteRatio, IReadOnlyDictionary<string, long> Categories);

/// <summary>A reference's profile of the feature (reference_features), when the model has references.</summary>
public sealed record ReferenceProfile(string Name, string Kind, long Rows, DateTimeOffset CreatedAt, string ObservedType, long NumericCount,
    double? P05, double? P25, double? P50, double? P75, double? P95, double? Mean, double? Stddev, long CategoricalCount,
    IReadOnlyDictionary<string, long> Categories);

/// <summary>One drift window of the feature against one reference: the alert method's distance and threshold.</summary>
public sealed record DriftPoint(DateTimeOffset Start, string Reference, string? Method, double? Distance, double? Threshold, bool Drifting, string? SchemaAnomaly);

/// <summary>Everything the feature page shows, and the SQL of each chart.</summary>
public sealed record FeatureView(
    ModelHeader Header,
    string Feature,
    ConsoleRange Range,
    int Window,
    IReadOnlyList<FeaturePoint> Points,
    IReadOnlyList<ReferenceProfile> References,
    int? DriftWindow,
    IReadOnlyList<DriftPoint> Drift,
    IReadOnlyDictionary<string, string> Sql);
