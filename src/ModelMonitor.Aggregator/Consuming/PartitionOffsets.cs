using Confluent.Kafka;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// The partitions this consumer owns and, for each window size, the next offset Postgres holds (the source of truth:
/// Kafka's committed offsets are only for visibility). Each window size is written on its own cadence, so its offsets
/// move on their own: a partition is read from the lowest of them, and a message is aggregated into a size only when
/// that size has not stored it yet. One load path serves an assignment and a rewind after a dropped delta: read the
/// stored offsets, remember them, and return where to start (the lowest stored, or the beginning).
/// </summary>
internal sealed class PartitionOffsets(StatisticsStore store, string group, string topic, IReadOnlyList<int> windowSeconds)
{
    // (partition, window size) → next_offset of that size's own row (absent: no row yet): the compare-and-set's expectation.
    private readonly Dictionary<(int Partition, int Window), long> _stored = [];

    // (partition, window size) → the first offset that size still has to aggregate (its own row, else the row of every
    // size from before schema version 3; absent: everything from the beginning of the partition).
    private readonly Dictionary<(int Partition, int Window), long> _from = [];
    private readonly HashSet<int> _owned = [];

    // Partition → the offset the next message read should have (the start, then the last read + 1).
    private readonly Dictionary<int, long> _next = [];

    public bool Owns(int partition) => _owned.Contains(partition);

    /// <summary>Whether a message at <paramref name="offset"/> of <paramref name="partition"/> is still to be aggregated
    /// into the window size <paramref name="window"/> (seconds).</summary>
    public bool Needs(int partition, int window, long offset) => !_from.TryGetValue((partition, window), out var from) || offset >= from;

    /// <summary>What Postgres holds in the own rows of window size <paramref name="window"/>, per owned partition (the
    /// expected values of its next compare-and-set).</summary>
    public Dictionary<int, long> StoredFor(int window)
    {
        var stored = new Dictionary<int, long>();
        foreach (var ((partition, size), next) in _stored)
        {
            if (size == window)
            {
                stored[partition] = next;
            }
        }

        return stored;
    }

    /// <summary>Where a partition resumes after a restart: the lowest offset any window size still needs (null: from the
    /// beginning). Every message below it is stored in every size, so this is the offset to commit to Kafka.</summary>
    public long? Resume(int partition)
    {
        long? lowest = null;
        foreach (var window in windowSeconds)
        {
            if (!_from.TryGetValue((partition, window), out var from))
            {
                return null;
            }

            lowest = lowest is { } l ? Math.Min(l, from) : from;
        }

        return lowest;
    }

    /// <summary>Reads the stored offsets of <paramref name="partitions"/>, takes ownership of them, and returns where
    /// each starts. Throws what Postgres throws (the caller retries).</summary>
    public async Task<List<TopicPartitionOffset>> LoadAsync(IReadOnlyCollection<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var rows = await store.LoadOffsetsAsync(group, topic, [.. partitions.Select(p => p.Partition.Value)], cancellationToken);
        var starts = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var partition in partitions)
        {
            var number = partition.Partition.Value;
            _owned.Add(number);
            var legacy = rows.Where(r => r.Partition == number && r.WindowSeconds == StoredOffset.LegacyWindowSeconds).Select(r => (long?)r.NextOffset).FirstOrDefault();
            foreach (var window in windowSeconds)
            {
                var own = rows.Where(r => r.Partition == number && r.WindowSeconds == window).Select(r => (long?)r.NextOffset).FirstOrDefault();
                Set(_stored, (number, window), own);
                Set(_from, (number, window), own ?? legacy);
            }

            var resume = Resume(number);
            // Never flushed: everything from the topic's first offset is ours to aggregate.
            starts.Add(new TopicPartitionOffset(partition, resume is { } offset ? new Offset(offset) : Offset.Beginning));
            _next[number] = resume ?? 0;
        }
        return starts;
    }

    /// <summary>
    /// Records that a message at <paramref name="offset"/> was read; returns the first offset of the gap before it when
    /// offsets were skipped (null otherwise). The API's idempotent producer writes a partition's offsets without gaps,
    /// so a gap is messages Kafka deleted before we read them (retention), the consumer jumping to the oldest message
    /// it still has.
    /// </summary>
    public long? Read(int partition, long offset)
    {
        long? gapFrom = _next.TryGetValue(partition, out var next) && offset > next ? next : null;
        _next[partition] = offset + 1;
        return gapFrom;
    }

    /// <summary>After a committed flush of window size <paramref name="window"/>: these are its stored offsets now.</summary>
    public void Committed(int window, IReadOnlyDictionary<int, long> nextOffsets)
    {
        foreach (var (partition, next) in nextOffsets)
        {
            _stored[(partition, window)] = next;
            _from[(partition, window)] = next;
        }
    }

    /// <summary>The partitions are no longer ours (revoked or lost).</summary>
    public void Forget(IEnumerable<int> partitions)
    {
        foreach (var partition in partitions)
        {
            _owned.Remove(partition);
            _next.Remove(partition);
            foreach (var window in windowSeconds)
            {
                _stored.Remove((partition, window));
                _from.Remove((partition, window));
            }
        }
    }

    private static void Set(Dictionary<(int, int), long> map, (int, int) key, long? value)
    {
        if (value is { } v)
        {
            map[key] = v;
        }
        else
        {
            map.Remove(key);
        }
    }
}
