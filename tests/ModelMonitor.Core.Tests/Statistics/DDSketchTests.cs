using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

public sealed class DDSketchTests
{
    private const double Accuracy = DDSketch.DefaultRelativeAccuracy;

    // The guarantee is α relative error; the log computation at a bin edge may round into the
    // neighbouring bin, which costs at most a few ulps beyond α.
    private static void AssertWithinRelativeAccuracy(double[] values, DDSketch sketch, string context)
    {
        var sorted = values.Order().ToArray();
        Assert.Equal(values.Length, sketch.Count);
        foreach (var q in Distributions.CheckedQuantiles)
        {
            var exact = Distributions.ExactQuantile(sorted, q);
            var estimate = sketch.Quantile(q);
            var allowed = Accuracy * Math.Abs(exact) * (1 + 1e-9);
            Assert.True(
                Math.Abs(estimate - exact) <= allowed,
                $"{context}: q={q} exact={exact:R} estimate={estimate:R} relative error={Math.Abs(estimate - exact) / Math.Abs(exact):R}");
        }
    }

    private static DDSketch SketchOf(IEnumerable<double> values)
    {
        var sketch = new DDSketch();
        foreach (var value in values)
        {
            sketch.Add(value);
        }

        return sketch;
    }

    [Theory]
    [MemberData(nameof(Distributions.Names), MemberType = typeof(Distributions))]
    public void Every_quantile_is_within_one_percent_of_the_exact_quantile(string distribution)
    {
        foreach (var n in new[] { 1, 2, 3, 10, 1_000, 50_000 })
        {
            var values = Distributions.Generate(distribution, n, seed: n);
            AssertWithinRelativeAccuracy(values, SketchOf(values), $"{distribution} n={n}");
        }
    }

    [Theory]
    [MemberData(nameof(Distributions.Names), MemberType = typeof(Distributions))]
    public void Merged_sketches_keep_the_accuracy_of_the_union(string distribution)
    {
        var values = Distributions.Generate(distribution, 30_000, seed: 7);
        // Uneven parts, including an empty one, merged in a tree.
        var parts = new[] { values[..1], values[1..1], values[1..9_000], values[9_000..21_000], values[21_000..] };
        var merged = new DDSketch();
        foreach (var part in parts)
        {
            merged.Merge(SketchOf(part));
        }

        AssertWithinRelativeAccuracy(values, merged, distribution);
        Assert.Equal(SketchOf(values).Serialize(), merged.Serialize());
    }

    [Theory]
    [MemberData(nameof(Distributions.Names), MemberType = typeof(Distributions))]
    public void A_serialization_round_trip_keeps_every_quantile(string distribution)
    {
        var values = Distributions.Generate(distribution, 20_000, seed: 11);
        var sketch = SketchOf(values);
        var bytes = sketch.Serialize();
        var restored = DDSketch.Deserialize(bytes);

        AssertWithinRelativeAccuracy(values, restored, distribution);
        foreach (var q in Distributions.CheckedQuantiles)
        {
            Assert.Equal(sketch.Quantile(q), restored.Quantile(q));
        }

        Assert.Equal(bytes, restored.Serialize());

        // And merged after the round trip, as the aggregator does with a stored row.
        var other = Distributions.Generate(distribution, 5_000, seed: 12);
        restored.Merge(SketchOf(other));
        AssertWithinRelativeAccuracy([.. values, .. other], DDSketch.Deserialize(restored.Serialize()), distribution + " merged");
    }

    [Fact]
    public void Serialized_sketches_are_compact()
    {
        var sketch = SketchOf(Distributions.Generate("lognormal", 100_000, seed: 3));
        var bytes = sketch.Serialize();

        // About one byte of index delta and up to three of count per non-empty bin.
        Assert.True(bytes.Length < 20 + (sketch.BinCount * 4), $"{bytes.Length} bytes for {sketch.BinCount} bins");
        Assert.Equal(DDSketch.SerializationVersion, bytes[0]);
    }

    [Fact]
    public void Serializing_into_a_span_writes_the_same_bytes_within_the_stated_bound()
    {
        // The widest varints: magnitudes at both ends of the double range (index deltas of thousands of bins), both signs,
        // zeros, and counts near long.MaxValue.
        var extreme = new DDSketch();
        extreme.Add(double.MaxValue, long.MaxValue / 4);
        extreme.Add(-double.MaxValue, long.MaxValue / 4);
        extreme.Add(double.Epsilon * 1e10, 3);
        extreme.Add(0, long.MaxValue / 4);
        foreach (var sketch in new[] { new DDSketch(), extreme, SketchOf(Distributions.Generate("lognormal", 10_000, seed: 5)) })
        {
            var buffer = new byte[sketch.MaxSerializedLength];
            var written = sketch.Serialize(buffer);
            Assert.Equal(sketch.Serialize(), buffer.AsSpan(0, written).ToArray());
            Assert.True(written <= buffer.Length);
        }
    }

