using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter.Tests;

/// <summary>Builders for hand-made snapshots.</summary>
internal static class Snapshots
{
    public static readonly DateTimeOffset WindowStart = DateTimeOffset.FromUnixTimeSeconds(1_700_000_100); // a multiple of 300

    public static ModelRow Model(string predictor, string model, long firstSeen = 1_600_000_000, long lastSeen = 1_700_000_399) => new()
    {
        PredictorName = predictor,
        ModelId = model,
        FirstSeen = DateTimeOffset.FromUnixTimeSeconds(firstSeen).UtcDateTime,
        LastSeen = DateTimeOffset.FromUnixTimeSeconds(lastSeen).UtcDateTime,
    };

    public static ModelWindowRow ModelWindow(string predictor, string model, long count, double mean = 10) => new()
    {
        PredictorName = predictor,
        ModelId = model,
        PredictionCount = count,
        Mean = mean,
        Stddev = 2,
        Min = 1,
        Max = 20,
        P05 = 5,
        P25 = 8,
        P50 = 10,
        P75 = 12,
        P95 = 16,
    };

    public static FeatureWindowRow Feature(string predictor, string model, string feature, long values, long defaults = 0, long nonfinite = 0,
        bool numeric = true, string categories = "{}", long categorical = 0) => new()
        {
            PredictorName = predictor,
            ModelId = model,
            Feature = feature,
            ValueCount = values,
            DefaultCount = defaults,
            NonfiniteCount = nonfinite,
            Mean = numeric ? 3.5 : null,
            Stddev = numeric ? 0.5 : null,
            Min = numeric ? 1 : null,
            Max = numeric ? 6 : null,
            P05 = numeric ? 1.5 : null,
            P25 = numeric ? 3 : null,
            P50 = numeric ? 3.5 : null,
            P75 = numeric ? 4 : null,
            P95 = numeric ? 5.5 : null,
            CategoricalCount = categorical,
            Categories = categories,
            NumericCount = values - nonfinite - categorical,
        };

    public static WindowSnapshot Window(int seconds, IReadOnlyList<ModelWindowRow> models, IReadOnlyList<FeatureWindowRow> features, IReadOnlyList<ModelFeature>? earlier = null) =>
        new(seconds, WindowStart, models, features, earlier ?? []);
}
