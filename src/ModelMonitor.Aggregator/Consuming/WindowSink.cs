using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// One window size's share of the aggregation: what it gained since its own last flush, and when it is written next.
/// Sizes are written on their own cadence (<see cref="FlushCadence"/>) with their own offsets, so the cost of a flush is
/// the rows of the sizes that are due, not of every size at the rate of the shortest.
/// </summary>
internal sealed class WindowSink(WindowSize window, TimeSpan interval, int categoryCapacity, DateTimeOffset now)
{
    /// <summary>A sink for every configured window size, each on its cadence (<see cref="FlushCadence"/>).</summary>
    public static List<WindowSink> ForEachSize(AggregatorOptions options, DateTimeOffset now)
    {
        var windows = options.ParsedWindows;
        return [.. windows.Select(window => new WindowSink(
            window,
            FlushCadence.IntervalOf(window, windows, options.FlushInterval, options.EffectiveMaxFlushInterval),
            options.CategoryCapacity,
            now))];
    }

    /// <summary>
    /// The delta that counts each record once, in windows of the shortest size, for every size to take its share of when
    /// it is written (<see cref="AggregationDelta.MergeInto"/>); null when a size is not a multiple of the shortest (its
    /// windows would straddle), in which case each size counts every record itself.
    /// </summary>
    public static AggregationDelta? Staging(AggregatorOptions options)
    {
        var windows = options.ParsedWindows;
        var shortest = windows.MinBy(w => w.Seconds);
        return windows.All(w => w.Seconds % shortest.Seconds == 0)
            ? new AggregationDelta([shortest], options.CategoryCapacity)
            : null;
    }

    /// <summary>
    /// With three window sizes or more, each longer one a multiple of the second: the delta that holds, in windows of the
    /// second size, the staged records the shortest size has taken and the longer sizes have not yet (they take them when
    /// one of them is written). Null otherwise: the staged records are merged into every size at once.
    /// </summary>
    public static AggregationDelta? Rolled(AggregatorOptions options)
    {
        var windows = options.ParsedWindows;
        return windows.Count >= 3 && Staging(options) is not null && windows.Skip(2).All(w => w.Seconds % windows[1].Seconds == 0)
            ? new AggregationDelta([windows[1]], options.CategoryCapacity)
            : null;
    }

    public WindowSize Window => window;

    public int Seconds => window.Seconds;

    /// <summary>How often this size's open windows are written.</summary>
    public TimeSpan Interval => interval;

    public AggregationDelta Delta { get; } = new([window], categoryCapacity);

    /// <summary>When the open windows are written next (the interval after the end of the last flush).</summary>
    public DateTimeOffset DueAt { get; private set; } = now + interval;

    /// <summary>When the last flush of this size ended.</summary>
    public DateTimeOffset LastFlushAt { get; private set; } = now;

    /// <summary>
    /// Whether this size should be written now: its interval has passed, or it holds <paramref name="maxRecords"/>
    /// records, or it holds a window that has ended (complete but for late records: the exporter publishes complete
    /// windows, so they are written within <paramref name="flushInterval"/> of their end, and late records at most once
    /// per <paramref name="flushInterval"/>). <paramref name="pending"/>: records every size still has to receive (the
    /// shortest size's windows, merged into each size when it is written; see <see cref="AggregationDelta.MergeInto"/>);
    /// <paramref name="rolled"/>: for a longer size, records the shortest size took that it still has to receive.
    /// </summary>
    public bool IsDue(DateTimeOffset now, TimeSpan flushInterval, int maxRecords, AggregationDelta? pending = null, AggregationDelta? rolled = null)
    {
        var (empty, records, earliestEnd) = (Delta.IsEmpty, Delta.RecordCount, Delta.EarliestWindowEnd);
        foreach (var waiting in (ReadOnlySpan<AggregationDelta?>)[pending, rolled])
        {
            if (waiting is { IsEmpty: false })
            {
                empty = false;
                records += waiting.RecordCount;
                earliestEnd = Math.Min(earliestEnd, EndOfWindowHolding(waiting.EarliestWindowStart));
            }
        }

        if (empty)
        {
            return false;
        }

        return now >= DueAt
            || records >= maxRecords
            || (now.ToUnixTimeSeconds() >= earliestEnd && now >= LastFlushAt + flushInterval);
    }

    /// <summary>The end (Unix seconds) of this size's window that holds the instant <paramref name="unixSeconds"/>.</summary>
    private long EndOfWindowHolding(long unixSeconds) =>
        unixSeconds == long.MaxValue
            ? long.MaxValue
            : window.WindowStart(DateTimeOffset.FromUnixTimeSeconds(unixSeconds)).ToUnixTimeSeconds() + window.Seconds;

    /// <summary>How long the last committed write of this size took.</summary>
    public TimeSpan LastWriteDuration { get; private set; }

    /// <summary>After a committed flush (the delta is cleared by the caller) that took <paramref name="took"/>: the next one
    /// is an interval from now, so the consumer reads for at least that long between two flushes of a size whatever a
    /// flush costs.</summary>
    public void Flushed(DateTimeOffset now, TimeSpan took)
    {
        LastFlushAt = now;
        DueAt = now + interval;
        LastWriteDuration = took;
    }
}

/// <summary>How often each window size is written.</summary>
internal static class FlushCadence
{
    /// <summary>
    /// Whether the write of <paramref name="due"/>, a longer size, waits for the shortest size's next write: one write is
    /// in flight at a time, so a long write that would still run when the shortest falls due makes the rows queries see
    /// first wait behind it (the freshness p99 of BENCHMARKS.md §11). It waits when the shortest, holding records
    /// (<paramref name="shortestHasRecords"/>), is due sooner than the long size's last write took, capped at 90% of
    /// the shortest's interval: right after each write of the shortest there is always a slot, so no size starves.
    /// </summary>
    public static bool WaitsForShortest(WindowSink due, WindowSink shortest, bool shortestHasRecords, DateTimeOffset now)
    {
        if (ReferenceEquals(due, shortest) || !shortestHasRecords)
        {
            return false;
        }

        var cap = shortest.Interval * 0.9;
        var untilDue = shortest.DueAt - now;
        return untilDue < (due.LastWriteDuration < cap ? due.LastWriteDuration : cap);
    }

    /// <summary>
    /// The shortest configured size every <paramref name="flushInterval"/> (what a query of Postgres sees first, so
    /// freshness is that interval); a longer size every twelfth of its length, within [<paramref name="flushInterval"/>,
    /// max(<paramref name="flushInterval"/>, <paramref name="maxFlushInterval"/>)]: with the defaults (5 s, 1 min) and
    /// windows 1m,5m,1h, the 1m rows every 5 s, the 5m rows every 25 s, the 1h rows every minute, and every size as soon as
    /// one of its windows has ended.
    /// </summary>
    public static TimeSpan IntervalOf(WindowSize window, IReadOnlyList<WindowSize> windows, TimeSpan flushInterval, TimeSpan maxFlushInterval)
    {
        if (window.Seconds <= windows.Min(w => w.Seconds))
        {
            return flushInterval;
        }

        var longest = maxFlushInterval > flushInterval ? maxFlushInterval : flushInterval;
        var twelfth = window.Duration / 12;
        return twelfth < flushInterval ? flushInterval : twelfth > longest ? longest : twelfth;
    }
}
