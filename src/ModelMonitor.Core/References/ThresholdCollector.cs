using ModelMonitor.Core.Drift;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.References;

/// <summary>
/// The distances of a reference's own windows (or chunks) to the whole reference, window by window, and the adaptive
/// thresholds they give (<see cref="DriftThreshold"/>): windows are added one at a time, so a period of thousands of stored
/// windows needs one window in memory.
/// </summary>
public sealed class ThresholdCollector
{
    private readonly List<(string Name, FeatureComparison Comparison, List<FeatureDrift> Drifts)> _features = [];
    private readonly FeatureComparison? _prediction;
    private readonly List<FeatureDrift> _predictionDrifts = [];
    private readonly List<SketchPoint> _points = [];
    private readonly DriftScratch _scratch = new();

    public ThresholdCollector(ReferenceProfile reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        foreach (var (name, feature) in reference.Features.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            _features.Add((name, FeatureComparison.From(feature), []));
        }

        _prediction = reference.Prediction.Result.Count > 0
            ? FeatureComparison.FromNumbers(reference.Prediction.Result, reference.Prediction.NonFiniteCount)
            : null;
    }

    /// <summary>Windows added so far.</summary>
    public int Windows { get; private set; }

    public void Add(ReferenceProfile window)
    {
        ArgumentNullException.ThrowIfNull(window);
        Windows++;
        foreach (var (name, comparison, drifts) in _features)
        {
            if (window.Features.TryGetValue(name, out var values) && comparison.Compare(WindowValues.Of(values, _points), _scratch) is { } drift)
            {
                drifts.Add(drift);
            }
        }

        if (_prediction is not null
            && _prediction.Compare(WindowValues.OfNumbers(window.Prediction.Result, window.Prediction.NonFiniteCount, _points), _scratch) is { } result)
        {
            _predictionDrifts.Add(result);
        }
    }

    public List<ReferenceThreshold> Thresholds()
    {
        var thresholds = new List<ReferenceThreshold>();
        foreach (var (name, comparison, drifts) in _features)
        {
            Add(thresholds, name, comparison.ComparedAsNumbers ? DriftMethods.Numeric : DriftMethods.Categorical, drifts);
        }

        if (_prediction is not null)
        {
            Add(thresholds, null, DriftMethods.Numeric, _predictionDrifts);
        }

        return thresholds;
    }

    private static void Add(List<ReferenceThreshold> thresholds, string? feature, IReadOnlyList<DriftMethod> methods, List<FeatureDrift> drifts)
    {
        foreach (var method in methods)
        {
            var (threshold, windows, mean, sd) = DriftThreshold.Of([.. drifts.Select(d => d.Of(method))], method.Floor());
            thresholds.Add(new ReferenceThreshold(feature, method, threshold, windows, mean, sd));
        }
    }
}
