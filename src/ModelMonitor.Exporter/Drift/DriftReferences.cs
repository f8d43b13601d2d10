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

    public DriftReferences(IReadOnlyList<LoadedReference> references, DriftOptions options)
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(options);
        foreach (var reference in references)
        {
            if (reference.Kind == ReferenceKinds.Production && reference.Profile.RowCount < options.MinReferenceCount)
            {
                continue; // too young to judge by (README: Drift:MinReferenceCount)
            }

            var key = (reference.Key.PredictorName, reference.Key.ModelId);
            if (!_byModel.TryGetValue(key, out var list))
            {
                _byModel[key] = list = [];
            }

            list.Add(new PreparedReference(reference));
        }

        foreach (var list in _byModel.Values)
        {
            list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }
    }

    public int Count => _byModel.Values.Sum(l => l.Count);

    public IReadOnlyList<PreparedReference> For(string predictorName, string modelId) =>
        _byModel.TryGetValue((predictorName, modelId), out var list) ? list : [];
}

/// <summary>One reference ready to compare: a <see cref="FeatureComparison"/> per feature and for prediction_result, and its thresholds.</summary>
public sealed class PreparedReference
{
    private readonly Dictionary<(string? Feature, DriftMethod Method, int WindowSeconds), double> _thresholds = [];

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
        foreach (var stored in reference.Thresholds)
        {
            _thresholds[(stored.Threshold.Feature, stored.Threshold.Method, stored.WindowSeconds)] = stored.Threshold.Threshold;
        }
    }

    public string Name { get; }

    /// <summary>The reference's features that held values.</summary>
    public IReadOnlyDictionary<string, FeatureComparison> Features { get; }

    public FeatureComparison? Prediction { get; }

    /// <summary>The adaptive threshold of a feature (null: prediction_result) for windows of <paramref name="windowSeconds"/>:
    /// the one derived for that size, else for every size, else the method's floor.</summary>
    public double Threshold(string? feature, DriftMethod method, int windowSeconds) =>
        _thresholds.TryGetValue((feature, method, windowSeconds), out var sized) ? sized
        : _thresholds.TryGetValue((feature, method, 0), out var any) ? any
        : method.Floor();
}
