using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

public sealed class DDSketchRemovalTests
{
    private static DDSketch SketchOf(IEnumerable<double> values, int maxBins = DDSketch.DefaultMaxBinsPerSign)
    {
        var sketch = new DDSketch(maxBinsPerSign: maxBins);
        foreach (var value in values)
        {
            sketch.Add(value);
        }

        return sketch;
    }

    [Theory]
    [MemberData(nameof(Distributions.Names), MemberType = typeof(Distributions))]
    public void Removing_a_random_subset_leaves_exactly_the_sketch_of_the_remaining_values(string distribution)
    {
        var values = Distributions.Generate(distribution, 5_000, seed: 3);
        var random = new Random(4);
        var removed = values.Select(_ => random.Next(3) == 0).ToArray();
        var sketch = SketchOf(values);
        foreach (var i in Enumerable.Range(0, values.Length).Where(i => removed[i]).OrderBy(_ => random.Next()))
        {
            sketch.Remove(values[i]);
        }

        var remaining = values.Where((_, i) => !removed[i]).ToArray();
        Assert.Equal(SketchOf(remaining).Serialize(), sketch.Serialize());
        var sorted = remaining.Order().ToArray();
        foreach (var q in Distributions.CheckedQuantiles)
        {
            var exact = Distributions.ExactQuantile(sorted, q);
            Assert.True(
                Math.Abs(sketch.Quantile(q) - exact) <= DDSketch.DefaultRelativeAccuracy * Math.Abs(exact) * (1 + 1e-9),
                $"{distribution}: q={q} exact={exact:R} estimate={sketch.Quantile(q):R}");
        }

        // It goes on as the sketch of those values: merged into, and added to.
        var more = Distributions.Generate(distribution, 1_000, seed: 5);
        sketch.Merge(SketchOf(more[..500]));
        foreach (var value in more[500..])
        {
            sketch.Add(value);
        }

        Assert.Equal(SketchOf([.. remaining, .. more]).Serialize(), sketch.Serialize());
    }

    [Fact]
    public void Removing_the_lowest_and_highest_bins_narrows_the_range_that_later_adds_and_merges_extend()
    {
        var values = Enumerable.Range(0, 200).Select(k => Math.Pow(1.02, k)).ToArray();
        var sketch = SketchOf(values);
        foreach (var value in values[..100].Concat(values[150..]))
        {
            sketch.Remove(value);
        }

        double[] below = [1e-6, 1e-3], above = [1e3, 1e6];
        foreach (var value in below)
        {
            sketch.Add(value);
        }

        sketch.Merge(SketchOf(above));
        Assert.Equal(SketchOf([.. values[100..150], .. below, .. above]).Serialize(), sketch.Serialize());
        Assert.Equal(54, sketch.Count);
    }

    [Fact]
    public void Removing_every_value_empties_the_sketch_for_reuse()
    {
        var values = Distributions.Generate("mixed-sign", 1_000, seed: 9).Append(0).ToArray();
        var sketch = SketchOf(values);
        foreach (var value in values.Reverse())
        {
            sketch.Remove(value);
        }

        Assert.True(sketch.IsEmpty);
        Assert.Equal(0, sketch.BinCount);
        Assert.Equal(new DDSketch().Serialize(), sketch.Serialize());

        var next = Distributions.Generate("lognormal", 500, seed: 10);
        foreach (var value in next)
        {
            sketch.Add(value);
        }

        Assert.Equal(SketchOf(next).Serialize(), sketch.Serialize());
    }

    [Fact]
    public void Removed_counts_equal_repeated_removes()
    {
        var sketch = SketchOf(Enumerable.Repeat(3.25, 1_000));
        sketch.Remove(3.25, 400);
        sketch.Remove(3.25, 0);
        Assert.Equal(SketchOf(Enumerable.Repeat(3.25, 600)).Serialize(), sketch.Serialize());
    }

    [Fact]
    public void Removing_what_a_bin_does_not_hold_throws_and_leaves_the_sketch_unchanged()
    {
        Assert.Throws<InvalidOperationException>(() => new DDSketch().Remove(1));
        Assert.Throws<InvalidOperationException>(() => new DDSketch().Remove(0));

        var sketch = SketchOf([1, 2, -3, 0]);
        var bytes = sketch.Serialize();
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(5));     // above the highest bin
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(1.5));   // an empty bin between two others
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(-5));
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(3));     // the other sign
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(0, 2));
        Assert.Throws<InvalidOperationException>(() => sketch.Remove(2, 2));
        Assert.Equal(bytes, sketch.Serialize());

        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Remove(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Remove(1, -1));
    }

    [Fact]
    public void CountAt_is_the_count_of_a_values_own_bin_or_of_the_lowest_bin_for_a_collapsed_value()
    {
        // 1e6 lies 690 bins above 1 and 2: with 100 bins they collapse into the lowest kept bin.
        var collapsed = SketchOf([1, 1, 2, 1e6], maxBins: 100);
        Assert.Equal(3, collapsed.CountAt(1));
        Assert.Equal(3, collapsed.CountAt(2));
        Assert.Equal(1, collapsed.CountAt(1e6));
        Assert.Equal(0, collapsed.CountAt(5e5));
        Assert.Equal(0, collapsed.CountAt(-1));

        // Without a collapse, a value below the lowest bin was not added (though Remove would take it from that bin).
        var sketch = SketchOf([10, 20, 0]);
        Assert.Equal(0, sketch.CountAt(1));
        Assert.Equal(1, sketch.CountAt(10));
        Assert.Equal(1, sketch.CountAt(0));
        Assert.Equal(0, new DDSketch().CountAt(3));
    }

    [Fact]
    public void A_value_collapsed_into_the_lowest_bin_is_removed_from_it()
    {
        // 2,000 bins of values into a 100-bin store: the lowest 1,900 collapse into the lowest kept bin.
        var values = Enumerable.Range(0, 2_000).Select(i => Math.Pow(1.0201, i)).ToArray();
        var sketch = SketchOf(values, maxBins: 100);
        var top = sketch.Quantile(1);

        sketch.Remove(values[0]);
        Assert.Equal(1_999, sketch.Count);
        Assert.Equal(top, sketch.Quantile(1));

        foreach (var value in values[1..].OrderBy(v => (v * 7_919) % 1))
        {
            sketch.Remove(value);
        }

        Assert.True(sketch.IsEmpty);
    }
}
