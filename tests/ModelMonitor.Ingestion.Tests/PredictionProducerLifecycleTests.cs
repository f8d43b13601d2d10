using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Metrics;
using ModelMonitor.Ingestion.Kafka;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Kafka;

namespace ModelMonitor.Ingestion.Tests;

public sealed class PredictionProducerLifecycleTests
{
    [Fact]
    public async Task A_flush_and_a_dispose_from_two_threads_at_shutdown_neither_throw()
    {
        // Nothing listens on port 9: the record stays queued, so the flush blocks while the dispose comes in
        // (seen in tests: WebApplicationFactory stops the host while the app's Run loop disposes it).
        var options = Options.Create(new KafkaOptions
        {
            BootstrapServers = "127.0.0.1:9",
            Topic = KafkaMockCluster.UniqueTopic("lifecycle"),
            DeliveryTimeout = TimeSpan.FromSeconds(2),
        });
        var producer = new PredictionProducer(options, new IngestionMetrics(new MetricsRegistry()), NullLogger<PredictionProducer>.Instance);
        var log = new PredictionLog(DateTimeOffset.UtcNow, "x", "p", "m", [], 1, []);
        var delivery = producer.DeliverAsync([log]);

        var flush = Task.Run(() => producer.Flush(TimeSpan.FromSeconds(3)));
        await Task.Delay(200);
        var dispose = Task.Run(producer.Dispose);

        await Task.WhenAll(flush, dispose).WaitAsync(TimeSpan.FromSeconds(30));
        var outcome = await delivery.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(outcome.Failed);
        producer.Flush(TimeSpan.FromSeconds(1)); // after Dispose: nothing, no exception
        producer.Dispose();
    }
}