    [Fact]
    public void An_empty_sketch_has_no_quantile_and_round_trips()
    {
        var sketch = new DDSketch();
        Assert.True(double.IsNaN(sketch.Quantile(0.5)));
        var restored = DDSketch.Deserialize(sketch.Serialize());
        Assert.True(restored.IsEmpty);
    }

    [Fact]
    public void Zero_and_subnormal_values_count_in_the_zero_bin()
    {
        var sketch = SketchOf([0.0, -0.0, double.Epsilon, -double.Epsilon, 1.0]);
        Assert.Equal(0, sketch.Quantile(0));
        Assert.Equal(0, sketch.Quantile(0.75));
        Assert.Equal(1.0, sketch.Quantile(1), 0.01);
    }

    [Fact]
    public void Extreme_finite_values_do_not_overflow()
    {
        var sketch = SketchOf([double.MaxValue, -double.MaxValue, double.MaxValue / 3]);
        Assert.True(double.IsFinite(sketch.Quantile(1)));
        Assert.True(double.IsFinite(sketch.Quantile(0)));
        Assert.Equal(double.MaxValue, sketch.Quantile(1), double.MaxValue * Accuracy);
    }

    [Fact]
    public void Bins_stay_bounded_by_collapsing_the_lowest_magnitudes()
    {
        var sketch = new DDSketch(maxBinsPerSign: 100);
        var values = Enumerable.Range(0, 10_000).Select(i => Math.Pow(1.01, i % 2_000)).ToArray();
        foreach (var value in values)
        {
            sketch.Add(value);
        }

        Assert.True(sketch.BinCount <= 100, $"{sketch.BinCount} bins");
        Assert.Equal(values.Length, sketch.Count);

        // The highest quantiles are still accurate: only the lowest bins were collapsed.
        var sorted = values.Order().ToArray();
        foreach (var q in new[] { 0.99, 0.995, 1.0 })
        {
            var exact = Distributions.ExactQuantile(sorted, q);
            Assert.InRange(sketch.Quantile(q), exact * (1 - Accuracy), exact * (1 + Accuracy));
        }

        var restored = DDSketch.Deserialize(sketch.Serialize());
        Assert.Equal(sketch.Quantile(0.5), restored.Quantile(0.5));
        Assert.Equal(100, restored.MaxBinsPerSign);
    }

