using ModelMonitor.Core.Drift;
using ModelMonitor.Storage.References;

namespace ModelMonitor.Exporter.Drift;

/// <summary>
/// Every usable reference, prepared for comparisons (deciles, points, category shares worked out once per reference,
/// not once per window): what each refresh compares the latest windows with. Rebuilt only when the references change.
/// </summary>
public sealed class DriftReferences
{
    private readonly Dictionary<(string PredictorName, string ModelId), List<PreparedReference>> _byModel = [];

    public static DriftReferences Empty { get; } = new([], new DriftOptions());

    public DriftReferences(IEnumerable<LoadedReference> references, DriftOptions options)
        : this(options)
    {
        ArgumentNullException.ThrowIfNull(references);
        foreach (var reference in references)
        {
            Add(reference);
        }

        Sort();
    }

    private DriftReferences(DriftOptions options) => Options = options;

    private DriftOptions Options { get; }

    /// <summary>The references read one at a time from the store (only their prepared form is kept).</summary>
    public static async Task<DriftReferences> LoadAsync(ReferenceStore store, DriftOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var references = new DriftReferences(options);
        await store.ForEachAsync(references.Add, cancellationToken);
        references.Sort();
        return references;
    }

    private void Add(LoadedReference reference)
    {
        if (reference.Kind == ReferenceKinds.Production && reference.Profile.RowCount < Options.MinReferenceCount)
        {
            return; // too young to judge by (README: Drift:MinReferenceCount)
        }

        var key = (reference.Key.PredictorName, reference.Key.ModelId);
        if (!_byModel.TryGetValue(key, out var list))
        {
            _byModel[key] = list = [];
        }

        list.Add(new PreparedReference(reference));
    }

    private void Sort()
    {
        foreach (var list in _byModel.Values)
        {
            list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }
    }

    public int Count => _byModel.Values.Sum(l => l.Count);

    /// <summary>Approximate bytes the prepared references hold.</summary>
    public long EstimatedBytes => _byModel.Values.Sum(l => l.Sum(r => r.EstimatedBytes));

    public IReadOnlyList<PreparedReference> For(string predictorName, string modelId) =>
        _byModel.TryGetValue((predictorName, modelId), out var list) ? list : [];
}

/// <summary>One reference ready to compare: a <see cref="FeatureComparison"/> per feature and for prediction_result, and its
/// thresholds, kept beside each feature (a few per feature: one per method and window size) rather than in one big map.</summary>
public sealed class PreparedReference
{
    private readonly Dictionary<string, StoredThresholds> _thresholds = new(StringComparer.Ordinal);
    private readonly StoredThresholds _predictionThresholds;

    public PreparedReference(LoadedReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Name = reference.Key.Name;
        Features = reference.Profile.Features
            .Where(f => f.Value.ValueCount > 0)
            .ToDictionary(f => f.Key, f => FeatureComparison.From(f.Value), StringComparer.Ordinal);
        Prediction = reference.Profile.Prediction.Result.Count > 0
            ? FeatureComparison.FromNumbers(reference.Profile.Prediction.Result, reference.Profile.Prediction.NonFiniteCount)
            : null;
        var byFeature = reference.Thresholds.GroupBy(t => t.Threshold.Feature ?? "\0prediction").ToDictionary(g => g.Key, g => g.ToList());
        _predictionThresholds = StoredThresholds.Of(byFeature.GetValueOrDefault("\0prediction"));
        foreach (var (feature, list) in byFeature)
        {
            if (feature != "\0prediction" && Features.ContainsKey(feature))
            {
                _thresholds[feature] = StoredThresholds.Of(list);
            }
        }
    }

    public string Name { get; }

    /// <summary>The reference's features that held values.</summary>
    public IReadOnlyDictionary<string, FeatureComparison> Features { get; }

    public FeatureComparison? Prediction { get; }

    /// <summary>Approximate bytes held: the comparisons and thresholds.</summary>
    public long EstimatedBytes => 200 + Features.Sum(f => 48 + (2L * f.Key.Length) + f.Value.EstimatedBytes)
        + _thresholds.Sum(t => 48 + t.Value.EstimatedBytes) + _predictionThresholds.EstimatedBytes;

    /// <summary>The adaptive threshold of a feature (null: prediction_result) for windows of <paramref name="windowSeconds"/>:
    /// the one derived for that size, else for every size, else the method's floor.</summary>
    public double Threshold(string? feature, DriftMethod method, int windowSeconds) =>
        (feature is null ? _predictionThresholds : _thresholds.GetValueOrDefault(feature)).Find(method, windowSeconds) ?? method.Floor();

    /// <summary>A feature's thresholds: one entry per (method, window size), in a small array.</summary>
    private readonly record struct StoredThresholds(Entry[]? Entries)
    {
        public long EstimatedBytes => Entries is null ? 0 : 24 + (16L * Entries.Length);

        public static StoredThresholds Of(List<StoredThreshold>? thresholds) =>
            new(thresholds is null ? null : [.. thresholds.Select(t => new Entry(t.Threshold.Method, t.WindowSeconds, t.Threshold.Threshold))]);

        public double? Find(DriftMethod method, int windowSeconds)
        {
            double? any = null;
            foreach (var entry in Entries ?? [])
            {
                if (entry.Method == method)
                {
                    if (entry.WindowSeconds == windowSeconds)
                    {
                        return entry.Value;
                    }

                    if (entry.WindowSeconds == 0)
                    {
                        any = entry.Value;
                    }
                }
            }

            return any;
        }
    }

    private readonly record struct Entry(DriftMethod Method, int WindowSeconds, double Value);
}
