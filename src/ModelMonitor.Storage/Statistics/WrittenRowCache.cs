using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Statistics;

namespace ModelMonitor.Storage.Statistics;

/// <summary>
/// The feature rows of one window size as the last committed flush of that size wrote them: each row's statistics and the
/// transaction id (xmin) of that write. A row whose stored xmin is still that id holds exactly those statistics, so the
/// next flush merges its delta into the copy here and updates the row with <c>WHERE xmin = …</c> instead of locking and
/// reading it back (the read back was half of a flush's time in Postgres, and most of its CPU in the aggregator:
/// BENCHMARKS.md §11). A row another writer changed since (another aggregator instance, retention, a person) no longer
/// matches and is read back as before; nothing depends on the copy being current.
/// </summary>
/// <remarks>
/// Holds the rows of one flush, no more: a row the next committed flush of the size does not write leaves the cache (its
/// window has ended, or its model was quiet for a flush interval), and its accumulator is reused for a row read back.
/// One flush uses a cache at a time (<see cref="StatisticsStore"/> takes it out for the flush and puts it back after).
/// </remarks>
internal sealed class WrittenRowCache(int categoryCapacity)
{
    private Dictionary<(ModelWindowKey Model, string Feature), Entry> _rows = [];
    private Dictionary<(ModelWindowKey Model, string Feature), Entry> _next = [];
    private readonly Stack<FeatureAccumulator> _free = new();

    /// <summary>A row's statistics as written by the transaction <paramref name="Xmin"/>.</summary>
    public readonly record struct Entry(uint Xmin, FeatureAccumulator State);

    /// <summary>Rows held.</summary>
    public int Count => _rows.Count;

    /// <summary>Takes the row <paramref name="key"/> out of the cache for this flush (false: not held).</summary>
    public bool TryTake((ModelWindowKey Model, string Feature) key, out Entry entry) => _rows.Remove(key, out entry);

    /// <summary>An empty accumulator for a row read back: one a departed row left, or a new one.</summary>
    public FeatureAccumulator Rent() => _free.TryPop(out var state) ? state : new FeatureAccumulator(categoryCapacity);

    /// <summary>Keeps <paramref name="state"/> as what the flush being written stores for <paramref name="key"/>; it becomes
    /// the cached row when that flush commits (<see cref="Committed"/>).</summary>
    public void Stage((ModelWindowKey Model, string Feature) key, FeatureAccumulator state) =>
        _next[key] = new Entry(0, state);

    /// <summary>The flush committed in transaction <paramref name="xmin"/>: the staged rows are the cache now, and the rows it
    /// did not write leave it.</summary>
    public void Committed(uint xmin)
    {
        Release(_rows);
        foreach (var key in _next.Keys.ToList())
        {
            _next[key] = _next[key] with { Xmin = xmin };
        }

        (_rows, _next) = (_next, _rows);
    }

    /// <summary>The flush did not commit: the staged rows hold its merges, which Postgres never got, so they are dropped; the
    /// rows it did not take are still what Postgres holds and stay.</summary>
    public void Abandoned() => Release(_next);

    /// <summary>Drops a staged row (its copy turned out stale and it is read back instead).</summary>
    public void Unstage((ModelWindowKey Model, string Feature) key)
    {
        if (_next.Remove(key, out var entry))
        {
            entry.State.Reset();
            _free.Push(entry.State);
        }
    }

    private void Release(Dictionary<(ModelWindowKey Model, string Feature), Entry> rows)
    {
        foreach (var entry in rows.Values)
        {
            entry.State.Reset();
            _free.Push(entry.State);
        }

        rows.Clear();
        // The free list never holds more than the rows of a flush: what a flush left is what the next one reuses.
        while (_free.Count > Math.Max(_rows.Count, _next.Count))
        {
            _free.Pop();
        }
    }
}
