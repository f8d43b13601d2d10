using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.References;

/// <summary>
/// What a reference holds: per feature and for prediction_result the same mergeable statistics a window holds (counts,
/// moments, sketch, category counts), and how many rows (records) it was built from. Merging two profiles gives the
/// profile of both, so a production reference is its stored windows merged and an upload its rows added.
/// </summary>
public sealed class ReferenceProfile(int categoryCapacity)
{
    private readonly Dictionary<string, FeatureAccumulator> _features = new(StringComparer.Ordinal);

    public int CategoryCapacity => categoryCapacity;

    /// <summary>Rows (uploaded) or predictions (of a production period) the profile describes.</summary>
    public long RowCount { get; private set; }

    public IReadOnlyDictionary<string, FeatureAccumulator> Features => _features;

    /// <summary>prediction_result; its <see cref="ModelAccumulator.PredictionCount"/> counts the rows that had one.</summary>
    public ModelAccumulator Prediction { get; } = new();

    public bool IsEmpty => RowCount == 0;

    public FeatureAccumulator Feature(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_features.TryGetValue(name, out var accumulator))
        {
            accumulator = new FeatureAccumulator(categoryCapacity);
            _features.Add(name, accumulator);
        }

        return accumulator;
    }

    /// <summary>Counts one row (a record).</summary>
    public void AddRow() => RowCount++;

    /// <summary>Adds rows counted elsewhere (a stored window's predictions).</summary>
    public void AddRows(long rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        RowCount += rows;
    }

    public void Merge(ReferenceProfile other)
    {
        ArgumentNullException.ThrowIfNull(other);
        RowCount += other.RowCount;
        Prediction.Merge(other.Prediction);
        foreach (var (name, accumulator) in other._features)
        {
            Feature(name).Merge(accumulator);
        }
    }
}
