namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>
/// Request latencies in logarithmic buckets, safe to record from many threads without locks.
/// Bucket i covers [Min·γ^i, Min·γ^(i+1)) with γ = 1.02, so a quantile is reported to within 1% of
/// the true value (the bucket's geometric midpoint is at most √γ ≈ 1.01 away from any value in it)
/// for latencies between 10 µs and ~2 minutes; values outside are clamped into the end buckets.
/// </summary>
public sealed class LatencyHistogram
{
    private const double MinMilliseconds = 0.01;
    private static readonly double Gamma = 1.02;
    private static readonly double LogGamma = Math.Log(Gamma);
    private static readonly int BucketCount = (int)Math.Ceiling(Math.Log(120_000 / MinMilliseconds) / LogGamma) + 1;

    private readonly long[] _buckets = new long[BucketCount];
    private long _count;
    private long _maxTicks;

    public long Count => Interlocked.Read(ref _count);

    public TimeSpan Max => TimeSpan.FromTicks(Interlocked.Read(ref _maxTicks));

    public void Record(TimeSpan latency)
    {
        var ms = Math.Max(latency.TotalMilliseconds, MinMilliseconds);
        var index = Math.Min(BucketCount - 1, (int)(Math.Log(ms / MinMilliseconds) / LogGamma));
        Interlocked.Increment(ref _buckets[index]);
        Interlocked.Increment(ref _count);
        var ticks = latency.Ticks;
        var seen = Interlocked.Read(ref _maxTicks);
        while (ticks > seen)
        {
            var previous = Interlocked.CompareExchange(ref _maxTicks, ticks, seen);
            if (previous == seen)
            {
                break;
            }

            seen = previous;
        }
    }

    /// <summary>
    /// The latency at quantile <paramref name="q"/> in [0, 1] in milliseconds (the nearest-rank value's
    /// bucket midpoint), or null when nothing was recorded.
    /// </summary>
    public double? QuantileMilliseconds(double q)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(q, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(q, 1);
        var total = Count;
        if (total == 0)
        {
            return null;
        }

        // Nearest rank: the smallest value with at least q·n values at or below it.
        var rank = Math.Max(1, (long)Math.Ceiling(q * total));
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += Interlocked.Read(ref _buckets[i]);
            if (seen >= rank)
            {
                // The midpoint can overshoot the largest value seen in the top bucket.
                return Math.Min(MinMilliseconds * Math.Pow(Gamma, i + 0.5), Math.Max(Max.TotalMilliseconds, MinMilliseconds));
            }
        }

        return Max.TotalMilliseconds;
    }

    /// <summary>Moves everything recorded into a new histogram and starts empty (for per-interval figures).</summary>
    public LatencyHistogram Drain()
    {
        var drained = new LatencyHistogram();
        for (var i = 0; i < _buckets.Length; i++)
        {
            drained._buckets[i] = Interlocked.Exchange(ref _buckets[i], 0);
            drained._count += drained._buckets[i];
        }

        Interlocked.Add(ref _count, -drained._count);
        drained._maxTicks = Interlocked.Exchange(ref _maxTicks, 0);
        return drained;
    }
}
