using System.Buffers.Binary;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Shadows;

/// <summary>The levels of <see cref="ShadowSummary.AbsDiffQuantiles"/>, ascending.</summary>
public static class ShadowQuantiles
{
    public static readonly double[] AbsDiff = [0.5, 0.9, 0.95, 0.99];
}

/// <summary>
/// What the comparison of two models of one predictor over a window reports, from n pairs (a_i, b_i) of their predictions
/// of the same prediction_id, d_i = b_i − a_i. Null: undefined (no pair; a constant side for the correlation; no binary
/// threshold for the agreement).
/// </summary>
/// <param name="Pairs">n.</param>
/// <param name="DiffMean">(1/n) Σ d_i = mean(b) − mean(a); exact up to floating-point rounding.</param>
/// <param name="AbsDiffMean">(1/n) Σ |d_i|; exact up to rounding.</param>
/// <param name="AbsDiffQuantiles">Quantiles of |d_i| from a DDSketch: within 1 % relative error of the exact order statistic
/// of rank ⌊q·(n − 1)⌋ (the lower nearest rank), for |d| ≥ 2.2e−308 (smaller differences are counted as 0).</param>
/// <param name="Correlation">Pearson r = C_ab / √(M2_a · M2_b), with C_ab = Σ (a_i − ā)(b_i − b̄) and M2 = Σ (x_i − x̄)²
/// kept by Welford updates and merged with Chan's formulas (numerically stable; exact up to rounding); null when either side
/// is constant.</param>
/// <param name="AgreementRatio">Binary predictors: the share of pairs whose two scores are on the same side of the threshold
/// (both ≥ t or both &lt; t). Exact.</param>
public sealed record ShadowSummary(
    long Pairs,
    double? DiffMean,
    double? AbsDiffMean,
    IReadOnlyList<(double Quantile, double Value)> AbsDiffQuantiles,
    double? Correlation,
    double? AgreementRatio);

/// <summary>
/// The mergeable state of the comparison of two models (a, b) of one predictor over one window: count, means, second moments
/// and co-moment of the pairs, Σ|b − a|, a DDSketch of |b − a| and, for binary predictors, the pairs on the same side of the
/// threshold. <see cref="Merge"/> gives exactly the state of the union of the pairs (up to rounding); formulas and bounds on
/// <see cref="ShadowSummary"/>. Pairs never need retracting (the first prediction of a (prediction_id, model) counts), so
/// the stable Welford/Chan updates are used rather than plain sums.
/// </summary>
public sealed class ShadowAccumulator
{
    /// <summary>The first byte of every serialized accumulator; bump it when the format changes.</summary>
    public const byte SerializationVersion = 1;

    private const int FixedBytes = 1 + (8 * 3) + (8 * 6);

    private long _count;
    private double _meanA, _meanB, _m2A, _m2B, _coMoment, _sumAbsDiff;
    private long _agreeing, _judged;
    private readonly DDSketch _absDiff = new();

    public long Count => _count;

    /// <summary>Adds one pair: a is the prediction of model a, b that of model b (of the same prediction_id).</summary>
    /// <param name="threshold">Binary predictors: the score at or above which a prediction is positive; null otherwise.</param>
    public void Add(double a, double b, double? threshold)
    {
        if (!double.IsFinite(a) || !double.IsFinite(b))
        {
            throw new ArgumentOutOfRangeException(nameof(a), "Both predictions of a pair must be finite.");
        }
        _count++;
        var deltaA = a - _meanA;
        _meanA += deltaA / _count;
        var deltaB = b - _meanB;
        _meanB += deltaB / _count;
        _m2A += deltaA * (a - _meanA);
        _m2B += deltaB * (b - _meanB);
        _coMoment += deltaA * (b - _meanB);
        var absDiff = Math.Abs(b - a);
        _sumAbsDiff += absDiff;
        _absDiff.Add(absDiff);
        if (threshold is { } t)
        {
            _judged++;
            if (a >= t == b >= t)
            {
                _agreeing++;
            }
        }
    }

