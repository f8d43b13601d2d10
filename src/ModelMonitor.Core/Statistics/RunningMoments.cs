namespace ModelMonitor.Core.Statistics;

/// <summary>
/// Count, mean, sum of squared deviations (M2), min and max of finite values, numerically stable and
/// mergeable: Welford's update for one value, Chan, Golub and LeVeque's pairwise formula for a merge.
/// </summary>
public sealed class RunningMoments
{
    public long Count { get; private set; }

    /// <summary>The mean; 0 while <see cref="Count"/> is 0.</summary>
    public double Mean { get; private set; }

    /// <summary>Σ (x − mean)², the quantity Welford's method keeps instead of Σ x² (no cancellation).</summary>
    public double M2 { get; private set; }

    /// <summary>The smallest value; +∞ while empty.</summary>
    public double Min { get; private set; } = double.PositiveInfinity;

    /// <summary>The largest value; −∞ while empty.</summary>
    public double Max { get; private set; } = double.NegativeInfinity;

    /// <summary>Sample variance M2 / (n − 1), as Postgres var_samp(); null below two values.</summary>
    public double? SampleVariance => Count < 2 ? null : M2 / (Count - 1);

    /// <summary>Sample standard deviation, as Postgres stddev() (= stddev_samp); null below two values.</summary>
    public double? SampleStdDev => SampleVariance is { } variance ? Math.Sqrt(variance) : null;

    /// <summary>Rebuilds moments from their stored parts (e.g. a database row).</summary>
    public static RunningMoments FromParts(long count, double mean, double m2, double min, double max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return new RunningMoments();
        }

        if (!double.IsFinite(mean) || !double.IsFinite(m2) || m2 < 0 || !double.IsFinite(min) || !double.IsFinite(max) || min > max)
        {
            throw new ArgumentException($"Inconsistent moments: count {count}, mean {mean}, m2 {m2}, min {min}, max {max}.");
        }

        return new RunningMoments { Count = count, Mean = mean, M2 = m2, Min = min, Max = max };
    }

    /// <summary>Adds one finite value (Welford).</summary>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values enter the moments.");
        }

        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        // Uses the deviation from both the old and the new mean: M2 += (x − mean_old)(x − mean_new).
        M2 += delta * (value - Mean);
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
    }

    /// <summary>
    /// Merges another set (Chan et al.): with δ = mean_b − mean_a and n = n_a + n_b,
    /// mean = mean_a + δ·n_b/n and M2 = M2_a + M2_b + δ²·n_a·n_b/n.
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
            (Count, Mean, M2, Min, Max) = (other.Count, other.Mean, other.M2, other.Min, other.Max);
            return;
        }

        double na = Count, nb = other.Count;
        var n = na + nb;
        var delta = other.Mean - Mean;
        Mean += delta * (nb / n);
        M2 += other.M2 + (delta * delta * (na * nb / n));
        Count += other.Count;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    public RunningMoments Clone() => new() { Count = Count, Mean = Mean, M2 = M2, Min = Min, Max = Max };
}
