using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Core.Tests.Statistics;

public sealed class CategoryCounterTests
{
    [Fact]
    public void Top_values_are_kept_and_the_rest_folds_into_other()
    {
        var counter = new CategoryCounter(capacity: 3);
        foreach (var (label, count) in new[] { ("a", 50), ("b", 40), ("c", 30), ("d", 2), ("e", 1) })
        {
            for (var i = 0; i < count; i++)
            {
                counter.Add(label);
            }
        }

        Assert.Equal(
            [new("a", 50), new("b", 40), new("c", 30), new(CategoryCounter.OtherLabel, 3)],
            counter.Top());
        Assert.Equal(123, counter.Total);
    }

    [Fact]
    public void Counts_are_exact_when_the_distinct_values_fit()
    {
        var counter = new CategoryCounter(capacity: 5);
        var random = new Random(1);
        var expected = new Dictionary<string, long>();
        for (var i = 0; i < 10_000; i++)
        {
            var label = "v" + random.Next(5);
            counter.Add(label);
            expected[label] = expected.GetValueOrDefault(label) + 1;
        }

        Assert.Equal(expected.OrderBy(p => p.Key), counter.Top().OrderBy(p => p.Key));
    }

    [Fact]
    public void Unbounded_cardinality_stays_bounded_and_the_total_stays_exact()
    {
        var counter = new CategoryCounter(capacity: 10);
        for (var i = 0; i < 100_000; i++)
        {
            counter.Add(i % 7 == 0 ? "frequent" : "id-" + i);
        }

        Assert.True(counter.TrackedCount <= counter.WorkingCapacity);
        var top = counter.Top();
        Assert.True(top.Count <= 11);
        Assert.Equal(100_000, top.Sum(p => p.Value));
        Assert.Equal("frequent", top[0].Key);
    }

    [Fact]
    public void Merging_adds_counts_and_other()
    {
        var left = new CategoryCounter(capacity: 2);
        left.Add("x", 5);
        left.Add("y", 3);
        left.Add(CategoryCounter.OtherLabel, 4);
        var right = new CategoryCounter(capacity: 2);
        right.Add("y", 10);
        right.Add("z", 1);

        left.Merge(right);

        Assert.Equal([new("y", 13), new("x", 5), new(CategoryCounter.OtherLabel, 5)], left.Top());
        Assert.Equal(23, left.Total);
    }

    [Fact]
    public void Ties_are_ordered_by_value_for_a_deterministic_row()
    {
        var counter = new CategoryCounter(capacity: 2);
        counter.Add("b");
        counter.Add("c");
        counter.Add("a");
        Assert.Equal([new("a", 1), new("b", 1), new(CategoryCounter.OtherLabel, 1)], counter.Top());
    }
}
