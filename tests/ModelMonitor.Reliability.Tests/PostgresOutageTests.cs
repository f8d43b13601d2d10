using System.Globalization;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Scenario 4: Postgres is stopped for 30 s while the generator posts through the API. The aggregator
/// process keeps running, stops consuming at its buffer bound (Kafka holds the backlog), resumes by itself,
/// and the stored counts end exactly at the acknowledged records.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class PostgresOutageTests(ITestOutputHelper output)
{
    private const int Partitions = 8;

    [Fact]
    public async Task Postgres_stopped_for_30_s_under_load_pauses_the_aggregator_which_resumes_with_exact_counts()
    {
        await using var server = await PostgresServer.CreateAsync();
        var connectionString = await server.CreateDatabaseAsync("pgoutage");
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("pgoutage");
        kafka.CreateTopic(topic, Partitions);
        var ledger = Path.Combine(Path.GetTempPath(), $"modelmonitor-ledger-{Guid.NewGuid():N}.txt");
        var apiPort = ChildProcess.FreePort();
        using var api = await Services.StartApiAsync(apiPort, kafka.BootstrapServers, topic);
        var aggregatorPort = ChildProcess.FreePort();
        using var aggregator = Services.StartAggregator(aggregatorPort, connectionString, kafka.BootstrapServers, topic, "pgoutage",
            new Dictionary<string, string?>
            {
                // A small bound, so the outage also exercises pausing the partitions.
                ["Aggregator:MaxBufferedRecords"] = "1000",
            });
        using var generator = Services.StartGenerator(apiPort, ledger, 150, TimeSpan.FromMinutes(3) + (2 * Durations.Outage), Services.NewRunId());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var metrics = new Uri(Services.Url(aggregatorPort), "metrics");
        try
        {
            await Eventually.UntilAsync(async () => await StoredCounts.HourlyPredictionsAsync(connectionString) > 500, TimeSpan.FromSeconds(60),
                () => $"nothing stored before the outage\n{aggregator.Output()}");

            await server.StopAsync();
            var consumedAtStop = await MetricAsync(http, metrics, "modelmonitor_aggregator_records_consumed_total");
            await Task.Delay(Durations.Outage / 2);
            var consumedMidway = await MetricAsync(http, metrics, "modelmonitor_aggregator_records_consumed_total");
            await Task.Delay(Durations.Outage / 2);
            var consumedAtEnd = await MetricAsync(http, metrics, "modelmonitor_aggregator_records_consumed_total");
            var flushErrors = await MetricAsync(http, metrics, "modelmonitor_aggregator_flush_errors_total");
            var acknowledgedDuringOutage = Services.LedgerLines(ledger);
            Assert.False(aggregator.HasExited, $"The aggregator died during the outage.\n{aggregator.Output()}");
            await server.StartAsync();

            output.WriteLine($"consumed: {consumedAtStop} at the stop, {consumedMidway} midway, {consumedAtEnd} at the end of the outage; {flushErrors} failed flushes");
            Assert.True(flushErrors >= 2, $"only {flushErrors} failed flushes while Postgres was down");
            // Paused: during the second half of the outage the aggregator read (next to) nothing more, although the
            // API kept acknowledging, so the backlog waited in Kafka rather than in the aggregator's memory.
            Assert.True(consumedAtEnd - consumedMidway <= 1000, $"still consuming while Postgres was down ({consumedMidway} → {consumedAtEnd})");
            Assert.True(acknowledgedDuringOutage > consumedAtEnd, "the API did not keep acknowledging during the Postgres outage");

            // It resumes by itself: the load keeps going for a while after Postgres is back.
            await Eventually.UntilAsync(async () => await MetricAsync(http, metrics, "modelmonitor_aggregator_records_consumed_total") > consumedAtEnd + 500,
                TimeSpan.FromSeconds(60), () => $"the aggregator did not resume\n{aggregator.Output()}");
            await Services.StopGeneratorAsync(generator);
            output.WriteLine(Services.Summary(generator));
            var acknowledged = Services.ReadLedger(ledger);

            Dictionary<int, long> counts = [];
            await Eventually.UntilAsync(async () =>
            {
                counts = await StoredCounts.PredictionCountsAsync(connectionString);
                Assert.False(counts.Values.Any(c => c > acknowledged.Count), $"Double counting: stored {string.Join(", ", counts)} for {acknowledged.Count} acknowledged.");
                return counts.Count == 2 && counts.Values.All(c => c == acknowledged.Count);
            }, TimeSpan.FromSeconds(90), () => $"stored {string.Join(", ", counts)} of {acknowledged.Count} acknowledged.\n{aggregator.Output()}");
            Assert.False(aggregator.HasExited, "the aggregator was restarted; it should have resumed by itself");

            var records = TopicContents.ReadAll(kafka.BootstrapServers, topic, Partitions);
            Assert.Equal(acknowledged.Count, records.Count);
            Assert.Empty(TopicContents.Missing(acknowledged, records));
            var expected = StoredCounts.ExpectedFeatureCounts(records);
            var actual = await StoredCounts.FeatureCountsAsync(connectionString);
            Assert.True(expected.SequenceEqual(actual), StoredCounts.Difference(expected, actual));
        }
        finally
        {
            File.Delete(ledger);
        }
    }

    private static async Task<double> MetricAsync(HttpClient http, Uri url, string name) => Exposition.Sample(await http.GetStringAsync(url), name);
}
