using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Scenario 1: the aggregator is killed with SIGKILL at random moments while the demo traffic generator
/// posts through the real API; afterwards the stored counts are exactly the acknowledged records.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class AggregatorCrashTests(ITestOutputHelper output)
{
    private const double Rate = 200;
    private const int Partitions = 8;

    [Fact]
    public async Task Stored_counts_equal_the_acknowledged_records_after_six_kill_9s_of_the_aggregator_under_load()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"random seed {seed}");
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("aggkill");
        kafka.CreateTopic(topic, Partitions);
        await using var database = await PostgresDatabaseFixture.CreateAsync("aggkill");
        var ledger = Path.Combine(Path.GetTempPath(), $"modelmonitor-ledger-{Guid.NewGuid():N}.txt");
        var apiPort = ChildProcess.FreePort();
        using var api = await Services.StartApiAsync(apiPort, kafka.BootstrapServers, topic);
        // A generous duration only as a safety net: the test stops the load itself after the last kill.
        using var generator = Services.StartGenerator(apiPort, ledger, Rate, TimeSpan.FromMinutes(3), Services.NewRunId());
        var aggregators = new List<ChildProcess>();
        try
        {
            long stored = 0;
            for (var kill = 1; kill <= Durations.AggregatorKills; kill++)
            {
                var aggregator = Services.StartAggregator(ChildProcess.FreePort(), database.ConnectionString, kafka.BootstrapServers, topic, "aggkill");
                aggregators.Add(aggregator);
                // Each incarnation first stores some hundred records (several flushes), then dies at a random
                // moment: before, during or after a flush transaction, with records read but not flushed.
                var before = stored;
                await Eventually.UntilAsync(async () => (stored = await StoredCounts.HourlyPredictionsAsync(database.ConnectionString)) > before + 300,
                    TimeSpan.FromSeconds(60), () => $"aggregator {kill} stored nothing new (still {stored}).\n{aggregator.Output()}");
                await Task.Delay(random.Next(0, 1500));
                Assert.False(generator.HasExited, $"The load ended before kill {kill}.\n{generator.Output()}");
                Assert.False(aggregator.HasExited, $"The aggregator died by itself.\n{aggregator.Output()}");
                await aggregator.KillAsync();
                output.WriteLine($"kill {kill}: {stored} stored before it");
                await Task.Delay(random.Next(0, 1000));
            }

            await Services.StopGeneratorAsync(generator);
            output.WriteLine(Services.Summary(generator));
            var acknowledged = Services.ReadLedger(ledger);
            Assert.True(acknowledged.Count > 1000, $"only {acknowledged.Count} records acknowledged");

            var last = Services.StartAggregator(ChildProcess.FreePort(), database.ConnectionString, kafka.BootstrapServers, topic, "aggkill");
            aggregators.Add(last);
            Dictionary<int, long> counts = [];
            await Eventually.UntilAsync(async () =>
            {
                counts = await StoredCounts.PredictionCountsAsync(database.ConnectionString);
                Assert.False(counts.Values.Any(c => c > acknowledged.Count), $"Double counting: stored {string.Join(", ", counts)} for {acknowledged.Count} acknowledged.");
                return counts.Count == 2 && counts.Values.All(c => c == acknowledged.Count);
            }, TimeSpan.FromSeconds(90), () => $"stored {string.Join(", ", counts)} of {acknowledged.Count} acknowledged.\n{last.Output()}");
            // Still exact a few flushes later: nothing more arrives.
            await Task.Delay(1500);
            Assert.Equal(acknowledged.Count, await StoredCounts.HourlyPredictionsAsync(database.ConnectionString));

            // Kafka holds exactly the acknowledged records (so the counts above are the right ones), and the
            // per-feature counts match those records one by one.
            var records = TopicContents.ReadAll(kafka.BootstrapServers, topic, Partitions);
            Assert.Empty(TopicContents.Missing(acknowledged, records));
            Assert.Equal(acknowledged.Count, records.Count);
            Assert.Equal(0, TopicContents.Duplicates(acknowledged));
            var expected = StoredCounts.ExpectedFeatureCounts(records);
            var actual = await StoredCounts.FeatureCountsAsync(database.ConnectionString);
            Assert.True(expected.Count > 50, $"only {expected.Count} features");
            Assert.True(expected.SequenceEqual(actual), StoredCounts.Difference(expected, actual));
        }
        finally
        {
            foreach (var aggregator in aggregators)
            {
                aggregator.Dispose();
            }

            File.Delete(ledger);
        }
    }
}
