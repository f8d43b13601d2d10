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
/// The drift families as last rendered, per window size, and what each size's part was rendered from: a refresh whose
/// windows of a size, rows and references are unchanged serves that size's part again instead of comparing and rendering
/// every (feature, reference) anew. A size's part changes when its window completes (every 1m, 5m, 1h…), when a late
/// record lands in it or when a reference changes: with a 15 s refresh, the 1m part is rendered at one refresh in four,
/// the 5m part at one in twenty, the 1h part at one in 240 (BENCHMARKS.md §12). One per exporter (not thread-safe: the
/// refresh worker is its only user).
/// </summary>
public sealed class DriftTextCache
{
    internal Dictionary<int, DriftPart> Parts { get; } = [];

    /// <summary>Window sizes whose drift families were served again (summed over refreshes).</summary>
    public long Hits { get; internal set; }

    /// <summary>Window sizes whose drift families were rendered (summed over refreshes).</summary>
    public long Misses { get; internal set; }

    /// <summary>Drops the kept families of one window size, or of all: the next refresh renders them (the refresh
    /// benchmark's "at a window end").</summary>
    internal void Forget(int? windowSeconds = null)
    {
        if (windowSeconds is { } size)
        {
            Parts.Remove(size);
        }
        else
        {
            Parts.Clear();
        }
    }
}