    /// <summary>Adds another window's (or batch's) pairs of the same two models.</summary>
    public void Merge(ShadowAccumulator other)
    {
        if (other._count == 0)
        {
            return;
        }
        if (_count == 0)
        {
            (_meanA, _meanB, _m2A, _m2B, _coMoment) = (other._meanA, other._meanB, other._m2A, other._m2B, other._coMoment);
        }
        else
        {
            double n1 = _count, n2 = other._count, n = n1 + n2;
            var deltaA = other._meanA - _meanA;
            var deltaB = other._meanB - _meanB;
            var weight = n1 * n2 / n;
            _m2A += other._m2A + (deltaA * deltaA * weight);
            _m2B += other._m2B + (deltaB * deltaB * weight);
            _coMoment += other._coMoment + (deltaA * deltaB * weight);
            _meanA += deltaA * n2 / n;
            _meanB += deltaB * n2 / n;
        }
        _count += other._count;
        _sumAbsDiff += other._sumAbsDiff;
        _agreeing += other._agreeing;
        _judged += other._judged;
        _absDiff.Merge(other._absDiff);
    }

    public ShadowSummary Summarize()
    {
        if (_count == 0)
        {
            return new ShadowSummary(0, null, null, [], null, null);
        }
        Span<double> values = stackalloc double[ShadowQuantiles.AbsDiff.Length];
        _absDiff.Quantiles(ShadowQuantiles.AbsDiff, values);
        var quantiles = new (double, double)[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            quantiles[i] = (ShadowQuantiles.AbsDiff[i], values[i]);
        }
        var spread = Math.Sqrt(_m2A * _m2B);
        double? correlation = spread > 0 && double.IsFinite(spread) ? Math.Clamp(_coMoment / spread, -1, 1) : null;
        return new ShadowSummary(_count, _meanB - _meanA, _sumAbsDiff / _count, quantiles, correlation,
            _judged > 0 ? (double)_agreeing / _judged : null);
    }

    /// <summary>Version byte; count, agreeing, judged (int64); ā, b̄, M2_a, M2_b, C_ab, Σ|d| (IEEE-754); the sketch of |d|;
    /// all little endian.</summary>
    public byte[] Serialize()
    {
        var sketch = _absDiff.Serialize();
        var buffer = new byte[FixedBytes + sketch.Length];
        buffer[0] = SerializationVersion;
        var span = buffer.AsSpan(1);
        foreach (var value in (long[])[_count, _agreeing, _judged])
        {
            BinaryPrimitives.WriteInt64LittleEndian(span, value);
            span = span[8..];
        }
        foreach (var value in (double[])[_meanA, _meanB, _m2A, _m2B, _coMoment, _sumAbsDiff])
        {
            BinaryPrimitives.WriteDoubleLittleEndian(span, value);
            span = span[8..];
        }
        sketch.CopyTo(span);
        return buffer;
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote; <see cref="FormatException"/> on anything else.</summary>
    public static ShadowAccumulator Deserialize(ReadOnlySpan<byte> data)
    {
        if (data.Length < FixedBytes || data[0] != SerializationVersion)
        {
            throw new FormatException($"Not a serialized shadow accumulator (version {SerializationVersion}, at least {FixedBytes} bytes).");
        }
        var accumulator = new ShadowAccumulator();
        var span = data[1..];
        accumulator._count = ReadLong(ref span);
        accumulator._agreeing = ReadLong(ref span);
        accumulator._judged = ReadLong(ref span);
        accumulator._meanA = ReadDouble(ref span);
        accumulator._meanB = ReadDouble(ref span);
        accumulator._m2A = ReadDouble(ref span);
        accumulator._m2B = ReadDouble(ref span);
        accumulator._coMoment = ReadDouble(ref span);
        accumulator._sumAbsDiff = ReadDouble(ref span);
        accumulator._absDiff.Load(span);
        if (accumulator._count < 0 || accumulator._judged > accumulator._count || accumulator._agreeing > accumulator._judged
            || accumulator._absDiff.Count != accumulator._count)
        {
            throw new FormatException("A serialized shadow accumulator whose counts disagree.");
        }
        return accumulator;
    }

    private static long ReadLong(ref ReadOnlySpan<byte> span)
    {
        var value = BinaryPrimitives.ReadInt64LittleEndian(span);
        span = span[8..];
        return value;
    }

    private static double ReadDouble(ref ReadOnlySpan<byte> span)
    {
        var value = BinaryPrimitives.ReadDoubleLittleEndian(span);
        span = span[8..];
        return value;
    }
}
