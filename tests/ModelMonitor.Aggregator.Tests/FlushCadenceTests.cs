using ModelMonitor.Aggregator.Consuming;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>When each window size is written (issue 14), and the estimate that bounds the unflushed deltas' memory.</summary>
public sealed class FlushCadenceTests
{
    private static readonly IReadOnlyList<WindowSize> Windows = WindowSize.ParseList("1m,5m,1h,1d");
    private static readonly TimeSpan Flush = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData("1m", 5)]     // the shortest size: every flush interval, whatever its length
    [InlineData("5m", 25)]    // a twelfth of the size
    [InlineData("1h", 60)]    // capped at the longest interval
    [InlineData("1d", 60)]
    public void The_shortest_size_is_written_every_flush_interval_and_longer_ones_every_twelfth_of_their_length_up_to_the_cap(string window, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), FlushCadence.IntervalOf(WindowSize.Parse(window), Windows, Flush, TimeSpan.FromMinutes(1)));

    [Fact]
    public void No_size_is_written_more_often_than_the_flush_interval_nor_less_often_than_it()
    {
        // A cap below the flush interval is the flush interval; a long flush interval beats a twelfth of 5m.
        Assert.Equal(Flush, FlushCadence.IntervalOf(WindowSize.Parse("1h"), Windows, Flush, TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromSeconds(40), FlushCadence.IntervalOf(WindowSize.Parse("5m"), Windows, TimeSpan.FromSeconds(40), TimeSpan.FromMinutes(1)));
        // With 5m as the shortest configured size, it is the one written every flush interval.
        Assert.Equal(Flush, FlushCadence.IntervalOf(WindowSize.Parse("5m"), WindowSize.ParseList("5m,1h"), Flush, TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void A_size_is_due_at_its_interval_at_its_record_bound_and_soon_after_one_of_its_windows_ends()
    {
        var start = new DateTimeOffset(2026, 12, 2, 10, 0, 10, TimeSpan.Zero);
        var sink = new WindowSink(WindowSize.Parse("1h"), TimeSpan.FromMinutes(1), 50, start);
        Assert.False(sink.IsDue(start.AddHours(2), Flush, 100)); // nothing held: never due

        sink.Delta.Add(Log(start.AddSeconds(1)));
        sink.Delta.Advance(0, 1);
        Assert.False(sink.IsDue(start.AddSeconds(59), Flush, 100));
        Assert.True(sink.IsDue(start.AddSeconds(60), Flush, 100));     // its interval
        Assert.True(sink.IsDue(start.AddSeconds(1), Flush, maxRecords: 1)); // its record bound

        // Flushed at 10:59:50; a record of the 10:00 window read at 11:00:01 makes it due once the window has ended and
        // a flush interval has passed since the last flush, long before the hourly interval.
        var flushedAt = start.Date.AddHours(10).AddMinutes(59).AddSeconds(50);
        sink.Delta.Clear();
        sink.Flushed(new DateTimeOffset(flushedAt, TimeSpan.Zero), TimeSpan.Zero);
        sink.Delta.Add(Log(start.AddMinutes(59)));
        sink.Delta.Advance(0, 2);
        var hourEnd = new DateTimeOffset(start.Date.AddHours(11), TimeSpan.Zero);
        Assert.False(sink.IsDue(hourEnd.AddSeconds(-1), Flush, 100)); // the window is still open
        Assert.True(sink.IsDue(hourEnd, Flush, 100));                 // ended, and 10 s since the last flush
        Assert.True(sink.IsDue(hourEnd.AddSeconds(2), Flush, 100));
    }

    [Fact]
    public void A_long_write_that_would_still_run_when_the_shortest_size_falls_due_waits_for_it_but_never_starves()
    {
        var start = new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
        var minute = new WindowSink(WindowSize.Parse("1m"), TimeSpan.FromSeconds(5), 50, start);
        var hour = new WindowSink(WindowSize.Parse("1h"), TimeSpan.FromMinutes(1), 50, start);
        minute.Flushed(start, TimeSpan.FromSeconds(2));     // the 1m rows are next due at 10:00:05
        hour.Flushed(start, TimeSpan.FromSeconds(3));       // the 1h write took 3 s last time

        Assert.False(FlushCadence.WaitsForShortest(minute, minute, true, start.AddSeconds(4)));   // the shortest never waits
        Assert.False(FlushCadence.WaitsForShortest(hour, minute, true, start.AddSeconds(1)));     // 4 s to go: 3 s fit
        Assert.True(FlushCadence.WaitsForShortest(hour, minute, true, start.AddSeconds(2.5)));    // 2.5 s to go: it would collide
        Assert.False(FlushCadence.WaitsForShortest(hour, minute, false, start.AddSeconds(2.5)));  // nothing for the 1m rows to write

        // A long write slower than the shortest interval still goes right after each write of the shortest (5 s to
        // go, above the cap of 90% of 5 s), never waiting forever.
        hour.Flushed(start, TimeSpan.FromSeconds(30));
        Assert.False(FlushCadence.WaitsForShortest(hour, minute, true, start));
        Assert.True(FlushCadence.WaitsForShortest(hour, minute, true, start.AddSeconds(1)));
    }

    [Fact]
    public void Records_staged_for_every_size_make_a_size_due_as_if_it_held_them()
    {
        var start = new DateTimeOffset(2026, 12, 2, 10, 59, 0, TimeSpan.Zero);
        var sink = new WindowSink(WindowSize.Parse("1h"), TimeSpan.FromMinutes(1), 50, start);
        var staging = new AggregationDelta([WindowSize.Parse("1m")], 50);
        Assert.False(sink.IsDue(start.AddHours(2), Flush, 100, staging)); // nothing held or staged

        staging.Add(Log(start.AddSeconds(30))); // in the 10:59 minute, so in the 10:00 hour
        staging.Advance(0, 1);
        Assert.False(sink.IsDue(start.AddSeconds(20), Flush, 100, staging));
        Assert.True(sink.IsDue(start.AddSeconds(20), Flush, maxRecords: 1, staging));
        // The staged minute ends at 11:00:00, but the hour holding it also ends then: due at the hour, not at the minute.
        Assert.True(sink.IsDue(start.AddMinutes(1), Flush, 100, staging));

        var later = new AggregationDelta([WindowSize.Parse("1m")], 50);
        later.Add(Log(start.AddMinutes(2))); // 11:01, in the 11:00 hour
        later.Advance(0, 1);
        var sink2 = new WindowSink(WindowSize.Parse("1h"), TimeSpan.FromMinutes(10), 50, start.AddMinutes(2));
        Assert.False(sink2.IsDue(start.AddMinutes(4), Flush, 100, later)); // its minute has ended, its hour has not
    }

    [Fact]
    public void The_memory_estimate_of_a_delta_is_within_a_factor_of_two_of_what_it_allocates()
    {
        // 2,000 (window, model, feature) rows of 30 values each, numeric and categorical: what the estimate bounds.
        var random = new Random(5);
        var logs = Enumerable.Range(0, 3_000).Select(i => new PredictionLog(
            new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero).AddSeconds(i % 60),
            $"id{i}",
            "p",
            $"m{i % 100}",
            [.. Enumerable.Range(0, 20).Select(f => new KeyValuePair<string, FeatureValue>(
                $"f{f}",
                f % 5 == 0 ? FeatureValue.FromString($"c{random.Next(8)}") : FeatureValue.FromNumber(random.NextDouble() * 1000)))],
            random.NextDouble(),
            [])).ToList();
        var delta = new AggregationDelta([WindowSize.Parse("1h")], 50);
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var log in logs)
        {
            delta.Add(log);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var estimate = delta.EstimatedBytes();
        Assert.Equal(100 + 2_000, delta.RowCount);
        // Allocation is an upper bound of what is held (growth leaves garbage); the estimate must not be far below it.
        Assert.InRange(estimate, allocated / 2, allocated * 2);
    }

    private static PredictionLog Log(DateTimeOffset sentAt) =>
        new(sentAt, "id", "p", "m", [new("x", FeatureValue.FromNumber(1))], 1, []);
}
