using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Drift;

/// <summary>
/// A reference's numeric distribution prepared for comparisons (once per reference, then against every window): its
/// sketch as ascending points, its deciles and its range, each as the sketch represents it.
/// </summary>
/// <remarks>
/// Everything is compared at the sketch's resolution: a value stands for its bin's representative
/// (<see cref="DDSketch.Representative"/>), and both sides use the same bins (one relative accuracy everywhere), so a
/// value equal to the reference's maximum is in range and a value equal to a decile falls on the same side of it in the
/// reference and in the window. Against the same formulas on the raw values, only values that share a sketch bin
/// (±1% relative) with a decile, the minimum or the maximum can land in the neighbouring bin.
/// </remarks>
public sealed class NumericReference
{
    /// <summary>The quantiles whose values bound the PSI bins: the deciles.</summary>
    public static IReadOnlyList<double> EdgeQuantiles { get; } = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    private static readonly double[] EdgeLevels = [.. EdgeQuantiles];

    private readonly List<SketchPoint> _points = [];
    private readonly double[] _deciles = new double[EdgeLevels.Length];
    private readonly double[] _edges = new double[EdgeLevels.Length];
    private readonly double[] _psiShares = new double[EdgeLevels.Length + 1];
    private readonly double[] _jsShares = new double[EdgeLevels.Length + 3];
    private int _edgeCount;

    /// <summary>An empty reference, to <see cref="Load"/> (one instance reused for many references: no allocation each).</summary>
    public NumericReference()
    {
    }

    /// <summary>The reference's values, quantized: ascending (representative, count).</summary>
    public IReadOnlyList<SketchPoint> Points => _points;

    public long Count { get; private set; }

    /// <summary>The distinct deciles (several deciles fall on one value when a value is frequent), ascending.</summary>
    public ReadOnlySpan<double> Edges => _edges.AsSpan(0, _edgeCount);

    /// <summary>The representative of the reference's minimum and maximum.</summary>
    public double Min { get; private set; }

    public double Max { get; private set; }

    /// <summary>What the Wasserstein distance is divided by: the reference's standard deviation, else |mean| when that is
    /// 0 (a constant feature), else 1.</summary>
    public double Scale { get; private set; }

    /// <summary>The reference's shares of the PSI bins: (−∞, e₁], (e₁, e₂], …, (eₖ, +∞).</summary>
    internal ReadOnlySpan<double> PsiShares => _psiShares.AsSpan(0, _edgeCount + 1);

    /// <summary>The reference's shares of the Jensen-Shannon bins: (−∞, min), [min, e₁], (e₁, e₂], …, (eₖ, max], (max, +∞).</summary>
    internal ReadOnlySpan<double> JsShares => _jsShares.AsSpan(0, _edgeCount + 3);

    /// <summary>The prepared reference, or null when it holds no finite value.</summary>
    public static NumericReference? From(NumericDistribution distribution)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        if (distribution.Count == 0)
        {
            return null;
        }

        var reference = new NumericReference();
        reference.Load(distribution.Sketch, distribution.Moments.Min, distribution.Moments.Max, ScaleOf(distribution.Moments));
        return reference;
    }

    /// <summary>What the Wasserstein distance of a reference with these moments is divided by (see <see cref="Scale"/>).</summary>
    public static double ScaleOf(RunningMoments moments)
    {
        ArgumentNullException.ThrowIfNull(moments);
        return moments.SampleStdDev is { } sd && sd > 0 ? sd : Math.Abs(moments.Mean) > 0 ? Math.Abs(moments.Mean) : 1;
    }

    /// <summary>Prepares this instance for <paramref name="sketch"/> (not empty) with the reference's exact minimum, maximum
    /// and Wasserstein scale, replacing what it held.</summary>
    public void Load(DDSketch sketch, double min, double max, double scale)
    {
        ArgumentNullException.ThrowIfNull(sketch);
        if (sketch.IsEmpty)
        {
            throw new ArgumentException("A numeric reference needs values.", nameof(sketch));
        }

        sketch.CopyPoints(_points);
        Count = sketch.Count;
        sketch.Quantiles(EdgeLevels, _deciles);
        _edgeCount = 0;
        foreach (var decile in _deciles)
        {
            if (_edgeCount == 0 || decile > _edges[_edgeCount - 1])
            {
                _edges[_edgeCount++] = decile;
            }
        }

        Min = sketch.Representative(min);
        Max = sketch.Representative(max);
        Scale = scale;
        NumericDrift.Shares(this, _points, Count, _psiShares.AsSpan(0, _edgeCount + 1), _jsShares.AsSpan(0, _edgeCount + 3), out _);
    }
}

