using System.Text;
using Confluent.Kafka;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;
using ModelMonitor.Hosting.Kafka;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// The records every scenario uses: the demo generator's three predictors (17-20 features each, 4
/// models, numeric, categorical and boolean features, 0.5% missing, 1-3% defaults), no incidents.
/// </summary>
internal static class Workload
{
    public static List<PredictionLog> Records(int count, Func<int, DateTimeOffset> sentAt, string runId = "bench", int seed = 42)
    {
        var generator = new TrafficGenerator(seed, runId, IncidentSchedule.None);
        var output = new List<PredictionLog>(count + 2);
        var i = 0;
        while (output.Count < count)
        {
            generator.NextLive(sentAt(i++), TimeSpan.FromHours(2), TimeSpan.FromDays(1), output);
        }
        output.RemoveRange(count, output.Count - count);
        return output;
    }

    /// <summary>The HTTP bodies (JSON arrays) of <paramref name="records"/> in batches.</summary>
    public static List<byte[]> Payloads(IReadOnlyList<PredictionLog> records, int batchSize)
    {
        var payloads = new List<byte[]>();
        for (var i = 0; i + batchSize <= records.Count; i += batchSize)
        {
            payloads.Add(PredictionPayloadWriter.ToBytes(records.Skip(i).Take(batchSize).ToList(), PayloadFormat.Json));
        }
        return payloads;
    }

    /// <summary>
    /// Exactly what the API writes to Kafka for each record: key prediction_id, value the record's JSON as the
    /// client sent it (the demo generator's payload writer) after "v" (<see cref="PredictionLogCodec.ValueOf"/>).
    /// </summary>
    public static List<Message<byte[], byte[]>> KafkaMessages(IReadOnlyList<PredictionLog> records)
    {
        var body = PredictionPayloadWriter.ToBytes(records, PayloadFormat.Json);
        var batch = new PredictionBatchParser(new IngestionLimits { MaxRecordsPerRequest = records.Count })
            .Parse(body, BodyFormat.Json, DateTimeOffset.UtcNow);
        if (batch.Accepted.Count != records.Count)
        {
            throw new InvalidOperationException($"the workload has {batch.RejectedCount} invalid records");
        }
        return [.. batch.Accepted.Select((log, i) => new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes(log.PredictionId),
            Value = PredictionLogCodec.ValueOf(log, batch.AcceptedJson[i]),
        })];
    }

    /// <summary>The API producer's settings (PredictionProducer with the default KafkaOptions): idempotent, acks=all, linger 5 ms, lz4.</summary>
    public static IProducer<byte[], byte[]> ApiLikeProducer(string bootstrapServers)
    {
        KafkaNative.EnsureLoaded();
        var defaults = new KafkaOptions();
        return new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = defaults.LingerMs,
            MessageTimeoutMs = (int)defaults.DeliveryTimeout.TotalMilliseconds,
            QueueBufferingMaxMessages = defaults.ProducerQueueMaxMessages,
            QueueBufferingMaxKbytes = defaults.ProducerQueueMaxKBytes,
            CompressionType = CompressionType.Lz4,
            ClientId = "modelmonitor-benchmark",
            DeliveryReportFields = "status",
        }).Build();
    }

    /// <summary>Produces, waiting on a full local queue rather than failing; returns failed deliveries.</summary>
    public static void Produce(IProducer<byte[], byte[]> producer, string topic, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> report)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, message, report);
                return;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(1));
            }
        }
    }

    /// <summary>Low watermarks per partition (broker round trip through a consumer: no AdminClient).</summary>
    public static long[] LowWatermarks(string bootstrapServers, string topic, int partitions = 4)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = bootstrapServers, GroupId = "watermarks-" + Guid.NewGuid().ToString("N") }).Build();
        return Enumerable.Range(0, partitions).Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).Low.Value).ToArray();
    }
}
