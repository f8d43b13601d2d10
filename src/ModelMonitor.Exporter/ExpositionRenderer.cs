using System.Buffers;
using System.Text.Json;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;
using ModelMonitor.Exporter.Text;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter;

/// <summary>What one rendering produced: the series written and what the cardinality caps cut.</summary>
public sealed record RenderSummary(long Series, IReadOnlyDictionary<string, long> Dropped)
{
    public static RenderSummary Empty { get; } = new(0, DropReasons.All.ToDictionary(r => r, _ => 0L));
}

/// <summary>The rendered statistics: the exposition (text format 0.0.4) as consecutive segments, served one after the
/// other (the statistics, then the drift families, which a refresh reuses while their windows are unchanged), and what the
/// cardinality caps cut.</summary>
public sealed record Exposition(IReadOnlyList<ReadOnlyMemory<byte>> Segments, long Series, IReadOnlyDictionary<string, long> Dropped)
{
    public static Exposition Empty { get; } = new([], 0, DropReasons.All.ToDictionary(r => r, _ => 0L));

    /// <summary>Bytes in all segments.</summary>
    public long Length => Segments.Sum(s => (long)s.Length);

    /// <summary>The whole exposition in one block: the segment itself when there is one, else a copy (for tests and tools;
    /// the endpoint writes the segments).</summary>
    public ReadOnlyMemory<byte> Bytes => Segments.Count switch
    {
        0 => ReadOnlyMemory<byte>.Empty,
        1 => Segments[0],
        _ => Segments.SelectMany(s => s.ToArray()).ToArray(),
    };
}

/// <summary>Where the renderer's gauge families go, in order: each family, then its samples.</summary>
public interface IStatisticsSink
{
    void BeginFamily(string name, string help, string[] labelNames);

    /// <param name="labelValues">Values of the current family's labels, in order (the sink may keep the array).</param>
    void Sample(string[] labelValues, double value);
}

/// <summary>Reasons of modelmonitor_exporter_dropped_series_total.</summary>
public static class DropReasons
{
    public const string Models = "models";
    public const string Features = "features_per_model";
    public const string Categories = "categories";

    public static IReadOnlyList<string> All { get; } = [Models, Features, Categories];
}

/// <summary>
/// Renders a <see cref="StatisticsSnapshot"/> as the statistics gauges of /metrics, into a sink. Pure: the same
/// snapshot and options give the same families and samples, in the same order.
///
/// No stale values as current: every gauge describes the latest completed window of its size. A model
/// still alive (seen within ModelRetention) without a row in that window gets
/// modelmonitor_prediction_count 0 and its window end, and no other gauges (no mean of nothing, no
/// feature ratios over zero predictions). A feature the model reported in the lookback windows but not
/// in the latest one gets modelmonitor_feature_count 0 and modelmonitor_feature_missing_ratio 1.
/// </summary>
public static partial class ExpositionRenderer
{
    internal static readonly string[] ModelLabels = ["predictor_name", "model_id", "window"];
    internal static readonly string[] FeatureLabels = ["predictor_name", "model_id", "feature", "window"];
    private static readonly string[] SeenLabels = ["predictor_name", "model_id"];
    private static readonly string[] FeatureQuantileLabels = [.. FeatureLabels, "quantile"];
    private static readonly string[] FeatureCategoryLabels = [.. FeatureLabels, "category"];
    private static readonly string[] ModelQuantileLabels = [.. ModelLabels, "quantile"];
    private static readonly (string Label, Func<NumericStatistics, double?> Value)[] Quantiles =
    [
        ("0.05", s => s.P05), ("0.25", s => s.P25), ("0.5", s => s.P50), ("0.75", s => s.P75), ("0.95", s => s.P95),
    ];

    private const string OtherCategory = "__other__";

