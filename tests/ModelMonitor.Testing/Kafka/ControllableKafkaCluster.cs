using System.Runtime.InteropServices;

namespace ModelMonitor.Testing.Kafka;

/// <summary>
/// librdkafka's mock cluster (a real Kafka wire-protocol broker, see <see cref="KafkaMockCluster"/>)
/// owned through librdkafka's C API, so a test can take a broker down and bring it back
/// (rd_kafka_mock_broker_set_down / _up) and create topics with a chosen partition count
/// (rd_kafka_mock_topic_create). Confluent.Kafka does not expose the mock API; the librdkafka it bundles
/// (librdkafka.redist, the same library the clients load) exports it. The cluster lives in the process that owns this object: clients in
/// other processes (an API or aggregator started as a child process) connect over TCP and survive
/// neither more nor less than their own process.
/// </summary>
/// <remarks>
/// A broker set down closes every connection and refuses new ones (clients see the broker as down)
/// but keeps its partitions, so messages written before the outage are still there after it.
/// Broker ids start at 1. The owner handle is never polled: it logs only critical errors.
/// </remarks>
public sealed partial class ControllableKafkaCluster : IDisposable
{
    private const string Library = "librdkafka";

    // The same native library Confluent.Kafka loads: librdkafka.redist's runtimes/linux-x64/native holds several
    // builds; the plain librdkafka.so needs libsasl2.so.3, which Debian 12 lacks, so Confluent.Kafka picks the
    // centos8 build there. Resolve this class's imports to the first build that loads, in that order.
    static ControllableKafkaCluster() =>
        NativeLibrary.SetDllImportResolver(typeof(ControllableKafkaCluster).Assembly, (name, _, _) =>
        {
            if (name != Library)
            {
                return IntPtr.Zero;
            }
            var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
            foreach (var file in new[] { "centos8-librdkafka.so", "librdkafka.so", "alpine-librdkafka.so" })
            {
                if (NativeLibrary.TryLoad(Path.Combine(native, file), out var handle))
                {
                    return handle;
                }
            }
            throw new DllNotFoundException($"No librdkafka build in {native} loads on this machine (librdkafka.redist).");
        });
    private const int ProducerType = 0;
    private readonly Lock _gate = new();
    private IntPtr _owner;
    private readonly IntPtr _cluster;

    public ControllableKafkaCluster(int brokers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        var conf = rd_kafka_conf_new();
        Set(conf, "bootstrap.servers", "127.0.0.1:1"); // ignored: the mock replaces it
        Set(conf, "test.mock.num.brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // Critical only: its own "brokers are down" errors during a test's outage are expected noise.
        Set(conf, "log_level", "2");
        var error = new byte[512];
        _owner = rd_kafka_new(ProducerType, conf, error, (UIntPtr)error.Length);
        if (_owner == IntPtr.Zero)
        {
            throw new InvalidOperationException($"rd_kafka_new failed: {Text(error)}");
        }

        _cluster = rd_kafka_handle_mock_cluster(_owner);
        if (_cluster == IntPtr.Zero)
        {
            rd_kafka_destroy(_owner);
            throw new InvalidOperationException("librdkafka did not create a mock cluster (test.mock.num.brokers).");
        }

        BrokerCount = brokers;
        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(_cluster))
            ?? throw new InvalidOperationException("The mock cluster has no bootstrap address.");
    }

    /// <summary>host:port list of the mock brokers on 127.0.0.1.</summary>
    public string BootstrapServers { get; }

    public int BrokerCount { get; }

