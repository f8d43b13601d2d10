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

    [Fact]
    public void The_shortest_windows_merged_into_longer_sizes_hold_what_adding_the_records_there_would()
    {
        // Two hours of records over three models: numbers (with negatives and zeros), strings, booleans, nulls,
        // non-finite values and defaults, read as 40 messages of 3 partitions.
        var logs = MixedLogs(seed: 14, count: 2_000, span: TimeSpan.FromHours(2));
        var staging = new AggregationDelta([WindowSize.Parse("1m")], 50);
        var merged = new[] { new AggregationDelta([WindowSize.Parse("5m")], 50), new AggregationDelta([WindowSize.Parse("1h")], 50) };
        var direct = new[] { new AggregationDelta([WindowSize.Parse("5m")], 50), new AggregationDelta([WindowSize.Parse("1h")], 50) };
        for (var i = 0; i < logs.Count; i++)
        {
            staging.Add(logs[i]);
            foreach (var delta in direct)
            {
                delta.Add(logs[i]);
            }

            if (i % 50 == 49)
            {
                staging.Advance(i % 3, i, 50);
                foreach (var delta in direct)
                {
                    delta.Advance(i % 3, i, 50);
                }
            }

            if (i % 700 == 699)
            {
                // Merged in three goes, as the aggregator does whenever a size is written.
                foreach (var delta in merged)
                {
                    staging.MergeInto(delta);
                }

                staging.Clear();
            }
        }

        foreach (var delta in merged)
        {
            staging.MergeInto(delta);
        }

        for (var size = 0; size < 2; size++)
        {
            AssertSame(direct[size], merged[size]);
        }
    }

    [Fact]
    public void Moving_into_an_empty_delta_of_the_same_size_hands_the_windows_over_and_into_a_held_one_merges()
    {
        var logs = MixedLogs(seed: 3, count: 600, span: TimeSpan.FromMinutes(10));
        var oneMinute = WindowSize.Parse("1m");
        var staging = new AggregationDelta([oneMinute], 50);
        var sink = new AggregationDelta([oneMinute], 50);
        var direct = new AggregationDelta([oneMinute], 50);
        foreach (var log in logs.Take(300))
        {
            staging.Add(log);
            direct.Add(log);
        }

        staging.Advance(0, 10, 300);
        direct.Advance(0, 10, 300);
        var windows = staging.Windows;
        staging.MoveInto(sink);
        Assert.Same(windows, sink.Windows); // handed over, not copied
        Assert.True(staging.IsEmpty);
        Assert.Empty(staging.Windows);
        Assert.Equal(0, staging.RowCount);
        Assert.Equal(long.MaxValue, staging.EarliestWindowEnd);
        AssertSame(direct, sink);

        // The emptied staging delta fills again; the sink still holds the first part, so this time they merge.
        foreach (var log in logs.Skip(300))
        {
            staging.Add(log);
            direct.Add(log);
        }

        staging.Advance(0, 20, 300);
        staging.Advance(1, 5, 0);
        direct.Advance(0, 20, 300);
        direct.Advance(1, 5, 0);
        staging.MoveInto(sink);
        Assert.True(staging.IsEmpty);
        AssertSame(direct, sink);
    }

    [Fact]
    public void Windows_that_would_straddle_a_longer_window_are_not_merged_and_the_aggregator_then_counts_each_size_itself()
    {
        var twoMinutes = new AggregationDelta([WindowSize.Parse("2m")], 50);
        var threeMinutes = new AggregationDelta([WindowSize.Parse("3m")], 50);
        Assert.False(AggregationDelta.Nests(twoMinutes, threeMinutes));
        Assert.Throws<ArgumentException>(() => twoMinutes.MergeInto(threeMinutes));

        Assert.Null(Consuming.WindowSink.Staging(new AggregatorOptions { Windows = "2m,3m" }));
        var staging = Consuming.WindowSink.Staging(new AggregatorOptions { Windows = "1h,1m,5m" });
        Assert.NotNull(staging);
        Assert.Equal([WindowSize.Parse("1m")], staging.WindowSizes);

        // The longer sizes take the staged records through a delta of the second size only when they all nest in it.
        Assert.Equal([WindowSize.Parse("5m")], Consuming.WindowSink.Rolled(new AggregatorOptions { Windows = "1h,1m,5m" })!.WindowSizes);
        Assert.Null(Consuming.WindowSink.Rolled(new AggregatorOptions { Windows = "5m,1h" })); // two sizes: merged at once
        Assert.Null(Consuming.WindowSink.Rolled(new AggregatorOptions { Windows = "1m,5m,7m" })); // 7m windows straddle 5m ones
        Assert.Null(Consuming.WindowSink.Rolled(new AggregatorOptions { Windows = "2m,3m,6m" })); // nothing is staged
    }

    [Fact]
    public void Queued_feature_values_are_counted_exactly_as_added_one_by_one_whenever_the_delta_is_read()
    {
        // Three models in one 1h window, ~670 records of 4 features each: every window's queue fills (512 values)
        // five times and is read part-full in between; reads in the middle (Windows, a merge into it) settle it.
        var logs = MixedLogs(seed: 15, count: 2_000, span: TimeSpan.FromMinutes(1));
        var delta = new AggregationDelta([WindowSize.Parse("1h")], 50);
        var other = new AggregationDelta([WindowSize.Parse("1m")], 50);
        var expected = new Dictionary<(string Model, string Feature), Core.Statistics.FeatureAccumulator>();
        Core.Statistics.FeatureAccumulator Expected(string model, string feature) =>
            expected.TryGetValue((model, feature), out var accumulator) ? accumulator : expected[(model, feature)] = new(50);
        for (var i = 0; i < logs.Count; i++)
        {
            delta.Add(logs[i]);
            foreach (var (name, value) in logs[i].Features)
            {
                Expected(logs[i].ModelId, name).Add(value);
            }

            foreach (var name in logs[i].DefaultValuesUsed)
            {
                Expected(logs[i].ModelId, name).AddDefault();
            }

            if (i == 500)
            {
                Assert.Equal(3, delta.Windows.Count); // a read: everything so far counted
                Assert.True(delta.EstimatedBytes() > 0);
            }

            if (i == 1_200)
            {
                // A merge into this delta lands after what it queued, as if those values had been counted at once.
                other.Add(logs[0]);
                other.MergeInto(delta);
                foreach (var (name, value) in logs[0].Features)
                {
                    var merged = new Core.Statistics.FeatureAccumulator(50);
                    merged.Add(value);
                    if (logs[0].DefaultValuesUsed.Contains(name))
                    {
                        merged.AddDefault();
                    }

                    Expected(logs[0].ModelId, name).Merge(merged);
                }
            }
        }

        foreach (var (key, window) in delta.Windows)
        {
            foreach (var (name, feature) in window.Features)
            {
                var want = expected[(key.ModelId, name)];
                Assert.Equal(
                    (want.ValueCount, want.NullCount, want.DefaultCount, want.NonFiniteCount, want.BooleanCount),
                    (feature.ValueCount, feature.NullCount, feature.DefaultCount, feature.NonFiniteCount, feature.BooleanCount));
                Assert.Equal(want.Categories.Top(), feature.Categories.Top());
                Assert.Equal(want.Numeric.Sketch.Serialize(), feature.Numeric.Sketch.Serialize());
                // The same operations in the same order: bit for bit, not to a rounding.
                Assert.Equal(
                    (want.Numeric.Count, want.Numeric.Moments.Mean, want.Numeric.Moments.M2, want.Numeric.Moments.Min, want.Numeric.Moments.Max),
                    (feature.Numeric.Count, feature.Numeric.Moments.Mean, feature.Numeric.Moments.M2, feature.Numeric.Moments.Min, feature.Numeric.Moments.Max));
            }
        }

        Assert.Equal(expected.Count, delta.Windows.Values.Sum(w => w.Features.Count));
    }

    private static List<PredictionLog> MixedLogs(int seed, int count, TimeSpan span)
    {
        var random = new Random(seed);
        var start = new DateTimeOffset(2026, 12, 2, 9, 58, 30, TimeSpan.Zero);
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var sentAt = start + (span * random.NextDouble());
            FeatureValue Value(int feature) => random.Next(20) switch
            {
                0 => FeatureValue.Null,
                1 => FeatureValue.FromNumber(double.NaN),
                2 => FeatureValue.FromBoolean(random.Next(2) == 0),
                3 or 4 => FeatureValue.FromString($"c{random.Next(6)}"),
                5 => FeatureValue.FromNumber(0),
                _ => FeatureValue.FromNumber((random.NextDouble() - 0.2) * Math.Pow(10, feature)),
            };
            return new PredictionLog(
                sentAt,
                $"id{i}",
                "p",
                $"m{random.Next(3)}",
                [.. Enumerable.Range(0, 4).Select(f => new KeyValuePair<string, FeatureValue>($"f{f}", Value(f)))],
                random.Next(10) == 0 ? double.PositiveInfinity : random.NextDouble(),
                random.Next(4) == 0 ? ["f1"] : []);
        })];
    }

    /// <summary>Exact equality of counts, sketches (bins) and categories; moments to the rounding of a merge.</summary>
    private static void AssertSame(AggregationDelta expected, AggregationDelta actual)
    {
        Assert.Equal(expected.RowCount, actual.RowCount);
        Assert.Equal(expected.RecordCount, actual.RecordCount);
        Assert.Equal(expected.EarliestWindowEnd, actual.EarliestWindowEnd);
        Assert.Equal(expected.EarliestWindowStart, actual.EarliestWindowStart);
        Assert.Equal(expected.NextOffsets.OrderBy(p => p.Key), actual.NextOffsets.OrderBy(p => p.Key));
        Assert.Equal(expected.Seen.OrderBy(p => p.Key), actual.Seen.OrderBy(p => p.Key));
        Assert.Equal(expected.Windows.Keys.ToHashSet(), actual.Windows.Keys.ToHashSet());
        foreach (var (key, window) in expected.Windows)
        {
            var other = actual.Windows[key];
            Assert.Equal(window.Model.PredictionCount, other.Model.PredictionCount);
            Assert.Equal(window.Model.NonFiniteCount, other.Model.NonFiniteCount);
            AssertSame(window.Model.Result, other.Model.Result);
            Assert.Equal(window.Features.Keys.Order(), other.Features.Keys.Order());
            foreach (var (name, feature) in window.Features)
            {
                var theirs = other.Features[name];
                Assert.Equal(
                    (feature.ValueCount, feature.NullCount, feature.DefaultCount, feature.NonFiniteCount, feature.BooleanCount),
                    (theirs.ValueCount, theirs.NullCount, theirs.DefaultCount, theirs.NonFiniteCount, theirs.BooleanCount));
                Assert.Equal(feature.Categories.Top(), theirs.Categories.Top());
                AssertSame(feature.Numeric, theirs.Numeric);
            }
        }
    }

    private static void AssertSame(Core.Statistics.NumericDistribution expected, Core.Statistics.NumericDistribution actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Sketch.Serialize(), actual.Sketch.Serialize());
        if (expected.Count == 0)
        {
            return;
        }

        Assert.Equal(expected.Moments.Min, actual.Moments.Min);
        Assert.Equal(expected.Moments.Max, actual.Moments.Max);
        var scale = Math.Max(Math.Abs(expected.Moments.Min), Math.Abs(expected.Moments.Max));
        Assert.InRange(Math.Abs(expected.Moments.Mean - actual.Moments.Mean), 0, 1e-12 * Math.Max(scale, 1));
        Assert.InRange(Math.Abs(expected.Moments.M2 - actual.Moments.M2), 0, 1e-9 * Math.Max(expected.Moments.M2, 1));
    }
}