    // Series per entry, for counting what a cap drops without rendering it.
    private const int SeriesPerModelWindow = 11; // count, mean, stddev, min, max, 5 quantiles, window end
    private const int SeriesPerModel = 2; // first seen, last seen
    private const int SeriesPerFeature = 14; // count, mean, stddev, min, max, 5 quantiles, 4 ratios
    private const int SeriesPerVanishedFeature = 4; // count 0, and the three ratios

    internal sealed record ModelEntry(string[] Labels, ModelWindowRow? Row, double WindowEnd, int WindowSeconds);

    internal sealed record FeatureEntry(string[] Labels, FeatureWindowRow? Row, double PredictionCount, List<KeyValuePair<string, long>> Categories, int WindowSeconds);

    /// <summary>Renders into the Prometheus text format (what GET /metrics/statistics serves), into one buffer of
    /// <paramref name="sizeHint"/> bytes to begin with (the refresh passes a little more than the previous exposition) that
    /// is served as it is: at a million series, growing it by doubling from 64 KiB and copying the result out held up to
    /// three times the exposition while rendering (BENCHMARKS.md §11).</summary>
    /// <param name="drift">The references to measure drift against, with their settings; null: no drift series.</param>
    public static Exposition Render(StatisticsSnapshot snapshot, ExporterOptions options, int sizeHint = 64 * 1024, DriftInput? drift = null) =>
        Render(Prepare(snapshot, options, drift), sizeHint, drift);