    /// <summary>
    /// Creates <paramref name="topic"/> with <paramref name="partitions"/> partitions (auto-created topics
    /// get 4). The mock keeps only about 5 MB per partition, so more partitions hold more messages.
    /// </summary>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        var code = Call(() => rd_kafka_mock_topic_create(_cluster, topic, partitions, replicationFactor));
        if (code != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_topic_create {topic}: error code {code}.");
        }
    }

    /// <summary>Disconnects every client of broker <paramref name="brokerId"/> and refuses new connections until <see cref="SetBrokerUp"/>.</summary>
    public void SetBrokerDown(int brokerId) => Check(Call(() => rd_kafka_mock_broker_set_down(_cluster, brokerId)), "set_down", brokerId);

    /// <summary>Accepts connections on broker <paramref name="brokerId"/> again.</summary>
    public void SetBrokerUp(int brokerId) => Check(Call(() => rd_kafka_mock_broker_set_up(_cluster, brokerId)), "set_up", brokerId);

    /// <summary>Every broker down (the whole cluster unreachable).</summary>
    public void SetAllBrokersDown()
    {
        for (var id = 1; id <= BrokerCount; id++)
        {
            SetBrokerDown(id);
        }
    }

    public void SetAllBrokersUp()
    {
        for (var id = 1; id <= BrokerCount; id++)
        {
            SetBrokerUp(id);
        }
    }

    /// <summary>The next <paramref name="count"/> Produce requests (from any client) fail with
    /// NOT_ENOUGH_REPLICAS, a retriable error: producers retry until their message timeout. This gives
    /// real delivery errors and 503s while the broker stays up.</summary>
    public void FailProduceRequests(int count)
    {
        const int NotEnoughReplicas = 19;
        var errors = Enumerable.Repeat(NotEnoughReplicas, count).ToArray();
        Call(() =>
        {
            rd_kafka_mock_push_request_errors_array(_cluster, ProduceApiKey, (UIntPtr)count, errors);
            return 0;
        });
    }

    public void StopFailingProduceRequests() => Call(() =>
    {
        rd_kafka_mock_clear_request_errors(_cluster, ProduceApiKey);
        return 0;
    });

    private const short ProduceApiKey = 0;

    public void Dispose()
    {
        lock (_gate)
        {
            if (_owner != IntPtr.Zero)
            {
                rd_kafka_destroy(_owner);
                _owner = IntPtr.Zero;
            }
        }
    }

    private int Call(Func<int> action)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_owner == IntPtr.Zero, this);
            return action();
        }
    }

    private static void Check(int code, string what, int brokerId)
    {
        if (code != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_broker_{what}({brokerId}) failed with error code {code}.");
        }
    }

    private static void Set(IntPtr conf, string name, string value)
    {
        var error = new byte[512];
        if (rd_kafka_conf_set(conf, name, value, error, (UIntPtr)error.Length) != 0)
        {
            throw new InvalidOperationException($"rd_kafka_conf_set {name}: {Text(error)}");
        }
    }

    private static string Text(byte[] buffer) =>
        System.Text.Encoding.UTF8.GetString(buffer, 0, Math.Max(0, Array.IndexOf(buffer, (byte)0)));

    [LibraryImport(Library)]
    private static partial IntPtr rd_kafka_conf_new();

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rd_kafka_conf_set(IntPtr conf, string name, string value, [Out] byte[] error, UIntPtr errorSize);

    [LibraryImport(Library)]
    private static partial IntPtr rd_kafka_new(int type, IntPtr conf, [Out] byte[] error, UIntPtr errorSize);

    [LibraryImport(Library)]
    private static partial void rd_kafka_destroy(IntPtr handle);

    [LibraryImport(Library)]
    private static partial IntPtr rd_kafka_handle_mock_cluster(IntPtr handle);

    [LibraryImport(Library)]
    private static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(Library)]
    private static partial void rd_kafka_mock_push_request_errors_array(IntPtr cluster, short apiKey, UIntPtr count, [In] int[] errors);

    [LibraryImport(Library)]
    private static partial void rd_kafka_mock_clear_request_errors(IntPtr cluster, short apiKey);

    [LibraryImport(Library)]
    private static partial int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);

    [LibraryImport(Library)]
    private static partial int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);
}
