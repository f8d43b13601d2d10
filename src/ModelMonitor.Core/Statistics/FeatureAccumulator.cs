using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Statistics;

/// <summary>
/// Everything kept for one feature in one window: presence counts, numeric distribution of finite
/// values, non-finite count, and categorical counts. Mergeable, so a window can be built from deltas,
/// partitions and smaller windows.
/// </summary>
public sealed class FeatureAccumulator
{
    public FeatureAccumulator(int categoryCapacity = CategoryCounter.DefaultCapacity)
        : this(new NumericDistribution(), new CategoryCounter(categoryCapacity))
    {
    }

    private FeatureAccumulator(NumericDistribution numeric, CategoryCounter categories)
    {
        Numeric = numeric;
        Categories = categories;
    }

    /// <summary>Records carrying a non-null value (finite, non-finite or categorical).</summary>
    public long ValueCount { get; private set; }

    /// <summary>Records that sent the feature as null.</summary>
    public long NullCount { get; private set; }

    /// <summary>Records naming the feature in default_values_used.</summary>
    public long DefaultCount { get; private set; }

    /// <summary>NaN and ±Infinity values, kept out of the numeric distribution.</summary>
    public long NonFiniteCount { get; private set; }

    /// <summary>String and boolean values.</summary>
    public long CategoricalCount => Categories.Total;

    public NumericDistribution Numeric { get; }

    public CategoryCounter Categories { get; }

    /// <summary>Rebuilds an accumulator from stored parts (a database row).</summary>
    public static FeatureAccumulator FromParts(
        long valueCount,
        long nullCount,
        long defaultCount,
        long nonFiniteCount,
        NumericDistribution numeric,
        IEnumerable<KeyValuePair<string, long>> categories,
        int categoryCapacity = CategoryCounter.DefaultCapacity)
    {
        ArgumentNullException.ThrowIfNull(numeric);
        ArgumentNullException.ThrowIfNull(categories);
        var counter = new CategoryCounter(categoryCapacity);
        foreach (var (label, count) in categories)
        {
            counter.Add(label, count);
        }

        return new FeatureAccumulator(numeric, counter)
        {
            ValueCount = valueCount,
            NullCount = nullCount,
            DefaultCount = defaultCount,
            NonFiniteCount = nonFiniteCount,
        };
    }

    /// <summary>Counts one value the model saw for this feature.</summary>
    public void Add(FeatureValue value)
    {
        switch (value.Kind)
        {
            case FeatureValueKind.Null:
                NullCount++;
                return;
            case FeatureValueKind.Number when double.IsFinite(value.Number):
                Numeric.Add(value.Number);
                break;
            case FeatureValueKind.Number:
                NonFiniteCount++;
                break;
            default:
                Categories.Add(value.CategoryLabel);
                break;
        }

        ValueCount++;
    }

    /// <summary>Counts one record that named this feature in default_values_used.</summary>
    public void AddDefault() => DefaultCount++;

    public void Merge(FeatureAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        ValueCount += other.ValueCount;
        NullCount += other.NullCount;
        DefaultCount += other.DefaultCount;
        NonFiniteCount += other.NonFiniteCount;
        Numeric.Merge(other.Numeric);
        Categories.Merge(other.Categories);
    }
}
