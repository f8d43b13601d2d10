using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Drift;

/// <summary>What a window holds of one feature (or of prediction_result), as the drift measures read it.</summary>
/// <param name="Points">The window's finite numbers, quantized: its sketch's ascending points.</param>
/// <param name="Categories">Its stored top string and boolean values (with or without <c>__other__</c>).</param>
/// <param name="CategoricalCount">All its string and boolean values.</param>
/// <param name="Numbers">Numeric values, non-finite ones included (for the observed type).</param>
/// <param name="Booleans">Boolean values (part of <paramref name="CategoricalCount"/>).</param>
public readonly record struct WindowValues(
    IReadOnlyList<SketchPoint> Points,
    IReadOnlyList<KeyValuePair<string, long>> Categories,
    long CategoricalCount,
    long Numbers,
    long Booleans)
{
    public ValueTypes Types => ObservedType.Of(Numbers, CategoricalCount - Booleans, Booleans);

    /// <summary>The values of an accumulator (a chunk of an upload, a stored window merged into a reference's).</summary>
    public static WindowValues Of(FeatureAccumulator accumulator, List<SketchPoint> points)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(points);
        accumulator.Numeric.Sketch.CopyPoints(points);
        return new WindowValues(points, accumulator.Categories.Top(), accumulator.CategoricalCount,
            accumulator.Numeric.Count + accumulator.NonFiniteCount, accumulator.BooleanCount);
    }

    /// <summary>The values of prediction_result in a window (numbers only).</summary>
    public static WindowValues OfNumbers(NumericDistribution distribution, long nonFinite, List<SketchPoint> points)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        ArgumentNullException.ThrowIfNull(points);
        distribution.Sketch.CopyPoints(points);
        return new WindowValues(points, [], 0, distribution.Count + nonFinite, 0);
    }
}

/// <summary>One window's drift and schema skew against one reference feature. A distance is NaN when it does not apply
/// (a numeric method on a categorical feature, or a window without values of the compared kind).</summary>
public readonly record struct FeatureDrift(
    bool ComparedAsNumbers,
    double Psi,
    double JensenShannon,
    double Ks,
    double Wasserstein,
    double Linf,
    double OutOfRangeRatio,
    double UnseenCategoryRatio,
    bool TypeMismatch)
{
    /// <summary>The methods that apply to this feature, in label order of the metrics.</summary>
    public IReadOnlyList<DriftMethod> Methods => ComparedAsNumbers ? DriftMethods.Numeric : DriftMethods.Categorical;

    public double Of(DriftMethod method) => method switch
    {
        DriftMethod.Psi => Psi,
        DriftMethod.JensenShannon => JensenShannon,
        DriftMethod.Ks => Ks,
        DriftMethod.Wasserstein => Wasserstein,
        DriftMethod.Linf => Linf,
        _ => double.NaN,
    };
}

/// <summary>
/// A reference's feature (or prediction_result) kept for comparisons with many windows: numeric features (most of the
/// reference's values numbers, <see cref="ObservedType.ComparedAsNumbers"/>) by <see cref="NumericDrift"/>, the others by
/// <see cref="CategoricalDrift"/>. It keeps the reference's sketch serialized (a few bytes per bin) and prepares it
/// (points, deciles, shares) into a reused <see cref="DriftScratch"/> at each comparison: an exporter holding every
/// feature of every model's references keeps hundreds of bytes per feature, not the prepared kilobytes.
/// </summary>
public sealed class FeatureComparison
{
    private readonly byte[]? _sketch;
    private readonly double _min;
    private readonly double _max;
    private readonly double _scale;
    private readonly IReadOnlyList<KeyValuePair<string, long>> _categories;
    private readonly long _categoricalCount;

    private FeatureComparison(ValueTypes types, bool asNumbers, NumericDistribution numeric, IReadOnlyList<KeyValuePair<string, long>> categories, long categoricalCount)
    {
        Types = types;
        ComparedAsNumbers = asNumbers;
        if (asNumbers && numeric.Count > 0)
        {
            _sketch = numeric.Sketch.Serialize();
            (_min, _max, _scale) = (numeric.Moments.Min, numeric.Moments.Max, NumericReference.ScaleOf(numeric.Moments));
        }

        // Categories are kept for categorical comparisons only (a numeric feature's stray strings count as a type mismatch).
        _categories = categories;
        _categoricalCount = asNumbers ? 0 : categoricalCount;
    }

    /// <summary>The kinds of values the reference held.</summary>
    public ValueTypes Types { get; }

    public bool ComparedAsNumbers { get; }

    /// <summary>Approximate bytes held (for the exporter's memory figures).</summary>
    public long EstimatedBytes => 64 + (_sketch is null ? 0 : 24 + _sketch.Length) + (_categories.Count * 48L);

    public static FeatureComparison From(FeatureAccumulator reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var asNumbers = ObservedType.ComparedAsNumbers(reference.Numeric.Count, reference.CategoricalCount - reference.BooleanCount, reference.BooleanCount);
        return new FeatureComparison(ObservedType.Of(reference), asNumbers, reference.Numeric,
            asNumbers ? [] : reference.Categories.Top(), reference.CategoricalCount);
    }

    /// <summary>prediction_result of a reference: always numbers.</summary>
    public static FeatureComparison FromNumbers(NumericDistribution reference, long nonFinite)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return new FeatureComparison(ObservedType.Of(reference.Count + nonFinite, 0, 0), true, reference, [], 0);
    }

    /// <summary>The drift of <paramref name="window"/>; null when there is nothing to compare (the reference or the window
    /// holds no value of the compared kind) and no type mismatch to report. <paramref name="scratch"/>: reused memory
    /// (one per thread); a new one when null.</summary>
    public FeatureDrift? Compare(in WindowValues window, DriftScratch? scratch = null)
    {
        var mismatch = ObservedType.Mismatch(Types, window.Types);
        if (ComparedAsNumbers)
        {
            var numeric = _sketch is null ? null : NumericDrift.Compare((scratch ?? new DriftScratch()).Prepare(_sketch, _min, _max, _scale), window.Points);
            if (numeric is not { } n)
            {
                return mismatch ? new FeatureDrift(true, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, true) : null;
            }

            return new FeatureDrift(true, n.Psi, n.JensenShannon, n.Ks, n.Wasserstein, double.NaN, n.OutOfRangeRatio, double.NaN, mismatch);
        }

        if (CategoricalDrift.Compare(_categories, _categoricalCount, window.Categories, window.CategoricalCount) is not { } c)
        {
            return mismatch ? new FeatureDrift(false, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, true) : null;
        }

        return new FeatureDrift(false, c.Psi, c.JensenShannon, double.NaN, double.NaN, c.Linf, double.NaN, c.UnseenCategoryRatio, mismatch);
    }
}

/// <summary>Memory reused across comparisons on one thread: a sketch to load references into and their prepared form.</summary>
public sealed class DriftScratch
{
    private readonly DDSketch _sketch = new();
    private readonly NumericReference _reference = new();

    internal NumericReference Prepare(byte[] sketch, double min, double max, double scale)
    {
        _sketch.Load(sketch);
        _reference.Load(_sketch, min, max, scale);
        return _reference;
    }
}
