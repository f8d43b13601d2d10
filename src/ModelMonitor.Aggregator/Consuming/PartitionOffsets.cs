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
        }
        return starts;
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
        }
    }
}
