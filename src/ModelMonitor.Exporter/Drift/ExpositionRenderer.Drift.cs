using System.Buffers;
using ModelMonitor.Core.Drift;
using ModelMonitor.Exporter.Text;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter;

/// <summary>What the renderer needs to measure drift: the prepared references, the drift settings, and where the rendered
/// drift families are kept between refreshes (null: rendered every time).</summary>
public sealed record DriftInput(DriftReferences References, DriftOptions Options, DriftTextCache? Cache = null);

/// <summary>
/// The drift families as last rendered, and what they were rendered from: a refresh whose windows, rows and references are
/// unchanged serves them again instead of comparing and rendering every (feature, reference) anew. They change when a
/// window completes (every 1m, 5m, 1h…), when a late record lands in a window or when a reference changes: with a 15 s
/// refresh and 5m windows, one refresh in twenty renders them (BENCHMARKS.md §12). One per exporter (not thread-safe:
/// the refresh worker is its only user).
/// </summary>
public sealed class DriftTextCache
{
    internal (ulong Fingerprint, DriftReferences References, DriftOptions Options)? Key { get; private set; }

    internal ReadOnlyMemory<byte> Text { get; private set; }

    internal long Series { get; private set; }

    /// <summary>Refreshes that served the kept drift families.</summary>
    public long Hits { get; internal set; }

    /// <summary>Refreshes that rendered them.</summary>
    public long Misses { get; internal set; }

    internal void Keep(ulong fingerprint, DriftReferences references, DriftOptions options, ReadOnlyMemory<byte> text, long series)
    {
        Key = (fingerprint, references, options);
        (Text, Series) = (text, series);
    }
}

/// <summary>
/// The drift families (README "Drift"): each exported feature and each model's prediction_result in each latest
/// window against every reference of its model. The distances are worked out once per (window row, reference) into a
/// compact list, then written family by family (the text format keeps a family's samples together), so the memory
/// this adds is that list, not a label array per sample.
/// </summary>
public static partial class ExpositionRenderer
{
    // Spelled out: static initializers of two partial files run in no defined order, so these do not build on FeatureLabels.
    private static readonly string[] FeatureDriftLabels = ["predictor_name", "model_id", "feature", "window", "reference", "method"];
    private static readonly string[] FeatureSkewLabels = ["predictor_name", "model_id", "feature", "window", "reference"];
    private static readonly string[] SchemaAnomalyLabels = ["predictor_name", "model_id", "feature", "window", "reference", "kind"];
    private static readonly string[] PredictionDriftLabels = ["predictor_name", "model_id", "window", "reference", "method"];
    private static readonly string[] ModelDriftLabels = ["predictor_name", "model_id", "window", "reference"];
    private static readonly string[] ActiveReferenceLabels = ["predictor_name", "model_id", "reference"];

    private static IEnumerable<ModelFeature> ReferenceFeatures(List<ModelRow> models, DriftInput? drift) =>
        drift is null
            ? []
            : models.SelectMany(m => drift.References.For(m.PredictorName, m.ModelId)
                .SelectMany(r => r.Features.Keys.Select(f => new ModelFeature(m.PredictorName, m.ModelId, f))));

    /// <summary>The drift families in text: those of the last refresh when nothing they depend on changed, else rendered.</summary>
    private static (ReadOnlyMemory<byte> Text, long Series) DriftText(DriftInput drift, List<FeatureEntry> features, List<ModelEntry> models)
    {
        var fingerprint = Fingerprint(features, models);
        if (drift.Cache is { Key: { } key } hit && key.Fingerprint == fingerprint
            && ReferenceEquals(key.References, drift.References) && ReferenceEquals(key.Options, drift.Options))
        {
            hit.Hits++;
            return (hit.Text, hit.Series);
        }

        var buffer = new ArrayBufferWriter<byte>(Math.Max(drift.Cache?.Text.Length + (drift.Cache?.Text.Length / 8) ?? 0, 64 * 1024));
        var writer = new CountingWriter(new TextSink(new PrometheusTextWriter(buffer)));
        WriteDrift(writer, drift, features, models);
        if (drift.Cache is { } cache)
        {
            cache.Misses++;
            cache.Keep(fingerprint, drift.References, drift.Options, buffer.WrittenMemory, writer.Series);
        }

        return (buffer.WrittenMemory, writer.Series);
    }

