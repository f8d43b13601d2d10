using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Scenario 2: the ingestion API is killed with SIGKILL under load and restarted on the same port; every
/// record it acknowledged (the generator's ledger of 2xx) is in Kafka. The broker lives in the test
/// process, so it outlives the API.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class ApiCrashTests(ITestOutputHelper output)
{
    private const double Rate = 300;
    private const int Partitions = 8;

    [Fact]
    public async Task Every_acknowledged_prediction_is_in_Kafka_after_five_kill_9s_of_the_API_under_load()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"random seed {seed}");
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("apikill");
        kafka.CreateTopic(topic, Partitions);
        var ledger = Path.Combine(Path.GetTempPath(), $"modelmonitor-ledger-{Guid.NewGuid():N}.txt");
        var port = ChildProcess.FreePort();
        var api = await Services.StartApiAsync(port, kafka.BootstrapServers, topic);
        using var generator = Services.StartGenerator(port, ledger, Rate, TimeSpan.FromMinutes(3), Services.NewRunId());
        try
        {
            for (var kill = 1; kill <= Durations.ApiKills; kill++)
            {
                // This incarnation acknowledges records first, then dies with requests in flight.
                var before = Services.LedgerLines(ledger);
                await Eventually.UntilAsync(() => Task.FromResult(Services.LedgerLines(ledger) > before + 100), TimeSpan.FromSeconds(30),
                    () => $"API incarnation {kill} acknowledged nothing.\n{api.Output()}\n{generator.Output()}");
                await Task.Delay(random.Next(200, 1500));
                Assert.False(generator.HasExited, $"The load ended before kill {kill}.\n{generator.Output()}");
                await api.KillAsync();
                api.Dispose();
                output.WriteLine($"kill {kill}: {Services.LedgerLines(ledger)} acknowledged so far");
                await Task.Delay(random.Next(0, 1000));
                api = await Services.StartApiAsync(port, kafka.BootstrapServers, topic);
            }

            var final = Services.LedgerLines(ledger);
            await Eventually.UntilAsync(() => Task.FromResult(Services.LedgerLines(ledger) > final + 100), TimeSpan.FromSeconds(30),
                () => $"the last API acknowledged nothing.\n{api.Output()}");
            await Services.StopGeneratorAsync(generator);
            output.WriteLine(Services.Summary(generator));

            var acknowledged = Services.ReadLedger(ledger);
            var records = TopicContents.ReadAll(kafka.BootstrapServers, topic, Partitions);
            var missing = TopicContents.Missing(acknowledged, records);
            Assert.True(missing.Count == 0,
                $"{missing.Count} of {acknowledged.Count} acknowledged records are not in Kafka, e.g. {string.Join(", ", missing.Take(5))}");
            Assert.Equal(0, TopicContents.Duplicates(acknowledged));
            // Extra records in Kafka are requests that were written but whose answer died with the API: the
            // client could not know and resent them (at least once), never acknowledged twice.
            var keys = records.Select(r => (r.PredictionId, r.ModelId)).ToList();
            output.WriteLine($"{acknowledged.Count} acknowledged, {records.Count} in Kafka, {TopicContents.Duplicates(keys)} keys written twice by resends");
            Assert.True(records.Count >= acknowledged.Count);
        }
        finally
        {
            api.Dispose();
            File.Delete(ledger);
        }
    }
}
