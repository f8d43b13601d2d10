using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using ModelMonitor.Ingestion;
using ModelMonitor.Testing.Kafka;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>The real ingestion API in-process, writing to a real (mock-cluster) Kafka broker.</summary>
public sealed class IngestionApiFactory(string bootstrapServers, string topic, IReadOnlyDictionary<string, string?>? settings = null)
    : WebApplicationFactory<IngestionOptions>
{
    public string Topic => topic;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.ConfigureAppConfiguration(config =>
        {
            var values = new Dictionary<string, string?>
            {
                ["Kafka:BootstrapServers"] = bootstrapServers,
                ["Auth:Mode"] = "None", // AuthTests set ApiKeys
                ["Kafka:Topic"] = topic,
                ["Kafka:CreateTopic"] = "false",
                ["Kafka:DeliveryTimeout"] = "00:00:05",
            };
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                values[key] = value;
            }
            config.AddInMemoryCollection(values);
        });
    }

    public static IngestionApiFactory For(KafkaMockCluster kafka, IReadOnlyDictionary<string, string?>? settings = null) =>
        new(kafka.BootstrapServers, KafkaMockCluster.UniqueTopic("predictions"), settings);
}