    /// <summary>
    /// What the drift families are computed from, in 64 bits (FNV-1a over 32-bit hashes): every entry's labels and counts,
    /// and every window's end. Within one window values only accumulate, so a row whose sketch or categories changed has a
    /// new value_count; a new window has a new end.
    /// </summary>
    private static ulong Fingerprint(List<FeatureEntry> features, List<ModelEntry> models)
    {
        var hash = 14695981039346656037UL;
        void Add(long value) => hash = (hash ^ (ulong)value) * 1099511628211UL;
        foreach (var entry in features)
        {
            foreach (var label in entry.Labels)
            {
                Add(string.GetHashCode(label, StringComparison.Ordinal));
            }

            Add(entry.Row?.ValueCount ?? -1);
            Add(entry.Row?.NumericCount ?? -1);
            Add(entry.Row?.CategoricalCount ?? -1);
            Add(entry.Row?.Sketch?.Length ?? -1);
        }

        foreach (var entry in models)
        {
            foreach (var label in entry.Labels)
            {
                Add(string.GetHashCode(label, StringComparison.Ordinal));
            }

            Add(BitConverter.DoubleToInt64Bits(entry.WindowEnd));
            Add(entry.Row?.PredictionCount ?? -1);
            Add(entry.Row?.Sketch?.Length ?? -1);
        }

        return hash;
    }

    /// <summary>One (row, reference) comparison: the entry, the reference, the distances and schema findings.</summary>
    private readonly record struct Comparison(int Entry, PreparedReference Reference, FeatureDrift? Drift, SchemaAnomalies Anomalies);

