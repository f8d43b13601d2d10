using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Kafka;

/// <summary>
/// Creates the predictions and outcomes topics at start-up when it does not exist (Kafka:CreateTopic). Runs in the
/// background so a slow or unreachable broker does not hold up start; tolerates brokers that refuse
/// (the topic may be auto-created or managed elsewhere). The AdminClient is disposed once done.
/// </summary>
public sealed class TopicInitializer(IOptions<KafkaOptions> options, ILogger<TopicInitializer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var kafka = options.Value;
        if (!kafka.CreateTopic)
        {
            return;
        }
        var config = new AdminClientConfig { BootstrapServers = kafka.BootstrapServers };
        foreach (var (key, value) in kafka.Client)
        {
            config.Set(key, value);
        }
        using var admin = new AdminClientBuilder(config)
            .SetLogHandler((_, m) => logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message))
            .SetErrorHandler((_, e) => logger.LogDebug("Kafka error {Code}: {Reason}", e.Code, e.Reason))
            .Build();
        await CreateAsync(admin, kafka.Topic, kafka.TopicPartitions, kafka.TopicReplicationFactor, stoppingToken);
        // The outcomes topic is co-partitioned with the predictions topic (CoPartitioning): the same partition count,
        // whatever the predictions topic was created with.
        var partitions = kafka.TopicPartitions;
        try
        {
            var metadata = admin.GetMetadata(kafka.Topic, TimeSpan.FromSeconds(10));
            if (metadata.Topics.FirstOrDefault(t => t.Topic == kafka.Topic) is { Error.IsError: false, Partitions.Count: > 0 } existing)
            {
                partitions = existing.Partitions.Count;
            }
        }
        catch (KafkaException e)
        {
            logger.LogWarning("Could not read the partitions of Kafka topic {Topic} ({Reason})", kafka.Topic, e.Message);
        }
        await CreateAsync(admin, kafka.OutcomesTopic, partitions, kafka.TopicReplicationFactor, stoppingToken);
    }

    private async Task CreateAsync(IAdminClient admin, string topic, int partitions, short replicationFactor, CancellationToken stoppingToken)
    {
        try
        {
            var spec = new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = replicationFactor };
            await admin.CreateTopicsAsync([spec], new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(15) })
                .WaitAsync(TimeSpan.FromSeconds(20), stoppingToken);
            logger.LogInformation("Created Kafka topic {Topic} with {Partitions} partitions", topic, partitions);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.TopicAlreadyExists or ErrorCode.NoError))
        {
            logger.LogInformation("Kafka topic {Topic} already exists", topic);
        }
        catch (Exception e) when (e is KafkaException or TimeoutException)
        {
            logger.LogWarning("Could not create Kafka topic {Topic} ({Reason}); relying on the broker to have or auto-create it",
                topic, e.Message);
        }
    }
}
