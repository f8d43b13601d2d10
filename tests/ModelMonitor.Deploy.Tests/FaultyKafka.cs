using System.Runtime.InteropServices;
using System.Text;

namespace ModelMonitor.Deploy.Tests;

/// <summary>
/// librdkafka's mock cluster (a real Kafka wire-protocol broker, see docs) owned by the test through
/// librdkafka's C API, because the C API can also make the broker FAIL requests
/// (rd_kafka_mock_push_request_errors_array): that is how the end-to-end test produces the Kafka delivery
/// errors and the 503s the pipeline-health dashboard shows, which a healthy embedded broker never gives.
/// Confluent.Kafka 1.9.3 does not expose the mock API; Debian's librdkafka1 (2.0.2) exports it.
/// </summary>
internal sealed class FaultyKafka : IDisposable
{
    private const string Library = "librdkafka.so.1";
    private const short ProduceApiKey = 0;
    private const int ProducerType = 0;
    private IntPtr _owner;
    private readonly IntPtr _cluster;

    public FaultyKafka()
    {
        var conf = rd_kafka_conf_new();
        Set(conf, "bootstrap.servers", "127.0.0.1:1"); // ignored: the mock replaces it
        Set(conf, "test.mock.num.brokers", "1");
        Set(conf, "log_level", "3"); // the owner handle is never polled: keep its default stderr logger quiet
        var error = new byte[512];
        _owner = rd_kafka_new(ProducerType, conf, error, (UIntPtr)error.Length);
        if (_owner == IntPtr.Zero)
        {
            throw new InvalidOperationException($"rd_kafka_new failed: {Text(error)}");
        }

        _cluster = rd_kafka_handle_mock_cluster(_owner);
        if (_cluster == IntPtr.Zero)
        {
            throw new InvalidOperationException("librdkafka did not create a mock cluster (test.mock.num.brokers).");
        }

        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(_cluster))!;
    }

    public string BootstrapServers { get; }

    /// <summary>The next <paramref name="count"/> Produce requests (from any client) fail with
    /// NOT_ENOUGH_REPLICAS, a retriable error: the producer retries until its message timeout.</summary>
    public void FailProduceRequests(int count)
    {
        const int NotEnoughReplicas = 19;
        rd_kafka_mock_push_request_errors_array(_cluster, ProduceApiKey, (UIntPtr)count, Enumerable.Repeat(NotEnoughReplicas, count).ToArray());
    }

    public void StopFailingProduceRequests() => rd_kafka_mock_clear_request_errors(_cluster, ProduceApiKey);

    public void Dispose()
    {
        if (_owner != IntPtr.Zero)
        {
            rd_kafka_destroy(_owner);
            _owner = IntPtr.Zero;
        }
    }

    private static void Set(IntPtr conf, string name, string value)
    {
        var error = new byte[512];
        if (rd_kafka_conf_set(conf, Utf8(name), Utf8(value), error, (UIntPtr)error.Length) != 0)
        {
            throw new InvalidOperationException($"rd_kafka_conf_set {name}: {Text(error)}");
        }
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text + "\0");

    private static string Text(byte[] buffer) => Encoding.UTF8.GetString(buffer, 0, Math.Max(0, Array.IndexOf(buffer, (byte)0)));

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_conf_new();

    [DllImport(Library)]
    private static extern int rd_kafka_conf_set(IntPtr conf, byte[] name, byte[] value, byte[] error, UIntPtr errorSize);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] error, UIntPtr errorSize);

    [DllImport(Library)]
    private static extern void rd_kafka_destroy(IntPtr handle);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_handle_mock_cluster(IntPtr handle);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

    [DllImport(Library)]
    private static extern void rd_kafka_mock_push_request_errors_array(IntPtr cluster, short apiKey, UIntPtr count, int[] errors);

    [DllImport(Library)]
    private static extern void rd_kafka_mock_clear_request_errors(IntPtr cluster, short apiKey);
}