    private static void WriteDrift(CountingWriter w, DriftInput drift, List<FeatureEntry> features, List<ModelEntry> models)
    {
        var compare = new WindowDrift();
        var windows = drift.Options.ParsedWindows;
        var featureComparisons = new List<Comparison>();
        for (var i = 0; i < features.Count; i++)
        {
            var entry = features[i];
            if (windows is not null && !windows.Contains(entry.WindowSeconds))
            {
                continue;
            }

            foreach (var reference in drift.References.For(entry.Labels[0], entry.Labels[1]))
            {
                if (compare.TryCompareFeature(entry.Labels[2], entry.Row, reference, out var result, out var anomalies))
                {
                    featureComparisons.Add(new Comparison(i, reference, result, anomalies));
                }
            }
        }

        var predictionComparisons = new List<Comparison>();
        for (var i = 0; i < models.Count; i++)
        {
            var entry = models[i];
            if (entry.Row is not { PredictionCount: > 0 } row || (windows is not null && !windows.Contains(entry.WindowSeconds)))
            {
                continue;
            }

            foreach (var reference in drift.References.For(entry.Labels[0], entry.Labels[1]))
            {
                if (compare.ComparePrediction(row, reference) is { } result)
                {
                    predictionComparisons.Add(new Comparison(i, reference, result, SchemaAnomalies.None));
                }
            }
        }

        var options = drift.Options;
        var exported = options.ParsedMethods;
        double Threshold(FeatureEntry entry, Comparison c, DriftMethod method) =>
            options.Threshold(c.Reference, entry.Labels[0], entry.Labels[2], method, entry.WindowSeconds);
        double PredictionThreshold(ModelEntry entry, Comparison c, DriftMethod method) =>
            options.Threshold(c.Reference, entry.Labels[0], null, method, entry.WindowSeconds);

        w.Header("modelmonitor_feature_drift", FeatureDriftLabels,
            "Distance of the feature's distribution in the window from the reference's, by method (psi, jensen_shannon, ks, wasserstein for numbers; linf, jensen_shannon, psi for categories).");
        foreach (var c in featureComparisons)
        {
            if (c.Drift is { } d)
            {
                foreach (var method in d.Methods)
                {
                    if (exported.Contains(method))
                    {
                        w.Sample([.. features[c.Entry].Labels, c.Reference.Name, method.Label()], Finite(d.Of(method)));
                    }
                }
            }
        }

        w.Header("modelmonitor_feature_drift_threshold", FeatureDriftLabels,
            "Threshold of modelmonitor_feature_drift: mean + 3 standard deviations of the reference's own windows' distances to it (never below the method's floor), or the predictor's fixed threshold.");
        foreach (var c in featureComparisons)
        {
            if (c.Drift is { } d)
            {
                foreach (var method in d.Methods)
                {
                    if (exported.Contains(method) && double.IsFinite(d.Of(method)))
                    {
                        w.Sample([.. features[c.Entry].Labels, c.Reference.Name, method.Label()], Threshold(features[c.Entry], c, method));
                    }
                }
            }
        }

        w.Header("modelmonitor_feature_out_of_range_ratio", FeatureSkewLabels, "Share of the feature's numeric values in the window below the reference's minimum or above its maximum.");
        foreach (var c in featureComparisons)
        {
            if (c.Drift is { ComparedAsNumbers: true } d)
            {
                w.Sample([.. features[c.Entry].Labels, c.Reference.Name], Finite(d.OutOfRangeRatio));
            }
        }

        w.Header("modelmonitor_feature_unseen_category_ratio", FeatureSkewLabels, "Share of the feature's categorical values in the window in categories the reference does not have.");
        foreach (var c in featureComparisons)
        {
            if (c.Drift is { ComparedAsNumbers: false } d)
            {
                w.Sample([.. features[c.Entry].Labels, c.Reference.Name], Finite(d.UnseenCategoryRatio));
            }
        }

        w.Header("modelmonitor_feature_schema_anomaly", SchemaAnomalyLabels,
            "1 when the window's schema departs from the reference's: new_feature (the reference lacks it), type_mismatch (a kind of value the reference never had), missing_feature (the reference has it, the window does not).");
        foreach (var c in featureComparisons)
        {
            foreach (var (flag, kind) in SchemaAnomalyKinds.All)
            {
                if (c.Anomalies.HasFlag(flag))
                {
                    w.Sample([.. features[c.Entry].Labels, c.Reference.Name, kind], 1);
                }
            }
        }

        w.Header("modelmonitor_prediction_drift", PredictionDriftLabels, "Distance of the distribution of prediction_result in the window from the reference's, by method.");
        foreach (var c in predictionComparisons)
        {
            foreach (var method in c.Drift!.Value.Methods.Where(exported.Contains))
            {
                w.Sample([.. models[c.Entry].Labels, c.Reference.Name, method.Label()], Finite(c.Drift.Value.Of(method)));
            }
        }

        w.Header("modelmonitor_prediction_drift_threshold", PredictionDriftLabels, "Threshold of modelmonitor_prediction_drift (as modelmonitor_feature_drift_threshold).");
        foreach (var c in predictionComparisons)
        {
            foreach (var method in c.Drift!.Value.Methods.Where(exported.Contains))
            {
                if (double.IsFinite(c.Drift.Value.Of(method)))
                {
                    w.Sample([.. models[c.Entry].Labels, c.Reference.Name, method.Label()], PredictionThreshold(models[c.Entry], c, method));
                }
            }
        }

        // Features over their threshold by the alert method, per (model, window, reference), 0 included.
        var alertMethod = options.ParsedAlertMethod;
        var drifting = new Dictionary<(string, string, string, string), int>();
        foreach (var model in models.Where(m => m.Row is { PredictionCount: > 0 } && (windows is null || windows.Contains(m.WindowSeconds))))
        {
            foreach (var reference in drift.References.For(model.Labels[0], model.Labels[1]))
            {
                drifting[(model.Labels[0], model.Labels[1], model.Labels[2], reference.Name)] = 0;
            }
        }

        foreach (var c in featureComparisons)
        {
            var entry = features[c.Entry];
            if (c.Drift is { } d && d.Of(alertMethod) is var value && double.IsFinite(value) && value > Threshold(entry, c, alertMethod)
                && entry.Row!.ValueCount >= options.MinWindowValues)
            {
                var key = (entry.Labels[0], entry.Labels[1], entry.Labels[3], c.Reference.Name);
                drifting[key] = drifting.GetValueOrDefault(key) + 1;
            }
        }

        w.Header("modelmonitor_model_drifting_features", ModelDriftLabels,
            "Features of the model whose drift in the window is above its threshold, by the alert method (Drift:AlertMethod, default jensen_shannon), among those with at least Drift:MinWindowValues values (100).");
        foreach (var ((predictor, model, window, reference), count) in drifting.OrderBy(d => d.Key.Item1, StringComparer.Ordinal)
                     .ThenBy(d => d.Key.Item2, StringComparer.Ordinal).ThenBy(d => d.Key.Item3, StringComparer.Ordinal).ThenBy(d => d.Key.Item4, StringComparer.Ordinal))
        {
            w.Sample([predictor, model, window, reference], count);
        }

        w.Header("modelmonitor_drift_reference_active", ActiveReferenceLabels,
            "1 for the reference the model's drift alerts use (Drift:Predictors:<name>:Reference, default training when present, else production).");
        foreach (var (predictor, model) in models.Select(m => (m.Labels[0], m.Labels[1])).Distinct())
        {
            var names = drift.References.For(predictor, model).Select(r => r.Name).ToList();
            if (options.AlertReference(predictor, names) is { } active)
            {
                w.Sample([predictor, model, active], 1);
            }
        }
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
