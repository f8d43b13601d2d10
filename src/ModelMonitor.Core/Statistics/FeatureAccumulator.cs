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

    /// <summary>Boolean values (part of <see cref="CategoricalCount"/>).</summary>
    public long BooleanCount { get; private set; }

    /// <summary>
    /// Values whose JSON type is not the majority type of the feature's values: ValueCount − max(numbers, strings,
    /// booleans), numbers being finite and non-finite ones. 0 when every value has one type. A numeric feature sent
    /// as a string by some callers shows up here (and splits into a numeric and a categorical population).
    /// </summary>
    public long TypeMismatchCount => TypeMismatches(ValueCount, Numeric.Count + NonFiniteCount, CategoricalCount - BooleanCount, BooleanCount);

    /// <summary>See <see cref="TypeMismatchCount"/>; the same formula as the feature_stats view.</summary>
    public static long TypeMismatches(long values, long numbers, long strings, long booleans) =>
        values - Math.Max(numbers, Math.Max(strings, booleans));

    public NumericDistribution Numeric { get; }

    public CategoryCounter Categories { get; }

    /// <summary>Approximate bytes held in memory, for the aggregator's bound on its unflushed delta.</summary>
    public long EstimatedBytes => 80 + Numeric.EstimatedBytes + (Categories.Total == 0 ? 200 : Categories.EstimatedBytes);

    /// <summary>Replaces the counts by stored ones (the numeric part is loaded through <see cref="Numeric"/>), reusing this
    /// object: what the aggregator's flush does for every row it reads back, without allocating an accumulator per row.</summary>
    public void LoadCounts(long valueCount, long nullCount, long defaultCount, long nonFiniteCount, long booleanCount, IEnumerable<KeyValuePair<string, long>> categories)
    {
        ArgumentNullException.ThrowIfNull(categories);
        (ValueCount, NullCount, DefaultCount, NonFiniteCount, BooleanCount) = (valueCount, nullCount, defaultCount, nonFiniteCount, booleanCount);
        Categories.Reset();
        foreach (var (label, count) in categories)
        {
            Categories.Add(label, count);
        }
    }

    /// <summary>Makes the accumulator what its stored row reads back as (categories beyond the stored top folded into
    /// "other"; everything else is stored exactly).</summary>
    public void KeepStoredForm() => Categories.KeepStoredForm();

    /// <summary>Empties the accumulator (as new), keeping its memory for reuse.</summary>
    public void Reset()
    {
        (ValueCount, NullCount, DefaultCount, NonFiniteCount, BooleanCount) = (0, 0, 0, 0, 0);
        Numeric.Reset();
        Categories.Reset();
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
            case FeatureValueKind.Logical:
                BooleanCount++;
                Categories.Add(value.CategoryLabel);
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
        BooleanCount += other.BooleanCount;
        Numeric.Merge(other.Numeric);
        Categories.Merge(other.Categories);
    }
}
