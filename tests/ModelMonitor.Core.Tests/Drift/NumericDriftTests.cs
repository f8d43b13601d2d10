using ModelMonitor.Core.Drift;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Tests.Statistics;

namespace ModelMonitor.Core.Tests.Drift;

/// <summary>
/// The sketch-based measures against the same formulas on the raw values, computed here from sorted arrays: equal within
/// the bounds the sketch's resolution gives (see <see cref="NumericDrift"/>), and textbook values for known shifts.
/// </summary>
public sealed class NumericDriftTests
{
    private static NumericDistribution Of(IEnumerable<double> values)
    {
        var distribution = new NumericDistribution();
        foreach (var value in values)
        {
            distribution.Add(value);
        }

        return distribution;
    }

    private static List<SketchPoint> Points(NumericDistribution distribution)
    {
        var points = new List<SketchPoint>();
        distribution.Sketch.CopyPoints(points);
        return points;
    }

    private static NumericDriftResult Compare(double[] reference, double[] current) =>
        NumericDrift.Compare(NumericReference.From(Of(reference))!, Points(Of(current)))!.Value;

    private static double[] Normal(int n, int seed, double mean, double sd)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => mean + (sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))];
    }

    [Fact]
    public void A_window_drawn_like_its_reference_is_at_distance_zero()
    {
        var values = Normal(10_000, seed: 1, mean: 50, sd: 10);
        var result = Compare(values, values);
        Assert.Equal(0, result.Psi, 12);
        Assert.Equal(0, result.JensenShannon, 12);
        Assert.Equal(0, result.Ks, 12);
        Assert.Equal(0, result.Wasserstein, 12);
        Assert.Equal(0, result.OutOfRangeRatio);
    }

    [Fact]
    public void A_window_entirely_above_the_reference_is_the_largest_drift()
    {
        var reference = Enumerable.Range(1, 1000).Select(i => (double)i).ToArray();
        var current = Enumerable.Range(10_001, 1000).Select(i => (double)i).ToArray();
        var result = Compare(reference, current);
        Assert.Equal(1, result.Ks, 12);
        Assert.Equal(1, result.JensenShannon, 12);
        Assert.Equal(1, result.OutOfRangeRatio);
        // Every window value in the last decile bin: PSI = Σ over nine bins of (1e-4 − pᵢ)·ln(1e-4/pᵢ) + (1 − p₁₀)·ln(1/p₁₀).
        Assert.True(result.Psi > 7, $"PSI {result.Psi}");
        // Every value moved by 10,000 ± 1% (the sketch), in units of the reference's deviation (288.8).
        Assert.InRange(result.Wasserstein, 10_000 * 0.99 / 288.82, 10_000 * 1.01 / 288.82);
    }

    [Fact]
    public void A_shift_of_half_a_deviation_gives_the_textbook_ks_and_wasserstein()
    {
        // Two normals of equal deviation shifted by δ = 0.5σ: KS = 2Φ(δ/2) − 1 = 0.19741, W₁ / σ = δ = 0.5.
        var result = Compare(Normal(200_000, seed: 2, mean: 100, sd: 10), Normal(200_000, seed: 3, mean: 105, sd: 10));
        Assert.Equal(0.19741, result.Ks, 0.01);
        Assert.Equal(0.5, result.Wasserstein, 0.02);
        Assert.InRange(result.OutOfRangeRatio, 0, 0.001);
    }

    [Fact]
    public void A_value_equal_to_the_reference_maximum_is_in_range_and_discrete_values_keep_their_side_of_a_decile()
    {
        double[] reference = [.. Enumerable.Range(0, 1000).Select(i => (double)(i % 4))]; // 0, 1, 2, 3 a quarter each
        var same = Compare(reference, [.. reference.Take(400)]);
        Assert.Equal(0, same.OutOfRangeRatio);
        Assert.Equal(0, same.Psi, 12);
        Assert.Equal(0, same.Ks, 12);

        var withFours = Compare(reference, [.. reference.Take(300), .. Enumerable.Repeat(4.0, 100)]);
        Assert.Equal(0.25, withFours.OutOfRangeRatio, 12);
        Assert.Equal(0.25, withFours.Ks, 12);
    }

    public static IEnumerable<object[]> Pairs() =>
    [
        ["normal", "normal"],
        ["lognormal", "lognormal"],
        ["mixed-sign", "mixed-sign"],
        ["with-zeros", "with-zeros"],
        ["exponential", "uniform"],
    ];

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Sketch_measures_match_the_raw_values_within_the_bounds_of_the_sketch(string referenceName, string currentName)
    {
        var reference = Distributions.Generate(referenceName, 100_000, seed: 11);
        // A shifted and stretched window, so that the distances are not zero.
        var current = Distributions.Generate(currentName, 50_000, seed: 12).Select(v => (v * 1.1) + 0.3).ToArray();
        var referenceDistribution = Of(reference);
        var prepared = NumericReference.From(referenceDistribution)!;
        var result = NumericDrift.Compare(prepared, Points(Of(current)))!.Value;
        var sketch = referenceDistribution.Sketch;
        var sortedReference = reference.Order().ToArray();
        var sortedCurrent = current.Order().ToArray();

        // Bins on the raw values: the exact deciles (lower nearest rank, as the sketch's quantiles), x ≤ eᵢ in bin i.
        var edges = NumericReference.EdgeQuantiles.Select(q => Distributions.ExactQuantile(sortedReference, q)).Distinct().ToArray();
        double[] RawShares(double[] values)
        {
            var shares = new double[edges.Length + 1];
            foreach (var v in values)
            {
                shares[edges.Count(e => e < v)] += 1.0 / values.Length;
            }

            return shares;
        }

        // A value can change bins only when it shares a sketch bin with an edge: the bound on each bin's share.
        double Ambiguous(double[] values) =>
            (double)values.Count(v => edges.Any(e => sketch.Representative(v) == sketch.Representative(e) && v != e)) / values.Length;

        var rawReference = RawShares(reference);
        var rawCurrent = RawShares(current);
        var sketchCurrent = new double[prepared.PsiShares.Length];
        NumericDrift.Shares(prepared, Points(Of(current)), current.Length, sketchCurrent, new double[prepared.JsShares.Length], out _);
        var bound = Ambiguous(current) + 1e-12;
        for (var i = 0; i < rawCurrent.Length; i++)
        {
            Assert.True(Math.Abs(rawCurrent[i] - sketchCurrent[i]) <= bound, $"bin {i}: raw {rawCurrent[i]}, sketch {sketchCurrent[i]}, bound {bound}");
            Assert.True(Math.Abs(rawReference[i] - prepared.PsiShares[i]) <= Ambiguous(reference) + 1e-12, $"reference bin {i}");
        }

        // PSI is a function of those shares; on these data sets it stays within 0.01 + 2% of the raw value (its logarithm
        // magnifies the change of a nearly empty bin).
        var rawPsi = Divergence.Psi(rawReference, rawCurrent);
        Assert.True(Math.Abs(rawPsi - result.Psi) <= 0.01 + (0.02 * rawPsi), $"PSI raw {rawPsi}, sketch {result.Psi}");

        // Jensen-Shannon over the same bins split at the reference's minimum and maximum: within 0.01.
        var (min, max) = (sortedReference[0], sortedReference[^1]);
        double[] RawJsShares(double[] values)
        {
            var shares = new double[edges.Length + 3];
            foreach (var v in values)
            {
                shares[v < min ? 0 : v > max ? shares.Length - 1 : 1 + edges.Count(e => e < v)] += 1.0 / values.Length;
            }

            return shares;
        }

        var rawJs = Divergence.JensenShannonDistance(RawJsShares(reference), RawJsShares(current));
        Assert.Equal(rawJs, result.JensenShannon, 0.01);

        // KS: within a sketch bin the order of values is lost, so D moves by at most the largest bin's share (both sides).
        var rawKs = ExactKs(sortedReference, sortedCurrent);
        var largestBin = LargestBinShare(Points(referenceDistribution)) + LargestBinShare(Points(Of(current)));
        Assert.True(Math.Abs(rawKs - result.Ks) <= largestBin, $"KS raw {rawKs}, sketch {result.Ks}, bound {largestBin}");

        // Wasserstein: each value within α of its representative, so W moves by at most α·(mean |x| of both sides) / σ.
        var rawW = ExactWasserstein(sortedReference, sortedCurrent) / prepared.Scale;
        var wBound = DDSketch.DefaultRelativeAccuracy * (reference.Average(Math.Abs) + current.Average(Math.Abs)) / prepared.Scale;
        Assert.True(Math.Abs(rawW - result.Wasserstein) <= wBound + 1e-9, $"W raw {rawW}, sketch {result.Wasserstein}, bound {wBound}");
    }

    private static double LargestBinShare(List<SketchPoint> points)
    {
        var total = points.Sum(p => p.Count);
        return points.Max(p => (double)p.Count / total);
    }

    /// <summary>max |F_a(x) − F_b(x)| over every value of either sample, F the share ≤ x.</summary>
    private static double ExactKs(double[] a, double[] b)
    {
        int i = 0, j = 0;
        var d = 0.0;
        while (i < a.Length || j < b.Length)
        {
            var x = i < a.Length && (j >= b.Length || a[i] <= b[j]) ? a[i] : b[j];
            while (i < a.Length && a[i] == x)
            {
                i++;
            }

            while (j < b.Length && b[j] == x)
            {
                j++;
            }

            d = Math.Max(d, Math.Abs(((double)i / a.Length) - ((double)j / b.Length)));
        }

        return d;
    }

    /// <summary>∫ |F_a − F_b| dx over the two empirical distributions (scipy.stats.wasserstein_distance).</summary>
    private static double ExactWasserstein(double[] a, double[] b)
    {
        var all = a.Concat(b).Order().ToArray();
        double w = 0;
        int i = 0, j = 0;
        for (var k = 0; k < all.Length - 1; k++)
        {
            while (i < a.Length && a[i] <= all[k])
            {
                i++;
            }

            while (j < b.Length && b[j] <= all[k])
            {
                j++;
            }

            w += Math.Abs(((double)i / a.Length) - ((double)j / b.Length)) * (all[k + 1] - all[k]);
        }

        return w;
    }
}
