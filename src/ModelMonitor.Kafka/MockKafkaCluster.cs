using Confluent.Kafka;

namespace ModelMonitor.Kafka;

/// <summary>
/// librdkafka's built-in mock cluster: a real Kafka wire-protocol broker inside this process, reachable
/// over TCP by any client (another process too). In memory, not durable, keeps only ~5 MB per partition;
/// topics auto-create with 4 partitions. For tests and for trying ModelMonitor without a Kafka.
/// It lives as long as this object: the cluster is owned by a producer handle kept here.
/// </summary>
public sealed class MockKafkaCluster : IDisposable
{
    private readonly IProducer<byte[], byte[]> _owner;

    public MockKafkaCluster(int brokers = 1)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = "127.0.0.1:1", // ignored: the mock replaces it with its own listeners
        };
        config.Set("test.mock.num.brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The owner only holds the cluster: its own log lines ("Mock cluster enabled ...") are not the host's business.
        _owner = new ProducerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        try
        {
            // The brokers' addresses, from the mock itself through the owner's handle.
            using var admin = new DependentAdminClientBuilder(_owner.Handle).Build();
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
            BootstrapServers = string.Join(',', metadata.Brokers.OrderBy(b => b.BrokerId).Select(b => $"{b.Host}:{b.Port}"));
        }
        catch
        {
            _owner.Dispose();
            throw;
        }
    }

    /// <summary>host:port list of the mock brokers.</summary>
    public string BootstrapServers { get; }

    public void Dispose() => _owner.Dispose();
}
