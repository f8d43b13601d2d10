namespace ModelMonitor.Core.Statistics;

/// <summary>
/// Count, mean, sum of squared deviations (M2), min and max of finite values, numerically stable and
/// mergeable: Welford's update for one value, Chan, Golub and LeVeque's pairwise formula for a merge.
/// </summary>
/// <remarks>
/// Any finite input gives finite moments. Near the top of the double range the deviation x − mean (up to
/// 2 × 1.8e308) and its square (1e616) overflow, so the values are kept divided by a scale s = 2^k: mean/s and
/// M2/s². k is 0 (no scaling at all, bit-for-bit the plain algorithm) until a value reaches 2^448 in magnitude,
/// then the smallest k that brings every value below 2^448; it never decreases. With |x/s| &lt; 2^448 the
/// squared deviations stay below 2^898 and their sum over up to 2^63 values below 2^1024. Dividing by a power of
/// two is exact (until values underflow to subnormals, which are then below the relative rounding of the
/// largest value and cannot change the result), so the relative error is the plain algorithm's: a few units of
/// 1e-16 times the condition number. M2 itself (up to ~1e616 × n) may not be representable: storage keeps
/// <see cref="ScaledM2"/> and <see cref="ScaleExponent"/>; the mean and the standard deviation (at most the range)
/// always are.
/// </remarks>
public sealed class RunningMoments
{
    /// <summary>Values whose binary exponent reaches this are scaled down.</summary>
    public const int UnscaledExponentLimit = 448;

    private static readonly double UnscaledLimit = Math.ScaleB(1.0, UnscaledExponentLimit);

    private double _scaledMean;
    private double _scaledM2;

    public long Count { get; private set; }

    /// <summary>k, the power of two the values are divided by: true M2 = <see cref="ScaledM2"/> × 4^k.</summary>
    public int ScaleExponent { get; private set; }

    /// <summary>The mean; 0 while <see cref="Count"/> is 0.</summary>
    public double Mean => Math.ScaleB(_scaledMean, ScaleExponent);

    /// <summary>Σ (x − mean)², the quantity Welford's method keeps instead of Σ x² (no cancellation). +∞ when it is
    /// beyond the double range (only with values near it); <see cref="ScaledM2"/> is always finite.</summary>
    public double M2 => Math.ScaleB(_scaledM2, 2 * ScaleExponent);

    /// <summary>M2 / 4^<see cref="ScaleExponent"/>: what storage keeps, with the exponent.</summary>
    public double ScaledM2 => _scaledM2;

    /// <summary>The smallest value; +∞ while empty.</summary>
    public double Min { get; private set; } = double.PositiveInfinity;

    /// <summary>The largest value; −∞ while empty.</summary>
    public double Max { get; private set; } = double.NegativeInfinity;

    /// <summary>Sample variance M2 / (n − 1), as Postgres var_samp(); null below two values (+∞ beyond the double
    /// range, see <see cref="SampleStdDev"/>).</summary>
    public double? SampleVariance => Count < 2 ? null : M2 / (Count - 1);

    /// <summary>Sample standard deviation, as Postgres stddev() (= stddev_samp); null below two values. Always finite:
    /// computed in the scaled domain, then scaled back.</summary>
    public double? SampleStdDev => Count < 2 ? null : Math.ScaleB(Math.Sqrt(_scaledM2 / (Count - 1)), ScaleExponent);

    /// <summary>Rebuilds moments from their stored parts (e.g. a database row): the mean, M2 / 4^scaleExponent and k.</summary>
    public static RunningMoments FromParts(long count, double mean, double scaledM2, double min, double max, int scaleExponent = 0)
    {
        var moments = new RunningMoments();
        moments.Load(count, mean, scaledM2, min, max, scaleExponent);
        return moments;
    }

    /// <summary>Replaces this set by stored parts (see <see cref="FromParts"/>), without allocating.</summary>
    public void Load(long count, double mean, double scaledM2, double min, double max, int scaleExponent = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(scaleExponent);
        if (count == 0)
        {
            Reset();
            return;
        }

        if (!double.IsFinite(mean) || !double.IsFinite(scaledM2) || scaledM2 < 0 || !double.IsFinite(min) || !double.IsFinite(max) || min > max
            || scaleExponent > 1023)
        {
            throw new ArgumentException($"Inconsistent moments: count {count}, mean {mean}, m2 {scaledM2} × 4^{scaleExponent}, min {min}, max {max}.");
        }

        (Count, ScaleExponent, _scaledMean, _scaledM2, Min, Max) = (count, scaleExponent, Math.ScaleB(mean, -scaleExponent), scaledM2, min, max);
    }

    /// <summary>Empties the set (as new).</summary>
    public void Reset() =>
        (Count, ScaleExponent, _scaledMean, _scaledM2, Min, Max) = (0, 0, 0, 0, double.PositiveInfinity, double.NegativeInfinity);

    /// <summary>Adds one finite value (Welford).</summary>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values enter the moments.");
        }

        var x = value;
        if (ScaleExponent != 0 || Math.Abs(value) >= UnscaledLimit)
        {
            // Only near the top of the double range: ordinary values skip the exponent work (the aggregator's hot path).
            RescaleTo(RequiredExponent(value));
            x = Math.ScaleB(value, -ScaleExponent);
        }
        Count++;
        var delta = x - _scaledMean;
        _scaledMean += delta / Count;
        // Uses the deviation from both the old and the new mean: M2 += (x − mean_old)(x − mean_new).
        _scaledM2 += delta * (x - _scaledMean);
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
    }

    /// <summary>
    /// Merges another set (Chan et al.): with δ = mean_b − mean_a and n = n_a + n_b,
    /// mean = mean_a + δ·n_b/n and M2 = M2_a + M2_b + δ²·n_a·n_b/n (both sides at the larger scale).
    /// </summary>
    public void Merge(RunningMoments other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }

        if (Count == 0)
        {
            (Count, ScaleExponent, _scaledMean, _scaledM2, Min, Max) =
                (other.Count, other.ScaleExponent, other._scaledMean, other._scaledM2, other.Min, other.Max);
            return;
        }

        RescaleTo(other.ScaleExponent);
        var shift = other.ScaleExponent - ScaleExponent; // ≤ 0
        var otherMean = Math.ScaleB(other._scaledMean, shift);
        var otherM2 = Math.ScaleB(other._scaledM2, 2 * shift);
        double na = Count, nb = other.Count;
        var n = na + nb;
        var delta = otherMean - _scaledMean;
        _scaledMean += delta * (nb / n);
        _scaledM2 += otherM2 + (delta * delta * (na * nb / n));
        Count += other.Count;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    public RunningMoments Clone() => new()
    {
        Count = Count,
        ScaleExponent = ScaleExponent,
        _scaledMean = _scaledMean,
        _scaledM2 = _scaledM2,
        Min = Min,
        Max = Max,
    };

    /// <summary>The smallest k with |value| / 2^k below 2^<see cref="UnscaledExponentLimit"/>.</summary>
    private static int RequiredExponent(double value)
    {
        // ILogB is floor(log2 |value|); zero needs no scale (and its ILogB, int.MinValue, must not be offset).
        return value == 0 ? 0 : Math.Max(0, Math.ILogB(value) - UnscaledExponentLimit + 1);
    }

    private void RescaleTo(int exponent)
    {
        if (exponent <= ScaleExponent)
        {
            return;
        }

        var shift = ScaleExponent - exponent;
        _scaledMean = Math.ScaleB(_scaledMean, shift);
        _scaledM2 = Math.ScaleB(_scaledM2, 2 * shift);
        ScaleExponent = exponent;
    }
}
