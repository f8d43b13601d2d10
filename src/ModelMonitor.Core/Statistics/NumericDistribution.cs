namespace ModelMonitor.Core.Statistics;

/// <summary>Moments and a quantile sketch over the same finite values.</summary>
public sealed class NumericDistribution
{
    /// <summary>The quantiles stored for every distribution: p05, p25, p50, p75, p95.</summary>
    public static IReadOnlyList<double> ReportedQuantiles { get; } = [0.05, 0.25, 0.50, 0.75, 0.95];

    public NumericDistribution()
        : this(new RunningMoments(), new DDSketch())
    {
    }

    private NumericDistribution(RunningMoments moments, DDSketch sketch)
    {
        Moments = moments;
        Sketch = sketch;
    }

    public RunningMoments Moments { get; }

    public DDSketch Sketch { get; }

    public long Count => Moments.Count;

    /// <summary>Approximate bytes held in memory (moments and sketch).</summary>
    public long EstimatedBytes => 120 + Sketch.EstimatedBytes;

    /// <summary>Replaces the content by stored parts (a database row: moments and a serialized sketch of the same values),
    /// reusing this object's memory. Throws <see cref="ArgumentException"/> when the parts do not agree (counts, or a sketch
    /// of another accuracy: merging needs one accuracy everywhere) and <see cref="FormatException"/> for a bad sketch.</summary>
    public void Load(long count, double mean, double scaledM2, double min, double max, int scaleExponent, ReadOnlySpan<byte> sketch)
    {
        if (count == 0)
        {
            Reset();
            return;
        }

        Moments.Load(count, mean, scaledM2, min, max, scaleExponent);
        Sketch.Load(sketch);
        if (Sketch.Count != count)
        {
            throw new ArgumentException($"The sketch holds {Sketch.Count} values but the moments {count}.", nameof(sketch));
        }
    }

    /// <summary>Empties the distribution (as new).</summary>
    public void Reset()
    {
        Moments.Reset();
        Sketch.Reset();
    }

    /// <summary>Adds a finite value.</summary>
    public void Add(double value)
    {
        Moments.Add(value);
        Sketch.Add(value);
    }

    public void Merge(NumericDistribution other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Moments.Merge(other.Moments);
        Sketch.Merge(other.Sketch);
    }

    /// <summary>
    /// The sketch's q-quantile clamped to [min, max]: the exact answer lies in that range, so clamping
    /// never increases the error. Null when empty.
    /// </summary>
    public double? Quantile(double q) =>
        Count == 0 ? null : Math.Clamp(Sketch.Quantile(q), Moments.Min, Moments.Max);

    /// <summary>The clamped quantiles (see <see cref="Quantile"/>) of the ascending <paramref name="qs"/>, in one pass;
    /// nothing is written when empty.</summary>
    public void Quantiles(ReadOnlySpan<double> qs, Span<double> results)
    {
        if (Count == 0)
        {
            return;
        }

        Sketch.Quantiles(qs, results);
        for (var i = 0; i < qs.Length; i++)
        {
            results[i] = Math.Clamp(results[i], Moments.Min, Moments.Max);
        }
    }
}
