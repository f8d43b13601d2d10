using Microsoft.Extensions.Options;

namespace ModelMonitor.Kafka;

/// <summary>Kafka connection and topic settings, shared by the API and the aggregator (section "Kafka").</summary>
public sealed class KafkaOptions
{
    public const string SectionName = "Kafka";

    /// <summary>host:port list of the brokers. Empty only in the all-in-one host, which then embeds a mock cluster.</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>The topic prediction logs are written to and read from.</summary>
    public string Topic { get; set; } = "modelmonitor.predictions";

    /// <summary>The topic actual outcomes are written to and read from. Co-partitioned with <see cref="Topic"/>: the same
    /// partition count (checked at start), records placed by murmur2(prediction_id), so an outcome meets its predictions
    /// in the same partition number.</summary>
    public string OutcomesTopic { get; set; } = "modelmonitor.outcomes";

    /// <summary>Partitions when the API creates the topic at start-up (more partitions, more aggregator instances).</summary>
    public int TopicPartitions { get; set; } = 12;

    /// <summary>Replication factor when the API creates the topic at start-up.</summary>
    public short TopicReplicationFactor { get; set; } = 1;

    /// <summary>Create the topic at start-up if it does not exist (tolerates brokers that do not allow it).</summary>
    public bool CreateTopic { get; set; } = true;

    /// <summary>How long the API waits for Kafka to acknowledge a record before answering 503.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Producer queue bound (messages); when full, the API answers 503 instead of growing memory.</summary>
    public int ProducerQueueMaxMessages { get; set; } = 200_000;

    /// <summary>Producer queue bound (KiB).</summary>
    public int ProducerQueueMaxKBytes { get; set; } = 256 * 1024;

    /// <summary>How long the producer waits to fill a batch.</summary>
    public double LingerMs { get; set; } = 5;

    /// <summary>
    /// Largest Kafka message the API writes, in bytes (uncompressed). A request's records for one partition travel in
    /// as few messages as this allows; a single record larger than this is refused with a 400. Keep it below the
    /// topic's max.message.bytes (broker default 1 MB) and librdkafka's message.max.bytes (default 1,000,000).
    /// </summary>
    public int MaxMessageBytes { get; set; } = 900_000;

    /// <summary>none, gzip, snappy, lz4 or zstd.</summary>
    public string Compression { get; set; } = "lz4";

    /// <summary>Any other librdkafka property, e.g. Kafka__Client__security.protocol=SASL_SSL.</summary>
    public Dictionary<string, string> Client { get; set; } = [];
}

internal sealed class KafkaOptionsValidator : IValidateOptions<KafkaOptions>
{
    private static readonly string[] Compressions = ["none", "gzip", "snappy", "lz4", "zstd"];

    public ValidateOptionsResult Validate(string? name, KafkaOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Topic))
        {
            errors.Add("Kafka:Topic must not be empty.");
        }
        if (string.IsNullOrWhiteSpace(options.OutcomesTopic) || options.OutcomesTopic == options.Topic)
        {
            errors.Add($"Kafka:OutcomesTopic must be set and differ from Kafka:Topic (got '{options.OutcomesTopic}').");
        }
        if (options.TopicPartitions < 1)
        {
            errors.Add($"Kafka:TopicPartitions must be at least 1 (got {options.TopicPartitions}).");
        }
        if (options.TopicReplicationFactor < 1)
        {
            errors.Add($"Kafka:TopicReplicationFactor must be at least 1 (got {options.TopicReplicationFactor}).");
        }
        if (options.DeliveryTimeout < TimeSpan.FromMilliseconds(100) || options.DeliveryTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Kafka:DeliveryTimeout must be between 100 ms and 5 minutes (got {options.DeliveryTimeout}).");
        }
        if (options.ProducerQueueMaxMessages < 1000)
        {
            errors.Add($"Kafka:ProducerQueueMaxMessages must be at least 1000 (got {options.ProducerQueueMaxMessages}).");
        }
        if (options.ProducerQueueMaxKBytes < 1024)
        {
            errors.Add($"Kafka:ProducerQueueMaxKBytes must be at least 1024 (got {options.ProducerQueueMaxKBytes}).");
        }
        if (options.MaxMessageBytes < 16 * 1024 || options.MaxMessageBytes > 100_000_000)
        {
            errors.Add($"Kafka:MaxMessageBytes must be between 16384 and 100000000 (got {options.MaxMessageBytes}).");
        }
        if (!Compressions.Contains(options.Compression))
        {
            errors.Add($"Kafka:Compression must be one of {string.Join(", ", Compressions)} (got '{options.Compression}').");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
