using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;
using Npgsql;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>
/// Thousands of models × features (issue 14): every window size is written on its own cadence with its own offsets
/// (1m every flush interval, 5m and 1h less often), and kill -9s between and during those flushes still store every
/// record exactly once in every size, every (window, model, feature) row equal to the exact answer from the raw data.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class HighCardinalityTests : IDisposable
{
    private const int Models = 2_000;
    private const int Features = 20;
    private readonly KafkaMockCluster _kafka = new();

    public void Dispose() => _kafka.Dispose();

    [Fact]
    public async Task Two_thousand_models_of_twenty_features_are_stored_exactly_once_through_crashes_with_each_window_size_on_its_cadence()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("cardinality");
        var topic = KafkaMockCluster.UniqueTopic("cardinality");
        var settings = AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "cardinality");
        settings["Aggregator:Windows"] = "1m,5m,1h";
        // 1m rows every 200 ms, 5m and 1h rows every 2 s: the sizes' offsets are apart when the kills come.
        settings["Aggregator:MaxFlushInterval"] = "00:00:02";
        var logs = Generate(12_000);
        var chunks = logs.Chunk(2_000).ToList();

        var produced = Produce(topic, chunks[0]);
        for (var crash = 0; crash < 2; crash++)
        {
            using var process = AggregatorHarness.StartProcess(settings);
            await Eventually.UntilAsync(async () => (await AggregatorHarness.PredictionCountsAsync(database.ConnectionString)).GetValueOrDefault(60) > 0,
                TimeSpan.FromSeconds(60), "the first 1m rows stored before the crash");
            produced += Produce(topic, chunks[1 + (2 * crash)]);
            await Task.Delay(700 + (crash * 900));
            await process.KillAsync();
            produced += Produce(topic, chunks[2 + (2 * crash)]);
        }

        produced += Produce(topic, chunks[5]);
        Assert.Equal(logs.Count, chunks.Sum(c => c.Length));
        using (var last = AggregatorHarness.StartProcess(settings))
        {
            await AggregatorHarness.WaitForCountAsync(database.ConnectionString, logs.Count, TimeSpan.FromSeconds(120), windowSizes: 3);
            await Eventually.UntilAsync(async () => await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "cardinality") == produced,
                TimeSpan.FromSeconds(30), "every window size's offsets at the end of the topic");
            await last.KillAsync();
        }

        // Every (window, model, feature) row against the raw data: count, sum and extremes.
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        foreach (var seconds in new[] { 60, 300, 3600 })
        {
            var expected = logs
                .SelectMany(log => log.Features.Select(f => (Start: log.SentAt.ToUnixTimeSeconds() / seconds * seconds, log.ModelId, Feature: f.Key, f.Value.Number)))
                .GroupBy(v => (v.Start, v.ModelId, v.Feature))
                .ToDictionary(g => g.Key, g => (Count: g.LongCount(), Sum: g.Sum(v => v.Number), Min: g.Min(v => v.Number), Max: g.Max(v => v.Number)));
            var stored = (await connection.QueryAsync<(DateTime Start, string Model, string Feature, long Count, double Mean, double Min, double Max)>(
                    "SELECT window_start, model_id, feature, numeric_count, mean, min, max FROM feature_window_stats WHERE window_seconds = @seconds",
                    new { seconds }))
                .ToDictionary(r => (new DateTimeOffset(r.Start, TimeSpan.Zero).ToUnixTimeSeconds(), r.Model, r.Feature));
            Assert.Equal(expected.Count, stored.Count);
            foreach (var (key, exact) in expected)
            {
                var row = stored[key];
                Assert.Equal(exact.Count, row.Count);
                Assert.Equal(exact.Sum, row.Mean * row.Count, tolerance: 1e-9 * Math.Max(1, Math.Abs(exact.Sum)));
                Assert.Equal(exact.Min, row.Min);
                Assert.Equal(exact.Max, row.Max);
            }
        }
    }

    /// <summary>Six records per model, its 20 features numeric, spread over the two hours before the last full hour.</summary>
    private static List<PredictionLog> Generate(int count)
    {
        var random = new Random(14);
        var baseHour = TestData.BaseHour();
        var names = Enumerable.Range(0, Features).Select(f => $"f{f:D2}").ToArray();
        return [.. Enumerable.Range(0, count).Select(i => new PredictionLog(
            baseHour.AddMilliseconds(random.NextDouble() * 2 * 3_600_000),
            $"hc-{i}",
            $"p{i % Models / 100:D2}",
            $"m{i % Models:D4}",
            [.. names.Select((name, f) => new KeyValuePair<string, FeatureValue>(name, FeatureValue.FromNumber(Math.Round(f + (random.NextDouble() * 10), 3))))],
            Math.Round(random.NextDouble() * 100, 3),
            []))];
    }

    private int Produce(string topic, IEnumerable<PredictionLog> logs)
    {
        var messages = AggregatorHarness.ApiMessages(logs, 100).ToList();
        _kafka.Produce(topic, messages.Select(m => ((byte[]?)null, m)));
        return messages.Count;
    }
}
