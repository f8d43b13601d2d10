namespace ModelMonitor.Storage.Statistics;

/// <summary>Everything one refresh reads from Postgres: the models, and for each window size the rows
/// of its latest completed window.</summary>
public sealed record StatisticsSnapshot(IReadOnlyList<ModelRow> Models, IReadOnlyList<WindowSnapshot> Windows);

/// <param name="EarlierFeatures">Features of each model seen in the lookback windows before the latest.</param>
public sealed record WindowSnapshot(
    int WindowSeconds,
    DateTimeOffset WindowStart,
    IReadOnlyList<ModelWindowRow> Models,
    IReadOnlyList<FeatureWindowRow> Features,
    IReadOnlyList<ModelFeature> EarlierFeatures);

public sealed record ModelFeature(string PredictorName, string ModelId, string Feature);

/// <summary>A row of the models table.</summary>
public sealed class ModelRow
{
    public string PredictorName { get; set; } = "";
    public string ModelId { get; set; } = "";
    public DateTime FirstSeen { get; set; }
    public DateTime LastSeen { get; set; }
}

/// <summary>Numeric statistics shared by model_window_stats and feature_window_stats.</summary>
public abstract class NumericStatistics
{
    public double? Mean { get; set; }
    public double? Stddev { get; set; }
    public double? Min { get; set; }
    public double? Max { get; set; }
    public double? P05 { get; set; }
    public double? P25 { get; set; }
    public double? P50 { get; set; }
    public double? P75 { get; set; }
    public double? P95 { get; set; }

    /// <summary>The serialized DDSketch of the values (what drift is measured on); null without numeric values.</summary>
    public byte[]? Sketch { get; set; }
}

/// <summary>A row of model_window_stats.</summary>
public sealed class ModelWindowRow : NumericStatistics
{
    public string PredictorName { get; set; } = "";
    public string ModelId { get; set; } = "";
    public long PredictionCount { get; set; }
}

/// <summary>A row of feature_window_stats; Categories is the jsonb object as text.</summary>
public sealed class FeatureWindowRow : NumericStatistics
{
    public string PredictorName { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string Feature { get; set; } = "";
    public long ValueCount { get; set; }
    public long DefaultCount { get; set; }
    public long NonfiniteCount { get; set; }
    public long CategoricalCount { get; set; }
    public string Categories { get; set; } = "{}";
    public long NumericCount { get; set; }
    public long BooleanCount { get; set; }

    /// <summary>The stored top categories with their counts (none without string or boolean values).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> CategoryCounts() =>
        CategoricalCount == 0 ? [] : StatisticsStore.ParseCategories(Categories);
}
