using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Kafka;

/// <summary>
/// Creates the predictions topic at start-up when it does not exist (Kafka:CreateTopic). Runs in the
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
        using var admin = new AdminClientBuilder(config).Build();
        try
        {
            var spec = new TopicSpecification
            {
                Name = kafka.Topic,
                NumPartitions = kafka.TopicPartitions,
                ReplicationFactor = kafka.TopicReplicationFactor,
            };
            await admin.CreateTopicsAsync([spec], new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(15) })
                .WaitAsync(TimeSpan.FromSeconds(20), stoppingToken);
            logger.LogInformation("Created Kafka topic {Topic} with {Partitions} partitions", kafka.Topic, kafka.TopicPartitions);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.TopicAlreadyExists or ErrorCode.NoError))
        {
            logger.LogInformation("Kafka topic {Topic} already exists", kafka.Topic);
        }
        catch (Exception e) when (e is KafkaException or TimeoutException)
        {
            logger.LogWarning("Could not create Kafka topic {Topic} ({Reason}); relying on the broker to have or auto-create it",
                kafka.Topic, e.Message);
        }
    }
}
