using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Ingestion.Kafka;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Kafka;

namespace ModelMonitor.Ingestion.Tests;

public sealed class PredictionProducerLifecycleTests
{
    [Fact]
    public async Task A_record_still_queued_at_shutdown_is_reported_failed_and_a_concurrent_flush_and_dispose_do_not_throw()
    {
        // The record must really be in librdkafka's queue when the producer stops: the topic's partitions are known
        // (a first record is delivered), then every broker goes down. The delivery timeout is long, so only the
        // shutdown path can answer the caller within the test's wait (seen in tests: WebApplicationFactory stops the
        // host while the app's Run loop disposes it, a flush and a dispose from two threads).
        using var cluster = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("lifecycle");
        cluster.CreateTopic(topic, partitions: 2);
        var options = Options.Create(new KafkaOptions
        {
            BootstrapServers = cluster.BootstrapServers,
            Topic = topic,
            DeliveryTimeout = TimeSpan.FromMinutes(5),
        });
        var producer = new PredictionProducer(options, new IngestionMetrics(Prometheus.Metrics.WithCustomRegistry(Prometheus.Metrics.NewCustomRegistry())), NullLogger<PredictionProducer>.Instance);
        var log = new PredictionLog(DateTimeOffset.UtcNow, "x", "p", "m", [], 1, []);
        Assert.Empty((await producer.DeliverAsync([log]).WaitAsync(TimeSpan.FromSeconds(30))).Failed);

        cluster.SetAllBrokersDown();
        var delivery = producer.DeliverAsync([log, log with { PredictionId = "y" }]);
        await Task.Delay(300);
        Assert.False(delivery.IsCompleted, "the records were answered before the shutdown: the test no longer checks the shutdown path");

        var flush = Task.Run(() => producer.Flush(TimeSpan.FromSeconds(1)));
        await Task.Delay(100);
        var dispose = Task.Run(producer.Dispose);
        await Task.WhenAll(flush, dispose).WaitAsync(TimeSpan.FromSeconds(30));

        var outcome = await delivery.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([0, 1], outcome.Failed);
        Assert.Equal(2, outcome.PossiblyStored); // sent or not, the broker may have it: the caller may resend
        producer.Flush(TimeSpan.FromSeconds(1)); // after Dispose: nothing, no exception
        producer.Dispose();
    }
}
