using ModelMonitor.Kafka;

namespace ModelMonitor.AllInOne;

/// <summary>
/// With no Kafka configured, the all-in-one host embeds librdkafka's mock cluster: a real Kafka
/// wire-protocol broker inside this process, in memory, NOT durable (about 5 MB kept per partition).
/// It is for trying ModelMonitor out; set Kafka:BootstrapServers to use a real Kafka.
/// </summary>
internal static class EmbeddedKafka
{
    /// <summary>Starts the mock cluster when Kafka:BootstrapServers is empty; null when a real Kafka is configured.</summary>
    public static MockKafkaCluster? StartUnlessConfigured(WebApplicationBuilder builder)
    {
        var configured = builder.Configuration[$"{KafkaOptions.SectionName}:{nameof(KafkaOptions.BootstrapServers)}"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return null;
        }
        var cluster = new MockKafkaCluster();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{KafkaOptions.SectionName}:{nameof(KafkaOptions.BootstrapServers)}"] = cluster.BootstrapServers,
            // The mock cannot create topics through the Admin API; it auto-creates them on first use.
            [$"{KafkaOptions.SectionName}:{nameof(KafkaOptions.CreateTopic)}"] = "false",
        });
        return cluster;
    }

    public static void LogWarning(ILogger logger, MockKafkaCluster cluster) =>
        logger.LogWarning(
            "No Kafka:BootstrapServers configured: using an EMBEDDED Kafka (librdkafka mock cluster) at {BootstrapServers}. " +
            "It is in memory and NOT durable: for trying ModelMonitor out only. Set Kafka__BootstrapServers to use a real Kafka.",
            cluster.BootstrapServers);
}
