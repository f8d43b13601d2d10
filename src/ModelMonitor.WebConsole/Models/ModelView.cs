using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Models;

/// <summary>One window of a model's prediction_result and traffic.</summary>
public sealed record ModelPoint(DateTimeOffset Start, long Predictions, double? P05, double? P25, double? P50, double? P75, double? P95, double? Mean);

/// <summary>One window of a model's evaluation against outcomes.</summary>
public sealed record EvaluationPoint(DateTimeOffset Start, string Task, long Predictions, long Labelled, double? LabelCoverage,
    double? Mae, double? Rmse, double? Accuracy, double? RocAuc, double? LogLoss);

/// <summary>One window of the comparison of this model with another of its predictor on the same prediction_ids; the
/// differences are this model's result minus the other's.</summary>
public sealed record ShadowPoint(DateTimeOffset Start, long Pairs, double? DiffMean, double? AbsDiffMean, double? AbsDiffP95);

public sealed record ShadowComparison(string OtherModel, IReadOnlyList<ShadowPoint> Points);

/// <summary>A feature's drift in the model's latest drift window, against the reference where it is worst.</summary>
public sealed record FeatureDrift(string Reference, string? Method, double? Distance, double? Threshold, bool Drifting, string? SchemaAnomaly)
{
    /// <summary>How far over (above 1) or under its threshold the distance is: the drift sort key.</summary>
    public double Severity => SchemaAnomaly is not null ? double.MaxValue
        : Distance is { } d && Threshold is { } t && t > 0 ? d / t
        : Drifting ? 1 : 0;
}

/// <summary>A row of the model page's feature table: the latest complete window's ratios, its drift, and a sparkline over
/// the range (the median of a numeric feature, the share of the most frequent category of a categorical one).</summary>
public sealed record FeatureRow(string Name, bool Numeric, double? MissingRatio, double? DefaultRatio, double? NonfiniteRatio,
    FeatureDrift? Drift, IReadOnlyList<double?> Spark)
{
    public bool HasProblem => MissingRatio > LatestWindowSummary.RatioThreshold || DefaultRatio > LatestWindowSummary.RatioThreshold
        || NonfiniteRatio > 0 || Drift is { Drifting: true } || Drift?.SchemaAnomaly is not null;
}

/// <summary>Everything the model page shows, and the SQL of each chart.</summary>
public sealed record ModelView(
    ModelHeader Header,
    ConsoleRange Range,
    int Window,
    IReadOnlyList<ModelPoint> Points,
    IReadOnlyList<EvaluationPoint> Evaluation,
    IReadOnlyList<ShadowComparison> Shadows,
    DateTimeOffset? FeatureWindow,
    int SparkWindow,
    IReadOnlyList<DateTimeOffset> SparkTimes,
    IReadOnlyList<FeatureRow> Features,
    IReadOnlyDictionary<string, string> Sql);