/// <summary>One window size's drift families: each family's samples (no header), and what they were rendered from.</summary>
internal sealed record DriftPart(ulong Fingerprint, DriftReferences References, DriftOptions Options, Dictionary<string, ReadOnlyMemory<byte>> Families, long Series);

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

    /// <summary>
    /// The drift families as segments, family by family (the text format keeps a family's samples together): its header, then
    /// its samples of each window size in turn, each size's part either kept from the last refresh (nothing it depends on
    /// changed) or rendered; then the active references (cheap: one series per model, rendered every time).
    /// </summary>
    private static (List<ReadOnlyMemory<byte>> Segments, long Series) DriftText(DriftInput drift, Prepared prepared)
    {
        var slices = prepared.SizeSlices;
        var parts = new List<DriftPart>(slices.Count);
        foreach (var slice in slices)
        {
            if (Kept(drift, slice) is { } kept)
            {
                drift.Cache!.Hits++;
                parts.Add(kept);
                continue;
            }

            var sink = new FamilySink(drift.Cache?.Parts.GetValueOrDefault(slice.Size));
            var writer = new CountingWriter(sink);
            WriteWindowDrift(writer, drift, slice.Features, slice.Models);
            sink.Flush();
            var part = new DriftPart(slice.Fingerprint, drift.References, drift.Options, sink.Families, writer.Series);
            if (drift.Cache is { } cache)
            {
                cache.Misses++;
                cache.Parts[slice.Size] = part;
            }
            parts.Add(part);
        }
        foreach (var gone in drift.Cache?.Parts.Keys.Except(slices.Select(s => s.Size)).ToList() ?? [])
        {
            drift.Cache!.Parts.Remove(gone);
        }

        var segments = new List<ReadOnlyMemory<byte>>();
        foreach (var (name, header) in DriftFamilyHeaders)
        {
            segments.Add(header);
            segments.AddRange(parts.Select(p => p.Families.GetValueOrDefault(name)).Where(t => !t.IsEmpty));
        }
        var active = new ArrayBufferWriter<byte>(4096 + (prepared.Models.Count * 128));
        var activeWriter = new CountingWriter(new TextSink(new PrometheusTextWriter(active)));
        WriteActiveReferences(activeWriter, drift, prepared.Models);
        segments.Add(active.WrittenMemory);
        return (segments, parts.Sum(p => p.Series) + activeWriter.Series);
    }

    /// <summary>The window sizes whose drift families this refresh renders (not kept from the last one): the refresh reads
    /// the sketches of their rows only (a size served again needs none; they are most of what the read would carry).</summary>
    internal static IReadOnlyList<int> DriftSizesToRender(Prepared prepared, DriftInput drift)
    {
        var windows = drift.Options.ParsedWindows;
        return [.. prepared.SizeSlices.Where(s => (windows is null || windows.Contains(s.Size)) && Kept(drift, s) is null).Select(s => s.Size)];
    }

    /// <summary>The entries of one window size, and the fingerprint of what its drift families are computed from.</summary>
    internal sealed record SizeSlice(int Size, List<FeatureEntry> Features, List<ModelEntry> Models, ulong Fingerprint);

    /// <summary>The entries by window size, ascending, in one pass, each size's fingerprint with them.</summary>
    private static List<SizeSlice> Slice(List<FeatureEntry> features, List<ModelEntry> models)
    {
        var bySize = new SortedDictionary<int, (List<FeatureEntry> Features, List<ModelEntry> Models)>();
        (List<FeatureEntry>, List<ModelEntry>) Of(int size) =>
            bySize.TryGetValue(size, out var lists) ? lists : bySize[size] = ([], []);
        foreach (var feature in features)
        {
            Of(feature.WindowSeconds).Item1.Add(feature);
        }
        foreach (var model in models)
        {
            Of(model.WindowSeconds).Item2.Add(model);
        }
        return [.. bySize.Select(p => new SizeSlice(p.Key, p.Value.Features, p.Value.Models, Fingerprint(p.Value.Features, p.Value.Models)))];
    }

    /// <summary>The size's part of the last refresh if it was rendered from the same rows, references and settings.</summary>
    private static DriftPart? Kept(DriftInput drift, SizeSlice slice) =>
        drift.Cache?.Parts.GetValueOrDefault(slice.Size) is { } kept && kept.Fingerprint == slice.Fingerprint
            && ReferenceEquals(kept.References, drift.References) && ReferenceEquals(kept.Options, drift.Options)
            ? kept
            : null;

    /// <summary>Writes each family's samples into a buffer of its own (the headers are written once, <see
    /// cref="DriftFamilyHeaders"/>), each sized from the same family's last part of the size.</summary>
    private sealed class FamilySink(DriftPart? previous) : IStatisticsSink
    {
        private PrometheusTextWriter? _writer;
        private ArrayBufferWriter<byte>? _buffer;
        private string _name = "";
        private string[] _labelNames = [];

        public Dictionary<string, ReadOnlyMemory<byte>> Families { get; } = new(StringComparer.Ordinal);

        public void BeginFamily(string name, string help, string[] labelNames)
        {
            Close();
            var size = previous?.Families.GetValueOrDefault(name).Length ?? 0;
            _buffer = new ArrayBufferWriter<byte>(Math.Max(size + (size / 8), 1024));
            _writer = new PrometheusTextWriter(_buffer);
            (_name, _labelNames) = (name, labelNames);
        }

        public void Sample(string[] labelValues, double value) => _writer!.WriteSample(_name, _labelNames, labelValues, value);

        private void Close()
        {
            if (_buffer is not null)
            {
                Families[_name] = _buffer.WrittenMemory;
            }
        }

        public void Flush() => Close();
    }

    /// <summary>
    /// What the drift families are computed from, in 64 bits (FNV-1a over 32-bit hashes): every entry's labels and counts,
    /// and every window's end. Within one window values only accumulate, so a row whose sketch or categories changed has a
    /// new value_count; a new window has a new end. Worked out before the sketches are read (they are read only for the
    /// sizes this says changed).
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
        }

        foreach (var entry in models)
        {
            foreach (var label in entry.Labels)
            {
                Add(string.GetHashCode(label, StringComparison.Ordinal));
            }

            Add(BitConverter.DoubleToInt64Bits(entry.WindowEnd));
            Add(entry.Row?.PredictionCount ?? -1);
        }

        return hash;
    }

    /// <summary>One (row, reference) comparison: the entry, the reference, the distances and schema findings.</summary>
    private readonly record struct Comparison(int Entry, PreparedReference Reference, FeatureDrift? Drift, SchemaAnomalies Anomalies);

    /// <summary>The drift families' headers, in the order <see cref="WriteWindowDrift"/> writes the families.</summary>
    private static readonly List<(string Name, ReadOnlyMemory<byte> Header)> DriftFamilyHeaders = Headers();

    private static List<(string Name, ReadOnlyMemory<byte> Header)> Headers()
    {
        var sink = new HeaderSink();
        WriteWindowDrift(new CountingWriter(sink), new DriftInput(new DriftReferences([], new DriftOptions()), new DriftOptions()), [], []);
        return sink.Headers;
    }

    private sealed class HeaderSink : IStatisticsSink
    {
        public List<(string Name, ReadOnlyMemory<byte> Header)> Headers { get; } = [];

        public void BeginFamily(string name, string help, string[] labelNames)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            new PrometheusTextWriter(buffer).WriteFamilyHeader(name, help, MetricType.Gauge);
            Headers.Add((name, buffer.WrittenMemory));
        }

        public void Sample(string[] labelValues, double value) => throw new InvalidOperationException("Headers only.");
    }

    private static void WriteDrift(CountingWriter w, DriftInput drift, List<FeatureEntry> features, List<ModelEntry> models)
    {
        WriteWindowDrift(w, drift, features, models);
        WriteActiveReferences(w, drift, models);
    }

    /// <summary>Every drift family of the entries' windows but the active references (one per model, whatever the size).</summary>
    private static void WriteWindowDrift(CountingWriter w, DriftInput drift, List<FeatureEntry> features, List<ModelEntry> models)
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
    }

    private static void WriteActiveReferences(CountingWriter w, DriftInput drift, List<ModelEntry> models)
    {
        var options = drift.Options;
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