    [Fact]
    public void Added_counts_equal_repeated_adds()
    {
        var repeated = SketchOf(Enumerable.Repeat(3.25, 1_000));
        var counted = new DDSketch();
        counted.Add(3.25, 1_000);
        Assert.Equal(repeated.Serialize(), counted.Serialize());
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_values_are_refused(double value) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch().Add(value));

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void The_constructor_refuses_an_invalid_accuracy(double accuracy) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(accuracy));

    [Fact]
    public void The_constructor_refuses_an_invalid_bin_bound() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DDSketch(maxBinsPerSign: 0));

    [Fact]
    public void Sketches_of_different_accuracy_do_not_merge() =>
        Assert.Throws<ArgumentException>(() => new DDSketch(0.01).Merge(new DDSketch(0.02)));

    [Fact]
    public void Corrupt_bytes_are_refused_with_a_format_error()
    {
        var good = SketchOf([1, 2, 3, -4]).Serialize();
        Assert.Throws<FormatException>(() => DDSketch.Deserialize([]));
        Assert.Throws<FormatException>(() => DDSketch.Deserialize([99, .. good[1..]]));
        Assert.Throws<FormatException>(() => DDSketch.Deserialize(good.AsSpan(0, good.Length - 1)));
        Assert.Throws<FormatException>(() => DDSketch.Deserialize([.. good, 0]));

        var random = new Random(5);
        for (var i = 0; i < 2_000; i++)
        {
            var bytes = good.ToArray();
            bytes[random.Next(1, bytes.Length)] = (byte)random.Next(256);
            try
            {
                var sketch = DDSketch.Deserialize(bytes);
                _ = sketch.Quantile(0.5);
            }
            catch (FormatException)
            {
                // Refused cleanly: the only acceptable failure.
            }
        }
    }

    [Theory]
    [InlineData(2048, 0.5, 2.0)]     // overlapping ranges: bins added in place
    [InlineData(2048, 1e-3, 1e6)]    // ranges far apart: the array grows on both sides
    [InlineData(60, 1e-3, 1e6)]      // the union exceeds maxBins: the lowest bins collapse as when adding
    public void A_merged_sketch_holds_exactly_the_bins_of_adding_every_value_to_one(int maxBins, double low, double high)
    {
        var random = new Random(maxBins);
        var parts = Enumerable.Range(0, 5)
            .Select(p => Enumerable.Range(0, 200).Select(_ => (random.Next(3) - 1) * Math.Exp(Math.Log(low) + (random.NextDouble() * Math.Log(high / low)))).ToArray())
            .ToArray();
        var added = new DDSketch(maxBinsPerSign: maxBins);
        var merged = new DDSketch(maxBinsPerSign: maxBins);
        foreach (var part in parts)
        {
            var sketch = new DDSketch(maxBinsPerSign: maxBins);
            foreach (var value in part)
            {
                sketch.Add(value);
                added.Add(value);
            }

            merged.Merge(sketch);
        }

        Assert.Equal(1_000, merged.Count);
        if (maxBins == 2048)
        {
            Assert.Equal(added.Serialize(), merged.Serialize()); // nothing collapsed: bin for bin
        }
        else
        {
            // Collapsing depends on the order values arrive in; what holds is the count and the bins kept.
            Assert.Equal(added.Count, merged.Count);
            Assert.InRange(merged.BinCount, 1, (2 * maxBins) + 1);
            Assert.Equal(added.Quantile(1), merged.Quantile(1));
        }
    }

    [Fact]
    public void A_store_whose_values_move_away_from_the_first_one_keeps_its_array_while_the_range_fits()
    {
        // The array (64 bins) is centred on the first value's bin; values then climb 60 bins above it, then fall 60
        // below the highest: the bins move within the array instead of it doubling.
        var gamma = (1 + Accuracy) / (1 - Accuracy);
        var climbing = Enumerable.Range(0, 61).Select(k => Math.Pow(gamma, k) * 1.0001).ToArray();
        var sketch = new DDSketch();
        sketch.Add(climbing[0]);
        var bytes = sketch.EstimatedBytes;
        foreach (var value in climbing.Skip(1))
        {
            sketch.Add(value);
        }

        Assert.Equal(bytes, sketch.EstimatedBytes);
        var falling = new DDSketch();
        foreach (var value in climbing.Reverse())
        {
            falling.Add(value);
        }

        Assert.Equal(bytes, falling.EstimatedBytes);
        var ordered = SketchOf(climbing.Order());
        Assert.Equal(ordered.Serialize(), sketch.Serialize());
        Assert.Equal(ordered.Serialize(), falling.Serialize());
        AssertWithinRelativeAccuracy(climbing, sketch, "climbing");
    }

    [Fact]
    public void A_reset_sketch_reused_for_other_values_holds_exactly_what_a_new_one_would()
    {
        // Reset clears only the occupied bins and the next value re-centres the kept array: whatever the first use
        // left (a collapse, bins moved within the array, both signs), the second use must equal a fresh sketch.
        var random = new Random(7);
        var first = Enumerable.Range(0, 3_000).Select(_ => (random.NextDouble() - 0.3) * Math.Pow(10, random.Next(-3, 9))).ToArray();
        var sketch = new DDSketch(maxBinsPerSign: 200);
        foreach (var value in first)
        {
            sketch.Add(value);
        }

        for (var use = 0; use < 3; use++)
        {
            sketch.Reset();
            var values = Enumerable.Range(0, 500).Select(_ => (random.NextDouble() - (0.5 * use)) * Math.Pow(10, use)).ToArray();
            var fresh = new DDSketch(maxBinsPerSign: 200);
            foreach (var value in values)
            {
                sketch.Add(value);
                fresh.Add(value);
            }

            Assert.Equal(fresh.Serialize(), sketch.Serialize());
            Assert.Equal(fresh.Quantile(0.5), sketch.Quantile(0.5));
        }
    }

    [Theory]
    [InlineData(0)]   // positive only
    [InlineData(1)]   // negatives, zeros and positives
    [InlineData(2)]   // negatives only
    [InlineData(3)]   // one value
    public void Quantiles_in_one_pass_are_the_quantiles_one_by_one(int mix)
    {
        var random = new Random(mix);
        var values = Enumerable.Range(0, mix == 3 ? 1 : 999).Select(_ => mix switch
        {
            0 => random.NextDouble() * 1e4,
            1 => random.Next(5) == 0 ? 0 : (random.NextDouble() - 0.5) * 1e4,
            _ => -random.NextDouble() * 1e4,
        }).ToArray();
        var sketch = SketchOf(values);
        double[] levels = [0, 0.05, 0.25, 0.25, 0.5, 0.75, 0.95, 0.999, 1];
        var results = new double[levels.Length];
        sketch.Quantiles(levels, results);
        Assert.Equal(levels.Select(sketch.Quantile), results);

        var empty = new double[2];
        new DDSketch().Quantiles([0.1, 0.9], empty);
        Assert.All(empty, r => Assert.True(double.IsNaN(r)));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Quantiles([0.5, 0.25], new double[2]));
    }
}
