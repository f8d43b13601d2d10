using Confluent.Kafka;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Kafka;

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
    /// <param name="partitioner">Where keyed messages go; null for the shared producer's default (consistent_random).</param>
    public void Produce(string topic, IEnumerable<(byte[]? Key, byte[] Value)> messages, Partitioner? partitioner = null)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            EnableIdempotence = true,
            LingerMs = 2,
            Partitioner = partitioner,
        };
        using var own = partitioner is null ? null : new ProducerBuilder<byte[]?, byte[]>(config).Build();
        var producer = own ?? (_producer ??= new ProducerBuilder<byte[]?, byte[]>(config).Build());
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
        using var consumer = SubscribeFromStart(topic);
        var results = new List<ConsumeResult<byte[]?, byte[]>>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var result = Poll(consumer);
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

    /// <summary>
    /// Reads the topic's messages (all partitions, from the start) until they hold at least <paramref name="expected"/>
    /// prediction logs and one more poll brings nothing, and decodes each (a message holds one or more, see
    /// <see cref="PredictionMessages"/>). Throws on a record that does not decode.
    /// </summary>
    public IReadOnlyList<(ConsumeResult<byte[]?, byte[]> Message, PredictionLog Log)> ReadRecords(string topic, int expected, TimeSpan timeout)
    {
        using var consumer = SubscribeFromStart(topic);
        var records = new List<(ConsumeResult<byte[]?, byte[]>, PredictionLog)>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var message = Poll(consumer);
            if (message is null)
            {
                if (records.Count >= expected)
                {
                    break;
                }
                continue;
            }
            var logs = new List<PredictionLog>();
            var errors = new List<string>();
            PredictionMessages.Decode(message.Message.Value, logs, errors);
            if (errors.Count > 0)
            {
                throw new InvalidOperationException($"Undecodable record at {message.TopicPartitionOffset}: {errors[0]}");
            }
            records.AddRange(logs.Select(l => (message, l)));
        }
        consumer.Close();
        return records;
    }

    /// <summary>One poll; a topic nothing was written to yet reads as empty (librdkafka 2.x reports it as an error).</summary>
    private static ConsumeResult<byte[]?, byte[]>? Poll(IConsumer<byte[]?, byte[]> consumer)
    {
        try
        {
            return consumer.Consume(TimeSpan.FromMilliseconds(200));
        }
        catch (ConsumeException e) when (e.Error.Code == ErrorCode.UnknownTopicOrPart)
        {
            return null;
        }
    }

    /// <summary>A consumer of its own group on every partition of <paramref name="topic"/>, from the first offset.</summary>
    private IConsumer<byte[]?, byte[]> SubscribeFromStart(string topic)
    {
        var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = $"reader-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnablePartitionEof = false,
        }).Build();
        consumer.Subscribe(topic);
        return consumer;
    }

    public void Dispose()
    {
        _producer?.Dispose();
        _cluster.Dispose();
    }
}
