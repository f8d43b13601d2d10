using System.Numerics;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

/// <summary>
/// Finite input up to the double range gives finite, correct moments. The exact answers are computed here with
/// integers: every double is k·2^-1074 for an integer k, so sums and sums of squares of k are exact.
/// </summary>
public sealed class ExtremeMomentsTests
{
    private const int Shift = 1074;

    private static BigInteger Exact(double value)
    {
        // value = mantissa · 2^exponent exactly; scaled by 2^1074 it is an integer.
        var bits = BitConverter.DoubleToInt64Bits(value);
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xFFFFFFFFFFFFFL;
        var k = exponent == 0 ? new BigInteger(mantissa) : new BigInteger(mantissa | (1L << 52)) << (exponent - 1);
        return value < 0 ? -k : k;
    }

    /// <summary>Asserts mean and sample standard deviation against the exact ones: the mean within 1e-14 of the largest
    /// magnitude (its rounding scale), the variance within a relative 1e-13.</summary>
    private static void AssertExact(double[] values, RunningMoments moments, string context)
    {
        var n = values.Length;
        var k = values.Select(Exact).ToArray();
        var sum = k.Aggregate(BigInteger.Zero, (a, b) => a + b);
        var squares = k.Aggregate(BigInteger.Zero, (a, b) => a + (b * b));
        var largest = k.Select(BigInteger.Abs).Max();
        var exponent = Math.Max(0, Math.ILogB(values.Max(Math.Abs)) - RunningMoments.UnscaledExponentLimit + 1);

        Assert.Equal(n, moments.Count);
        Assert.Equal(values.Min(), moments.Min);
        Assert.Equal(values.Max(), moments.Max);
        Assert.True(double.IsFinite(moments.Mean), $"{context}: mean {moments.Mean}");
        Assert.True(double.IsFinite(moments.ScaledM2), $"{context}: scaled m2 {moments.ScaledM2}");
        Assert.Equal(exponent, moments.ScaleExponent);
        // |mean·n − Σk| ≤ 1e-14 · max|k| · n
        var meanError = BigInteger.Abs((Exact(moments.Mean) * n) - sum);
        Assert.True(meanError * BigInteger.Pow(10, 14) <= largest * n, $"{context}: mean {moments.Mean:R} is off the exact Σk/n by {(double)(meanError / n)}·2^-{Shift}");

        // Exact sample variance · n(n−1) · 2^2148 = nΣk² − (Σk)².
        var variance = (n * squares) - (sum * sum);
        var stddev = moments.SampleStdDev!.Value;
        Assert.True(double.IsFinite(stddev), $"{context}: stddev {stddev}");
        var computed = Exact(stddev) * Exact(stddev) * n * (n - 1);
        Assert.True(BigInteger.Abs(computed - variance) * BigInteger.Pow(10, 13) <= variance,
            $"{context}: stddev {stddev:R} is not within 1e-13 of the exact variance's square root");
    }

    private static RunningMoments Of(IEnumerable<double> values)
    {
        var moments = new RunningMoments();
        foreach (var value in values)
        {
            moments.Add(value);
        }
        return moments;
    }

    [Fact]
    public void The_fuzzers_five_values_give_finite_exact_mean_and_stddev()
    {
        double[] values = [1e308, -1e308, 1e308, 5e-324, 1.7976931348623157e308];

        var moments = Of(values);

        AssertExact(values, moments, "one pass");
        Assert.Equal(double.PositiveInfinity, moments.M2); // ~1.3e616: beyond the double range, kept scaled
    }

    public static TheoryData<int> Seeds => [1, 2, 3, 4, 5];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Values_across_the_whole_double_range_are_exact_one_pass_merged_and_after_a_round_trip_through_storage(int seed)
    {
        var random = new Random(seed);
        // Mixed signs and magnitudes from subnormal to the top of the range, most of them huge.
        var values = Enumerable.Range(0, 500).Select(i => (random.Next(2) == 0 ? -1 : 1) * (random.Next(4) switch
        {
            0 => Math.ScaleB(1 + random.NextDouble(), random.Next(-1074, 1024)),
            1 => double.MaxValue * random.NextDouble(),
            2 => Math.ScaleB(1 + random.NextDouble(), random.Next(440, 460)), // around the scaling threshold
            _ => 1e308,
        })).Where(double.IsFinite).ToArray();

        AssertExact(values, Of(values), $"seed {seed}, one pass");

        // Parts added and merged in any order, some through their stored form (mean, scaled m2, exponent).
        var merged = new RunningMoments();
        foreach (var (part, i) in values.Chunk(37).Select((part, i) => (part, i)))
        {
            var moments = Of(part);
            if (i % 2 == 0)
            {
                moments = RunningMoments.FromParts(moments.Count, moments.Mean, moments.ScaledM2, moments.Min, moments.Max, moments.ScaleExponent);
            }
            merged.Merge(moments);
        }
        AssertExact(values, merged, $"seed {seed}, merged");
    }

    [Fact]
    public void Ordinary_values_are_not_scaled_and_give_bit_for_bit_the_plain_algorithm()
    {
        var values = Distributions.Generate("normal", 1_000, seed: 3).Select(v => v * 1e120).ToArray();
        var moments = Of(values);

        Assert.Equal(0, moments.ScaleExponent);
        double mean = 0, m2 = 0;
        for (var i = 0; i < values.Length; i++)
        {
            var delta = values[i] - mean;
            mean += delta / (i + 1);
            m2 += delta * (values[i] - mean);
        }
        Assert.Equal(mean, moments.Mean);
        Assert.Equal(m2, moments.M2);
    }

    [Fact]
    public void Quantiles_of_extreme_values_stay_within_the_sketch_bound()
    {
        double[] values = [1e308, -1e308, 1e308, 5e-324, 1.7976931348623157e308, -5e-324, 3e-310, 1.5e308, -1.7976931348623157e308];
        var distribution = new NumericDistribution();
        foreach (var value in values)
        {
            distribution.Add(value);
        }

        var sorted = values.Order().ToArray();
        foreach (var q in Distributions.CheckedQuantiles)
        {
            var exact = Distributions.ExactQuantile(sorted, q);
            var estimate = distribution.Quantile(q)!.Value;
            // α relative, except below the smallest normal double, which the sketch counts as zero (an absolute bound).
            var allowed = Math.Max(DDSketch.DefaultRelativeAccuracy * Math.Abs(exact) * (1 + 1e-9), DDSketch.MinIndexableValue);
            Assert.True(double.IsFinite(estimate) && Math.Abs(estimate - exact) <= allowed, $"q={q}: exact {exact:R}, estimate {estimate:R}");
        }
    }
}