    /// <summary>Renders what <see cref="Prepare"/> chose (the refresh worker prepares first, to read the sketches of only the
    /// windows whose drift families must be rendered: <see cref="DriftSizesToRender"/>).</summary>
    internal static Exposition Render(Prepared prepared, int sizeHint, DriftInput? drift)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(sizeHint, 4096));
        var writer = new CountingWriter(new TextSink(new PrometheusTextWriter(buffer)));
        WriteFeatures(writer, prepared.Features);
        WriteModels(writer, prepared.Models, prepared.KeptModels);
        if (drift is null)
        {
            return new Exposition([buffer.WrittenMemory], writer.Series, prepared.Dropped);
        }

        var (segments, series) = DriftText(drift, prepared);
        return new Exposition([buffer.WrittenMemory, .. segments], writer.Series + series, prepared.Dropped);
    }

    public static RenderSummary Render(StatisticsSnapshot snapshot, ExporterOptions options, IStatisticsSink sink, DriftInput? drift = null)
    {
        var prepared = Prepare(snapshot, options, drift);
        var writer = new CountingWriter(sink);
        WriteFeatures(writer, prepared.Features);
        WriteModels(writer, prepared.Models, prepared.KeptModels);
        if (drift is not null)
        {
            WriteDrift(writer, drift, prepared.Features, prepared.Models);
        }

        return new RenderSummary(writer.Series, prepared.Dropped);
    }

    /// <summary>The entries to write: the kept models and features of every window, sorted, and what the caps dropped.</summary>
    internal sealed record Prepared(List<FeatureEntry> Features, List<ModelEntry> Models, List<ModelRow> KeptModels, Dictionary<string, long> Dropped)
    {
        /// <summary>The entries by window size with their drift fingerprints, worked out once per refresh (the worker asks
        /// which sizes to read sketches for, then the renderer renders them).</summary>
        public List<SizeSlice> SizeSlices => field ??= Slice(Features, Models);
    }

    internal static Prepared Prepare(StatisticsSnapshot snapshot, ExporterOptions options, DriftInput? drift)
    {
        var dropped = DropReasons.All.ToDictionary(r => r, _ => 0L, StringComparer.Ordinal);

        // Cap 1: models, most recently seen first (the reader orders them so).
        var keptModels = snapshot.Models.Take(options.MaxModels)
            .OrderBy(m => m.PredictorName, StringComparer.Ordinal).ThenBy(m => m.ModelId, StringComparer.Ordinal).ToList();
        var kept = keptModels.Select(m => (m.PredictorName, m.ModelId)).ToHashSet();
        foreach (var model in snapshot.Models.Skip(options.MaxModels))
        {
            dropped[DropReasons.Models] += SeriesPerModel + (snapshot.Windows.Count * SeriesPerModelWindow)
                + (SeriesPerFeature * snapshot.Windows.Sum(w => w.Features.Count(f => f.PredictorName == model.PredictorName && f.ModelId == model.ModelId)));
        }

        // Cap 2: features per model, the first by name over all windows (stable from refresh to refresh).
        var keptFeatures = new Dictionary<(string, string), HashSet<string>>();
        foreach (var group in snapshot.Windows.SelectMany(w => w.Features.Select(f => new ModelFeature(f.PredictorName, f.ModelId, f.Feature)).Concat(w.EarlierFeatures))
                     .Concat(ReferenceFeatures(keptModels, drift))
                     .Where(f => kept.Contains((f.PredictorName, f.ModelId)))
                     .GroupBy(f => (f.PredictorName, f.ModelId)))
        {
            var names = group.Select(f => f.Feature).Distinct().Order(StringComparer.Ordinal).ToList();
            keptFeatures[group.Key] = names.Take(options.MaxFeaturesPerModel).ToHashSet(StringComparer.Ordinal);
        }

        var models = new List<ModelEntry>();
        var features = new List<FeatureEntry>();
        foreach (var window in snapshot.Windows)
        {
            var windowLabel = new WindowSize(window.WindowSeconds).ToString();
            var windowEnd = window.WindowStart.ToUnixTimeSeconds() + (double)window.WindowSeconds;
            var rows = window.Models.ToDictionary(r => (r.PredictorName, r.ModelId));
            var featureRows = window.Features.ToLookup(f => (f.PredictorName, f.ModelId));
            var earlier = window.EarlierFeatures.ToLookup(f => (f.PredictorName, f.ModelId), f => f.Feature);
            foreach (var model in keptModels)
            {
                var key = (model.PredictorName, model.ModelId);
                var row = rows.GetValueOrDefault(key);
                models.Add(new ModelEntry([model.PredictorName, model.ModelId, windowLabel], row, windowEnd, window.WindowSeconds));
                if (row is null || row.PredictionCount == 0)
                {
                    continue;
                }

                var allowed = keptFeatures.GetValueOrDefault(key) ?? [];
                var present = new HashSet<string>(StringComparer.Ordinal);
                foreach (var feature in featureRows[key])
                {
                    present.Add(feature.Feature);
                    if (!allowed.Contains(feature.Feature))
                    {
                        dropped[DropReasons.Features] += SeriesPerFeature + CountCategories(feature.Categories);
                        continue;
                    }

                    var categories = TopCategories(feature.Categories, options.MaxCategoriesPerFeature, out var folded);
                    dropped[DropReasons.Categories] += folded;
                    features.Add(new FeatureEntry([model.PredictorName, model.ModelId, feature.Feature, windowLabel], feature, row.PredictionCount, categories, window.WindowSeconds));
                }

                // Vanished: reported in the lookback windows, or known to a reference (a feature the model was trained on).
                var expected = earlier[key].Concat(drift is null ? [] : drift.References.For(model.PredictorName, model.ModelId).SelectMany(r => r.Features.Keys));
                foreach (var name in expected.Distinct().Where(n => !present.Contains(n)))
                {
                    if (allowed.Contains(name))
                    {
                        features.Add(new FeatureEntry([model.PredictorName, model.ModelId, name, windowLabel], null, row.PredictionCount, [], window.WindowSeconds));
                    }
                    else
                    {
                        dropped[DropReasons.Features] += SeriesPerVanishedFeature;
                    }
                }
            }
        }

        features.Sort((a, b) => CompareLabels(a.Labels, b.Labels));
        models.Sort((a, b) => CompareLabels(a.Labels, b.Labels));

        return new Prepared(features, models, keptModels, dropped);
    }

    private static void WriteFeatures(CountingWriter w, List<FeatureEntry> features)
    {
        w.Family("modelmonitor_feature_count", "Records of the window carrying a value (numeric, non-finite or categorical) for the feature.", features, f => f.Row?.ValueCount ?? 0);
        w.Family("modelmonitor_feature_mean", "Mean of the feature's finite numeric values in the window.", features, f => f.Row?.Mean);
        w.Family("modelmonitor_feature_stddev", "Sample standard deviation of the feature's finite numeric values in the window.", features, f => f.Row?.Stddev);
        w.Family("modelmonitor_feature_min", "Minimum of the feature's finite numeric values in the window.", features, f => f.Row?.Min);
        w.Family("modelmonitor_feature_max", "Maximum of the feature's finite numeric values in the window.", features, f => f.Row?.Max);
        w.Header("modelmonitor_feature_quantile", FeatureQuantileLabels, "Approximate quantile (DDSketch, 1% relative accuracy) of the feature's finite numeric values in the window.");
        foreach (var f in features.Where(f => f.Row is not null))
        {
            foreach (var (label, value) in Quantiles)
            {
                w.Sample([.. f.Labels, label], value(f.Row!));
            }
        }

        w.Family("modelmonitor_feature_default_ratio", "Share of the model's predictions in the window that used the feature's default value.", features, f => (f.Row?.DefaultCount ?? 0) / f.PredictionCount);
        w.Family("modelmonitor_feature_missing_ratio", "Share of the model's predictions in the window without a value for the feature (absent or null); 1 when the feature vanished.", features,
            f => Math.Max(f.PredictionCount - (f.Row?.ValueCount ?? 0), 0) / f.PredictionCount);
        w.Family("modelmonitor_feature_nonfinite_ratio", "Share of the model's predictions in the window with NaN or +/-Infinity for the feature.", features, f => (f.Row?.NonfiniteCount ?? 0) / f.PredictionCount);
        w.Family("modelmonitor_feature_type_mismatch_ratio", "Share of the feature's values in the window whose JSON type (number, string, boolean) is not the majority type of its values; absent without values.", features,
            f => f.Row is { ValueCount: > 0 } row
                ? (double)FeatureAccumulator.TypeMismatches(row.ValueCount, row.NumericCount + row.NonfiniteCount, row.CategoricalCount - row.BooleanCount, row.BooleanCount) / row.ValueCount
                : null);
        w.Header("modelmonitor_feature_category_ratio", FeatureCategoryLabels, "Share of the feature's categorical values in the window equal to the category (top values, the rest as __other__).");
        foreach (var f in features.Where(f => f.Row is { CategoricalCount: > 0 }))
        {
            foreach (var (category, count) in f.Categories)
            {
                w.Sample([.. f.Labels, category], (double)count / f.Row!.CategoricalCount);
            }
        }
    }

    private static void WriteModels(CountingWriter w, List<ModelEntry> models, List<ModelRow> keptModels)
    {
        w.Family("modelmonitor_prediction_count", "Predictions of the model in the window; 0 when the model sent none in the latest completed window.", models, m => m.Row?.PredictionCount ?? 0);
        w.Family("modelmonitor_prediction_mean", "Mean of the finite prediction results in the window.", models, m => m.Row?.Mean);
        w.Family("modelmonitor_prediction_stddev", "Sample standard deviation of the finite prediction results in the window.", models, m => m.Row?.Stddev);
        w.Family("modelmonitor_prediction_min", "Minimum of the finite prediction results in the window.", models, m => m.Row?.Min);
        w.Family("modelmonitor_prediction_max", "Maximum of the finite prediction results in the window.", models, m => m.Row?.Max);
        w.Header("modelmonitor_prediction_quantile", ModelQuantileLabels, "Approximate quantile (DDSketch, 1% relative accuracy) of the finite prediction results in the window.");
        foreach (var m in models.Where(m => m.Row is not null))
        {
            foreach (var (label, value) in Quantiles)
            {
                w.Sample([.. m.Labels, label], value(m.Row!));
            }
        }

        w.Family("modelmonitor_window_end_timestamp_seconds", "End (Unix seconds, exclusive) of the window the model's and its features' gauges describe.", models, m => m.WindowEnd);

        var seen = keptModels.Select(m => (Labels: new[] { m.PredictorName, m.ModelId }, m)).ToList();
        w.Header("modelmonitor_model_first_seen_timestamp_seconds", SeenLabels, "Event time (Unix seconds) of the model's first aggregated prediction.");
        foreach (var (labels, m) in seen)
        {
            w.Sample(labels, UnixSeconds(m.FirstSeen));
        }

        w.Header("modelmonitor_model_last_seen_timestamp_seconds", SeenLabels, "Event time (Unix seconds) of the model's latest aggregated prediction.");
        foreach (var (labels, m) in seen)
        {
            w.Sample(labels, UnixSeconds(m.LastSeen));
        }
    }

    private static double UnixSeconds(DateTime time) =>
        new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)).ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>The top <paramref name="max"/> categories by count (ties by name), the rest and any
    /// existing "__other__" summed into "__other__", which comes last.</summary>
    internal static List<KeyValuePair<string, long>> TopCategories(string json, int max, out long folded)
    {
        folded = 0;
        var all = ParseCategories(json);
        var other = all.GetValueOrDefault(OtherCategory);
        var ranked = all.Where(c => c.Key != OtherCategory)
            .OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).ToList();
        var top = ranked.Take(max).OrderBy(c => c.Key, StringComparer.Ordinal).ToList();
        foreach (var rest in ranked.Skip(max))
        {
            other += rest.Value;
            folded++;
        }

        if (other > 0 || all.ContainsKey(OtherCategory))
        {
            top.Add(new(OtherCategory, other));
        }

        return top;
    }

    private static int CountCategories(string json) => ParseCategories(json).Count;

    private static Dictionary<string, long> ParseCategories(string json)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json) || json == "{}")
        {
            return result;
        }

        using var document = JsonDocument.Parse(json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Value.TryGetInt64(out var count))
            {
                result[property.Name] = count;
            }
        }

        return result;
    }

    private static int CompareLabels(string[] a, string[] b)
    {
        for (var i = 0; i < a.Length; i++)
        {
            var c = string.CompareOrdinal(a[i], b[i]);
            if (c != 0)
            {
                return c;
            }
        }

        return 0;
    }

    /// <summary>The text format sink.</summary>
    private sealed class TextSink(PrometheusTextWriter writer) : IStatisticsSink
    {
        private string _name = "";
        private string[] _labelNames = [];

        public void BeginFamily(string name, string help, string[] labelNames)
        {
            writer.WriteFamilyHeader(name, help, MetricType.Gauge);
            (_name, _labelNames) = (name, labelNames);
        }

        public void Sample(string[] labelValues, double value) => writer.WriteSample(_name, _labelNames, labelValues, value);
    }

    /// <summary>Writes families and counts samples.</summary>
    private sealed class CountingWriter(IStatisticsSink sink)
    {
        public long Series { get; private set; }

        public void Header(string name, string[] labelNames, string help) => sink.BeginFamily(name, help, labelNames);

        public void Family<T>(string name, string help, List<T> entries, Func<T, double?> value) where T : class
        {
            var labelNames = typeof(T) == typeof(FeatureEntry) ? FeatureLabels : ModelLabels;
            Header(name, labelNames, help);
            foreach (var entry in entries)
            {
                if (value(entry) is { } number)
                {
                    sink.Sample(entry switch
                    {
                        FeatureEntry f => f.Labels,
                        ModelEntry m => m.Labels,
                        _ => throw new InvalidOperationException(),
                    }, number);
                    Series++;
                }
            }
        }

        public void Sample(string[] labelValues, double? value)
        {
            if (value is { } number)
            {
                sink.Sample(labelValues, number);
                Series++;
            }
        }
    }
}
