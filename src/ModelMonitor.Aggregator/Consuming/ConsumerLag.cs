using Confluent.Kafka;

namespace ModelMonitor.Aggregator.Consuming;

/// <summary>modelmonitor_aggregator_consumer_lag, at most once a second, from the consumer's cached watermarks
/// (no broker round trip, no AdminClient).</summary>
internal sealed class ConsumerLag(AggregatorMetrics metrics, TimeProvider time)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private DateTimeOffset _nextAt;

    public void Update(IConsumer<Ignore, byte[]> consumer, PartitionOffsets offsets)
    {
        var now = time.GetUtcNow();
        if (now < _nextAt)
        {
            return;
        }

        _nextAt = now + Interval;
        var lag = new Dictionary<int, long>();
        foreach (var partition in consumer.Assignment)
        {
            var watermarks = consumer.GetWatermarkOffsets(partition);
            var position = consumer.Position(partition);
            if (watermarks.High.IsSpecial)
            {
                continue;
            }

            var from = position.IsSpecial ? offsets.Resume(partition.Partition.Value) ?? watermarks.Low.Value : position.Value;
            lag[partition.Partition.Value] = Math.Max(0, watermarks.High.Value - from);
        }

        metrics.SetLag(lag);
    }
}