/// <summary>Drift of one numeric window against a reference, and its schema skew (values outside the reference's range).</summary>
public readonly record struct NumericDriftResult(double Psi, double JensenShannon, double Ks, double Wasserstein, double OutOfRangeRatio)
{
    public double Of(DriftMethod method) => method switch
    {
        DriftMethod.Psi => Psi,
        DriftMethod.JensenShannon => JensenShannon,
        DriftMethod.Ks => Ks,
        DriftMethod.Wasserstein => Wasserstein,
        _ => double.NaN,
    };
}

/// <summary>
/// The numeric drift measures, from two sketches' points (pure; the formulas are in README "Drift"):
/// <list type="bullet">
/// <item>PSI over 10 bins bounded by the reference's deciles e₁…e₉ (fewer when deciles coincide), a value x in the bin
/// (eᵢ₋₁, eᵢ]; empty shares replaced by 1e-4 (<see cref="Divergence.Psi"/>).</item>
/// <item>Jensen-Shannon distance (base 2) over the same bins, the first and last split at the reference's minimum and
/// maximum: (−∞, min), [min, e₁], …, (e₉, max], (max, +∞).</item>
/// <item>KS: D = max over x of |F_ref(x) − F_cur(x)|, F(x) the share of values ≤ x, over every bin of either sketch.</item>
/// <item>Wasserstein-1: ∫ |F_ref(x) − F_cur(x)| dx over the quantized values, divided by the reference's standard
/// deviation. Each value is within relative α (1%) of its bin's representative, so this differs from the exact
/// distance by at most α·(mean |x| of the reference + of the window) / that deviation.</item>
/// <item>Out-of-range ratio: the window's share of values below the reference's minimum or above its maximum.</item>
/// </list>
/// </summary>
public static class NumericDrift
{
    /// <summary>Compares the window <paramref name="current"/> (ascending points of its sketch, e.g.
    /// <see cref="DDSketch.CopyPoints"/>) with <paramref name="reference"/>; null when the window holds no value.</summary>
    public static NumericDriftResult? Compare(NumericReference reference, IReadOnlyList<SketchPoint> current)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(current);
        long count = 0;
        foreach (var point in current)
        {
            count += point.Count;
        }

        if (count == 0)
        {
            return null;
        }

        Span<double> psi = stackalloc double[reference.PsiShares.Length];
        Span<double> js = stackalloc double[reference.JsShares.Length];
        Shares(reference, current, count, psi, js, out var outOfRange);
        var (ks, wasserstein) = CumulativeDistances(reference.Points, reference.Count, current, count);
        return new NumericDriftResult(
            Divergence.Psi(reference.PsiShares, psi),
            Divergence.JensenShannonDistance(reference.JsShares, js),
            ks,
            wasserstein / reference.Scale,
            outOfRange);
    }

    /// <summary>The shares of <paramref name="points"/> in the reference's PSI and Jensen-Shannon bins, and the share
    /// outside the reference's range.</summary>
    internal static void Shares(NumericReference reference, IReadOnlyList<SketchPoint> points, long count, Span<double> psi, Span<double> js, out double outOfRange)
    {
        psi.Clear();
        js.Clear();
        var edges = reference.Edges;
        long outside = 0;
        foreach (var (value, n) in points)
        {
            var found = edges.BinarySearch(value);
            var bin = found >= 0 ? found : ~found; // the number of edges below the value: x ≤ eᵢ is in bin i
            psi[bin] += n;
            if (value < reference.Min)
            {
                js[0] += n;
                outside += n;
            }
            else if (value > reference.Max)
            {
                js[^1] += n;
                outside += n;
            }
            else
            {
                js[1 + bin] += n;
            }
        }

        for (var i = 0; i < psi.Length; i++)
        {
            psi[i] /= count;
        }

        for (var i = 0; i < js.Length; i++)
        {
            js[i] /= count;
        }

        outOfRange = (double)outside / count;
    }

    /// <summary>KS statistic and the (unnormalised) Wasserstein-1 distance of two ascending point lists, in one merge.</summary>
    internal static (double Ks, double Wasserstein) CumulativeDistances(IReadOnlyList<SketchPoint> a, long countA, IReadOnlyList<SketchPoint> b, long countB)
    {
        int i = 0, j = 0;
        long cumulativeA = 0, cumulativeB = 0;
        var ks = 0.0;
        var wasserstein = 0.0;
        var previous = double.NaN;
        var gap = 0.0; // |F_a − F_b| since the previous value
        while (i < a.Count || j < b.Count)
        {
            var value = i < a.Count && (j >= b.Count || a[i].Value <= b[j].Value) ? a[i].Value : b[j].Value;
            if (!double.IsNaN(previous))
            {
                wasserstein += gap * (value - previous);
            }

            while (i < a.Count && a[i].Value == value)
            {
                cumulativeA += a[i++].Count;
            }

            while (j < b.Count && b[j].Value == value)
            {
                cumulativeB += b[j++].Count;
            }

            gap = Math.Abs(((double)cumulativeA / countA) - ((double)cumulativeB / countB));
            ks = Math.Max(ks, gap);
            previous = value;
        }

        return (ks, wasserstein);
    }
}
