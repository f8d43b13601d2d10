using System.Text;
using Confluent.Kafka;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;
using ModelMonitor.Kafka;

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
    /// One message per prediction, keyed by prediction_id, the value the record's JSON as the client sent it (the demo
    /// generator's payload writer) after "v" (<see cref="PredictionLogCodec.ValueOf"/>): what a prediction service
    /// writing straight to Kafka would produce, and the single-record form the aggregator also reads.
    /// </summary>
    public static List<Message<byte[], byte[]>> PerRecordMessages(IReadOnlyList<PredictionLog> records)
    {
        var batch = Parse(records);
        return [.. batch.Accepted.Select((log, i) => new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes(log.PredictionId),
            Value = PredictionLogCodec.ValueOf(log, batch.AcceptedJson[i]),
        })];
    }

    /// <summary>
    /// Exactly what the API writes for <paramref name="records"/> sent in requests of <paramref name="requestSize"/>:
    /// per request, one message per partition (<see cref="PredictionMessages.Plan"/>, default Kafka:MaxMessageBytes).
    /// </summary>
    public static List<(int Partition, Message<byte[], byte[]> Message, int Records)> ApiMessages(
        IReadOnlyList<PredictionLog> records, int requestSize, int partitions)
    {
        var output = new List<(int, Message<byte[], byte[]>, int)>();
        var maxBytes = new KafkaOptions().MaxMessageBytes;
        foreach (var request in records.Chunk(requestSize))
        {
            var batch = Parse(request);
            foreach (var message in PredictionMessages.Plan(batch.Accepted, batch.AcceptedJson, partitions, maxBytes).Messages)
            {
                output.Add((message.Partition, new Message<byte[], byte[]> { Value = message.Value }, message.Records.Length));
            }
        }
        return output;
    }

    private static ParsedBatch Parse(IReadOnlyList<PredictionLog> records)
    {
        var body = PredictionPayloadWriter.ToBytes(records, PayloadFormat.Json);
        var batch = new PredictionBatchParser(new IngestionLimits { MaxRecordsPerRequest = records.Count })
            .Parse(body, BodyFormat.Json, DateTimeOffset.UtcNow);
        if (batch.Accepted.Count != records.Count)
        {
            throw new InvalidOperationException($"the workload has {batch.RejectedCount} invalid records");
        }
        return batch;
    }

    /// <summary>The API producer's settings (PredictionProducer with the default KafkaOptions): idempotent, acks=all, linger 5 ms, lz4.</summary>
    public static IProducer<byte[], byte[]> ApiLikeProducer(string bootstrapServers)
    {
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
    public static void Produce(IProducer<byte[], byte[]> producer, string topic, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> report) =>
        Produce(producer, new TopicPartition(topic, Partition.Any), message, report);

    /// <summary>Produces to one partition (or <see cref="Partition.Any"/>), waiting on a full local queue rather than failing.</summary>
    public static void Produce(IProducer<byte[], byte[]> producer, TopicPartition partition, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> report)
    {
        while (true)
        {
            try
            {
                producer.Produce(partition, message, report);
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
