using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

public sealed class RunningMomentsTests
{
    private static RunningMoments Of(IEnumerable<double> values)
    {
        var moments = new RunningMoments();
        foreach (var value in values)
        {
            moments.Add(value);
        }

        return moments;
    }

    // Two-pass textbook answer, computed in decimal-free double but from the exact mean.
    private static (double Mean, double SampleVariance) TwoPass(double[] values)
    {
        var mean = values.Average();
        var m2 = values.Sum(v => (v - mean) * (v - mean));
        return (mean, m2 / (values.Length - 1));
    }

    [Theory]
    [MemberData(nameof(Distributions.Names), MemberType = typeof(Distributions))]
    public void Merging_parts_equals_the_one_pass_answer(string distribution)
    {
        var values = Distributions.Generate(distribution, 10_000, seed: 21);
        var onePass = Of(values);
        var merged = new RunningMoments();
        foreach (var chunk in values.Chunk(777))
        {
            merged.Merge(Of(chunk));
        }

        Assert.Equal(onePass.Count, merged.Count);
        Assert.Equal(onePass.Min, merged.Min);
        Assert.Equal(onePass.Max, merged.Max);
        Assert.Equal(onePass.Mean, merged.Mean, Math.Abs(onePass.Mean) * 1e-12 + 1e-12);
        Assert.Equal(onePass.M2, merged.M2, onePass.M2 * 1e-10 + 1e-12);

        var (mean, variance) = TwoPass(values);
        Assert.Equal(mean, onePass.Mean, Math.Abs(mean) * 1e-12 + 1e-12);
        Assert.Equal(variance, onePass.SampleVariance!.Value, variance * 1e-10 + 1e-12);
    }

    [Fact]
    public void Welford_stays_accurate_with_a_large_offset()
    {
        // Σx² − n·mean² would lose every digit here; Welford keeps them.
        double[] values = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16];
        var moments = Of(values);
        Assert.Equal(1e9 + 10, moments.Mean);
        Assert.Equal(30, moments.SampleVariance!.Value, 1e-6);
    }

    [Fact]
    public void Standard_deviation_is_the_sample_one_like_postgres_stddev()
    {
        var moments = Of([2, 4, 4, 4, 5, 5, 7, 9]);
        // Population stddev is 2; sample stddev is sqrt(32/7).
        Assert.Equal(Math.Sqrt(32.0 / 7), moments.SampleStdDev!.Value, 1e-12);
        Assert.Null(Of([3]).SampleStdDev);
        Assert.Null(new RunningMoments().SampleStdDev);
    }

    [Fact]
    public void Merging_with_empty_sides_changes_nothing()
    {
        var moments = Of([1, 2, 3]);
        moments.Merge(new RunningMoments());
        var empty = new RunningMoments();
        empty.Merge(moments);
        Assert.Equal(2, empty.Mean);
        Assert.Equal(2, empty.M2);
        Assert.Equal(1, empty.Min);
        Assert.Equal(3, empty.Max);
    }

    [Fact]
    public void Non_finite_values_are_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new RunningMoments().Add(double.NaN));

    [Fact]
    public void Inconsistent_stored_parts_are_refused() =>
        Assert.Throws<ArgumentException>(() => RunningMoments.FromParts(2, 1, -1, 0, 2));
}
