using Confluent.Kafka;

namespace ModelMonitor.Hosting.Kafka;

/// <summary>
/// librdkafka's built-in mock cluster: a real Kafka wire-protocol broker inside this process, reachable
/// over TCP by any client (another process too). In memory, not durable, keeps only ~5 MB per partition;
/// topics auto-create with 4 partitions. For tests and for trying ModelMonitor without a Kafka.
/// It lives as long as this object: the cluster is owned by a producer handle kept here.
/// </summary>
public sealed class MockKafkaCluster : IDisposable
{
    private const string Marker = "replaced with ";
    private readonly IProducer<byte[], byte[]> _owner;

    public MockKafkaCluster(int brokers = 1)
    {
        KafkaNative.EnsureLoaded();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var config = new ProducerConfig
        {
            BootstrapServers = "127.0.0.1:1",
        };
        config.Set("test.mock.num.brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The mock announces its listener in a log line: "Mock cluster enabled: original bootstrap.servers
        // and security.protocol ignored and replaced with 127.0.0.1:PORT". Reading it avoids an AdminClient,
        // which spins a CPU core for as long as it lives with this librdkafka version.
        _owner = new ProducerBuilder<byte[], byte[]>(config)
            .SetLogHandler((_, message) =>
            {
                var at = message.Message.IndexOf(Marker, StringComparison.Ordinal);
                if (at >= 0)
                {
                    address.TrySetResult(message.Message[(at + Marker.Length)..].Trim());
                }
            })
            .Build();
        if (!address.Task.Wait(TimeSpan.FromSeconds(10)))
        {
            _owner.Dispose();
            throw new InvalidOperationException("librdkafka's mock cluster did not announce its address within 10 s.");
        }
        BootstrapServers = address.Task.Result;
    }

    /// <summary>host:port list of the mock brokers.</summary>
    public string BootstrapServers { get; }

    public void Dispose() => _owner.Dispose();
}
