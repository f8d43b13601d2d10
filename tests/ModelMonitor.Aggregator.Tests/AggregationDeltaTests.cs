using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Aggregator.Tests;

public sealed class AggregationDeltaTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 22, 10, 15, 0, TimeSpan.Zero);

    private static PredictionLog Log(params (string Name, double Value)[] features) =>
        new(At, "p", "eta", "eta_v1", [.. features.Select(f => new KeyValuePair<string, FeatureValue>(f.Name, FeatureValue.FromNumber(f.Value)))], 1, []);

    [Fact]
    public void A_feature_counts_into_one_accumulator_whatever_its_position_or_string_instance()
    {
        var delta = new AggregationDelta([WindowSize.Parse("5m"), WindowSize.Parse("1h")], categoryCapacity: 50);
        // Same names, new string instances (as when the decoder's string cache is full), other orders, one missing.
        string Fresh(string s) => new(s.AsSpan());

        delta.Add(Log(("a", 1), ("b", 10), ("c", 100)));
        delta.Add(Log(("a", 2), ("b", 20), ("c", 200)));
        delta.Add(Log((Fresh("a"), 3), (Fresh("b"), 30), (Fresh("c"), 300)));
        delta.Add(Log(("c", 400), ("a", 4), ("b", 40)));
        delta.Add(Log(("b", 50), ("c", 500)));
        delta.Add(Log(("a", 6), ("b", 60), ("c", 600), ("d", 6000)));

        Assert.Equal(2, delta.Windows.Count);
        foreach (var window in delta.Windows.Values)
        {
            Assert.Equal(["a", "b", "c", "d"], window.Features.Keys.Order());
            Assert.Equal(5, window.Features["a"].ValueCount);
            Assert.Equal(6, window.Features["b"].ValueCount);
            Assert.Equal(6, window.Features["c"].ValueCount);
            Assert.Equal(1, window.Features["d"].ValueCount);
            Assert.Equal(16.0 / 5, window.Features["a"].Numeric.Moments.Mean, 12);
            Assert.Equal(2100.0 / 6, window.Features["c"].Numeric.Moments.Mean, 12);
        }
        Assert.Equal(2 + 2 * 4, delta.RowCount);
    }
}
