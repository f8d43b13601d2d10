using Confluent.Kafka;
using ModelMonitor.Hosting.Kafka;

namespace ModelMonitor.Testing.Kafka;

/// <summary>
/// A real Kafka wire-protocol broker for tests: librdkafka's mock cluster, owned by this object.
/// Use as an xunit class or collection fixture. Topics auto-create with 4 partitions on first produce.
/// </summary>
public sealed class KafkaMockCluster : IDisposable
{
    private readonly MockKafkaCluster _cluster;
    private IProducer<byte[]?, byte[]>? _producer;

    public KafkaMockCluster() => _cluster = new MockKafkaCluster();

    public string BootstrapServers => _cluster.BootstrapServers;

    /// <summary>A topic name no other test uses.</summary>
    public static string UniqueTopic(string prefix = "test") => $"{prefix}.{Guid.NewGuid():N}";

    /// <summary>Produces raw messages and waits until Kafka acknowledged all of them.</summary>
    public void Produce(string topic, IEnumerable<(byte[]? Key, byte[] Value)> messages)
    {
        var producer = _producer ??= new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            EnableIdempotence = true,
            LingerMs = 2,
        }).Build();
        var failures = 0;
        foreach (var (key, value) in messages)
        {
            producer.Produce(topic, new Message<byte[]?, byte[]> { Key = key, Value = value }, report =>
            {
                if (report.Error.IsError)
                {
                    Interlocked.Increment(ref failures);
                }
            });
        }
        var left = producer.Flush(TimeSpan.FromSeconds(30));
        if (left > 0 || failures > 0)
        {
            throw new InvalidOperationException($"The mock cluster did not take every test message ({left} queued, {failures} failed).");
        }
    }

    /// <summary>Reads every message currently in the topic (all partitions, from the start).</summary>
    public IReadOnlyList<ConsumeResult<byte[]?, byte[]>> ReadAll(string topic, int expected, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = $"reader-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = false,
        }).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<byte[]?, byte[]>>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is not null)
            {
                results.Add(result);
            }
            else if (results.Count >= expected)
            {
                // Quiet for one poll after reaching the expected count: extra messages would have shown up.
                break;
            }
        }
        consumer.Close();
        return results;
    }

    public void Dispose()
    {
        _producer?.Dispose();
        _cluster.Dispose();
    }
}
