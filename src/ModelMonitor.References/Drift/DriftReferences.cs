using ModelMonitor.Core.Drift;
using ModelMonitor.Storage.References;

namespace ModelMonitor.References.Drift;

/// <summary>
/// Every usable reference, prepared for comparisons (deciles, points, category shares worked out once per reference,
/// not once per window): what each refresh compares the latest windows with. Rebuilt only when the references change.
/// </summary>
public sealed class DriftReferences
{
    private readonly Dictionary<(string PredictorName, string ModelId), List<PreparedReference>> _byModel = [];

    // Feature and reference names, one string each for every reference that has them.
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

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

        list.Add(new PreparedReference(reference, _names));
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

/// <summary>
/// The prepared references of one reader (the exporter's refresh, the aggregator's drift history), reloaded only when a
/// reference was added, replaced or removed (a count and the newest id: <see cref="ReferenceStore.VersionAsync"/>).
/// One per reader; not thread-safe.
/// </summary>
public sealed class LoadedDriftReferences(ReferenceStore store)
{
    private (long Count, long MaxId) _version = (-1, -1);

    public DriftReferences Current { get; private set; } = DriftReferences.Empty;

    /// <summary>The references, reloaded first if they changed since the last call; true in <paramref name="reloaded"/> then.</summary>
    public async Task<(DriftReferences References, bool Reloaded)> RefreshAsync(DriftOptions options, CancellationToken cancellationToken)
    {
        var version = await store.VersionAsync(cancellationToken);
        if (version == _version)
        {
            return (Current, false);
        }

        Current = await DriftReferences.LoadAsync(store, options, cancellationToken);
        _version = version;
        return (Current, true);
    }
}

/// <summary>One reference feature ready to compare: its comparison and its thresholds (one per method and window size).</summary>
public readonly record struct PreparedFeature(FeatureComparison Comparison, PreparedReference.ThresholdEntry[]? Thresholds);

/// <summary>One reference ready to compare: a <see cref="FeatureComparison"/> per feature and for prediction_result, and its
/// thresholds, kept beside each feature (a few per feature: one per method and window size) in the same map entry. An
/// exporter holds every feature of every model's references (BENCHMARKS.md §12), so the names are shared between
/// references (the names map of <see cref="DriftReferences"/>).</summary>
public sealed class PreparedReference
{
    private const string PredictionKey = "\0prediction";
    private readonly Dictionary<string, PreparedFeature> _features;
    private readonly ThresholdEntry[]? _predictionThresholds;

    public PreparedReference(LoadedReference reference, Dictionary<string, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Name = Shared(names, reference.Key.Name);
        var byFeature = reference.Thresholds.GroupBy(t => t.Threshold.Feature ?? PredictionKey)
            .ToDictionary(g => g.Key, g => (ThresholdEntry[]?)[.. g.Select(t => new ThresholdEntry(t.Threshold.Method, t.WindowSeconds, t.Threshold.Threshold))]);
        _features = new Dictionary<string, PreparedFeature>(reference.Profile.Features.Count, StringComparer.Ordinal);
        foreach (var (feature, statistics) in reference.Profile.Features)
        {
            if (statistics.ValueCount > 0)
            {
                _features[Shared(names, feature)] = new PreparedFeature(FeatureComparison.From(statistics), byFeature.GetValueOrDefault(feature));
            }
        }

        _features.TrimExcess();
        Prediction = reference.Profile.Prediction.Result.Count > 0
            ? FeatureComparison.FromNumbers(reference.Profile.Prediction.Result, reference.Profile.Prediction.NonFiniteCount)
            : null;
        _predictionThresholds = byFeature.GetValueOrDefault(PredictionKey);
    }

    public string Name { get; }

    /// <summary>The reference's features that held values.</summary>
    public IReadOnlyDictionary<string, PreparedFeature> Features => _features;

    public FeatureComparison? Prediction { get; }

    /// <summary>Approximate bytes held: the map entries, comparisons and thresholds.</summary>
    public long EstimatedBytes => 200 + _features.Sum(f => 40 + f.Value.Comparison.EstimatedBytes + ThresholdBytes(f.Value.Thresholds))
        + ThresholdBytes(_predictionThresholds);

    /// <summary>The adaptive threshold of a feature (null: prediction_result) for windows of <paramref name="windowSeconds"/>:
    /// the one derived for that size, else for every size, else the method's floor.</summary>
    public double Threshold(string? feature, DriftMethod method, int windowSeconds) =>
        Find(feature is null ? _predictionThresholds : _features.GetValueOrDefault(feature).Thresholds, method, windowSeconds) ?? method.Floor();

    private static string Shared(Dictionary<string, string>? names, string name)
    {
        if (names is null)
        {
            return name;
        }

        if (!names.TryGetValue(name, out var shared))
        {
            names[name] = shared = name;
        }

        return shared;
    }

    private static long ThresholdBytes(ThresholdEntry[]? entries) => entries is null ? 0 : 24 + (16L * entries.Length);

    private static double? Find(ThresholdEntry[]? entries, DriftMethod method, int windowSeconds)
    {
        double? any = null;
        foreach (var entry in entries ?? [])
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

    /// <summary>A threshold of one method for windows of one size (0: every size).</summary>
    public readonly record struct ThresholdEntry(DriftMethod Method, int WindowSeconds, double Value);
}
