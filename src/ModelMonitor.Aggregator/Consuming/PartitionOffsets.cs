using Confluent.Kafka;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>
/// The partitions this consumer owns and the next offset Postgres holds for each (the source of truth: Kafka's
/// committed offsets are only for visibility). One load path serves both an assignment and a rewind after a
/// dropped delta: read the stored offsets, remember them, and return where to start (stored, or the beginning).
/// </summary>
internal sealed class PartitionOffsets(StatisticsStore store, string group, string topic)
{
    // Partition → next_offset stored in Postgres (absent: no row yet), for the partitions we own.
    private readonly Dictionary<int, long> _stored = [];
    private readonly HashSet<int> _owned = [];

    // Partition → the offset the next message read should have (the start, then the last read + 1).
    private readonly Dictionary<int, long> _next = [];

    /// <summary>What Postgres holds, per owned partition (the expected values of the next flush's compare-and-set).</summary>
    public IReadOnlyDictionary<int, long> Stored => _stored;

    public bool Owns(int partition) => _owned.Contains(partition);

    /// <summary>Reads the stored offsets of <paramref name="partitions"/>, takes ownership of them, and returns where
    /// each starts. Throws what Postgres throws (the caller retries).</summary>
    public async Task<List<TopicPartitionOffset>> LoadAsync(IReadOnlyCollection<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var stored = await store.LoadOffsetsAsync(group, topic, [.. partitions.Select(p => p.Partition.Value)], cancellationToken);
        var starts = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var partition in partitions)
        {
            var number = partition.Partition.Value;
            _owned.Add(number);
            if (stored.TryGetValue(number, out var next))
            {
                _stored[number] = next;
                starts.Add(new TopicPartitionOffset(partition, new Offset(next)));
            }
            else
            {
                _stored.Remove(number);
                starts.Add(new TopicPartitionOffset(partition, Offset.Beginning));
            }
            // Never flushed: everything from the topic's first offset is ours to aggregate.
            _next[number] = stored.GetValueOrDefault(number);
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

    /// <summary>After a committed flush: these are the stored offsets now.</summary>
    public void Committed(IReadOnlyDictionary<int, long> nextOffsets)
    {
        foreach (var (partition, next) in nextOffsets)
        {
            _stored[partition] = next;
        }
    }

    /// <summary>The partitions are no longer ours (revoked or lost).</summary>
    public void Forget(IEnumerable<int> partitions)
    {
        foreach (var partition in partitions)
        {
            _owned.Remove(partition);
            _stored.Remove(partition);
            _next.Remove(partition);
        }
    }
}
