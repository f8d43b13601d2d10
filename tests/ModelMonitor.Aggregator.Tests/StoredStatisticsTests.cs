using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>A known data set through the real mock Kafka and the real Postgres, checked against exact answers.</summary>
public sealed class StoredStatisticsTests : IClassFixture<PostgresDatabaseFixture>, IDisposable
{
    private readonly PostgresDatabaseFixture _database;
    private readonly KafkaMockCluster _kafka = new();

    public StoredStatisticsTests(PostgresDatabaseFixture database) => _database = database;

    public void Dispose() => _kafka.Dispose();

    private sealed record FeatureRow(
        int window_seconds, DateTime window_start, string predictor_name, string model_id, string feature,
        long value_count, long null_count, long default_count, long nonfinite_count, long numeric_count,
        double? mean, double m2, double? stddev, double? min, double? max,
        double? p05, double? p25, double? p50, double? p75, double? p95, byte[]? sketch,
        long categorical_count, string categories, long missing_count, long prediction_count);

    private sealed record ModelRow(
        int window_seconds, DateTime window_start, string predictor_name, string model_id,
        long prediction_count, long nonfinite_count, long numeric_count,
        double? mean, double? stddev, double? min, double? max,
        double? p05, double? p25, double? p50, double? p75, double? p95, byte[]? sketch);

    [Fact]
    public async Task Every_stored_statistic_matches_the_exact_answer()
    {
        var topic = KafkaMockCluster.UniqueTopic("stats");
        var logs = TestData.Generate(3_000, seed: 42, TestData.BaseHour());
        _kafka.Produce(topic, logs.Select(l => ((byte[]?)null, PredictionLogCodec.Encode(l))));

        using var host = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(_database.ConnectionString, _kafka.BootstrapServers, topic, "stats"));
        await AggregatorHarness.WaitForCountAsync(_database.ConnectionString, logs.Count, TimeSpan.FromSeconds(60));
        await host.StopAsync();

        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        var featureRows = (await connection.QueryAsync<FeatureRow>(
            """
            SELECT f.window_seconds, f.window_start, f.predictor_name, f.model_id, f.feature,
                   f.value_count, f.null_count, f.default_count, f.nonfinite_count, f.numeric_count,
                   f.mean, f.m2, f.stddev, f.min, f.max, f.p05, f.p25, f.p50, f.p75, f.p95, f.sketch,
                   f.categorical_count, f.categories::text AS categories, s.missing_count, s.prediction_count
            FROM feature_window_stats f JOIN feature_stats s USING (window_seconds, window_start, predictor_name, model_id, feature)
            """)).ToList();
        var modelRows = (await connection.QueryAsync<ModelRow>(
            """
            SELECT window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count,
                   mean, stddev, min, max, p05, p25, p50, p75, p95, sketch
            FROM model_window_stats
            """)).ToList();

        var windows = WindowSize.ParseList("5m,1h");
        var expectedModelRows = 0;
        var expectedFeatureRows = 0;
        foreach (var window in windows)
        {
            foreach (var group in logs.GroupBy(l => (Start: window.WindowStart(l.SentAt), l.PredictorName, l.ModelId)))
            {
                expectedModelRows++;
                var row = Assert.Single(modelRows, r => r.window_seconds == window.Seconds && r.window_start == group.Key.Start.UtcDateTime
                    && r.predictor_name == group.Key.PredictorName && r.model_id == group.Key.ModelId);
                var results = group.Select(l => l.PredictionResult).ToList();
                Assert.Equal(results.Count, row.prediction_count);
                Assert.Equal(results.Count(r => !double.IsFinite(r)), row.nonfinite_count);
                AssertNumeric(results.Where(double.IsFinite).ToArray(), row.numeric_count, row.mean, row.stddev, row.min, row.max,
                    [row.p05, row.p25, row.p50, row.p75, row.p95], row.sketch, $"{window} {group.Key} prediction_result");

                var names = group.SelectMany(l => l.Features.Select(f => f.Key).Concat(l.DefaultValuesUsed)).Distinct();
                foreach (var name in names)
                {
                    expectedFeatureRows++;
                    var feature = Assert.Single(featureRows, r => r.window_seconds == window.Seconds && r.window_start == group.Key.Start.UtcDateTime
                        && r.predictor_name == group.Key.PredictorName && r.model_id == group.Key.ModelId && r.feature == name);
                    var values = group.SelectMany(l => l.Features.Where(f => f.Key == name).Select(f => f.Value)).ToList();
                    var context = $"{window} {group.Key} {name}";
                    Assert.Equal(values.Count(v => !v.IsNull), feature.value_count);
                    Assert.Equal(values.Count(v => v.IsNull), feature.null_count);
                    Assert.Equal(group.Count(l => l.DefaultValuesUsed.Contains(name)), feature.default_count);
                    Assert.Equal(values.Count(v => v.Kind == FeatureValueKind.Number && !double.IsFinite(v.Number)), feature.nonfinite_count);
                    Assert.Equal(group.Count() - values.Count(v => !v.IsNull), feature.missing_count);
                    Assert.Equal(group.Count(), feature.prediction_count);
                    var categorical = values.Where(v => v.IsCategorical).GroupBy(v => v.CategoryLabel).ToDictionary(g => g.Key, g => (long)g.Count());
                    Assert.Equal(categorical.Values.Sum(), feature.categorical_count);
                    Assert.Equal(
                        categorical.OrderBy(p => p.Key, StringComparer.Ordinal),
                        JsonSerializer.Deserialize<Dictionary<string, long>>(feature.categories)!.OrderBy(p => p.Key, StringComparer.Ordinal));
                    var numbers = values.Where(v => v.Kind == FeatureValueKind.Number && double.IsFinite(v.Number)).Select(v => v.Number).ToArray();
                    AssertNumeric(numbers, feature.numeric_count, feature.mean, feature.stddev, feature.min, feature.max,
                        [feature.p05, feature.p25, feature.p50, feature.p75, feature.p95], feature.sketch, context);
                }
            }
        }

        Assert.Equal(expectedModelRows, modelRows.Count);
        Assert.Equal(expectedFeatureRows, featureRows.Count);

        var models = (await connection.QueryAsync<(string Predictor, string Model, DateTime First, DateTime Last)>(
            "SELECT predictor_name, model_id, first_seen, last_seen FROM models")).ToList();
        foreach (var group in logs.GroupBy(l => (l.PredictorName, l.ModelId)))
        {
            var model = Assert.Single(models, m => m.Predictor == group.Key.PredictorName && m.Model == group.Key.ModelId);
            // timestamptz keeps microseconds: compare at that precision.
            static DateTime Micros(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % 10), DateTimeKind.Utc);
            Assert.Equal(Micros(group.Min(l => l.SentAt)), model.First);
            Assert.Equal(Micros(group.Max(l => l.SentAt)), model.Last);
        }

        Assert.Equal(logs.Count, await AggregatorHarness.StoredOffsetSumAsync(_database.ConnectionString, "stats"));
    }

    private static void AssertNumeric(double[] values, long count, double? mean, double? stddev, double? min, double? max, double?[] quantiles, byte[]? sketch, string context)
    {
        Assert.Equal(values.Length, count);
        if (values.Length == 0)
        {
            Assert.Null(mean);
            Assert.Null(sketch);
            Assert.All(quantiles, Assert.Null);
            return;
        }

        var exactMean = values.Average();
        Assert.True(Math.Abs(exactMean - mean!.Value) <= 1e-9 * Math.Max(1, Math.Abs(exactMean)), $"{context}: mean {mean} vs {exactMean}");
        if (values.Length > 1)
        {
            // Postgres stddev(): the sample standard deviation, computed here in two passes.
            var exactStddev = Math.Sqrt(values.Sum(v => (v - exactMean) * (v - exactMean)) / (values.Length - 1));
            Assert.True(Math.Abs(exactStddev - stddev!.Value) <= 1e-9 * Math.Max(1, exactStddev), $"{context}: stddev {stddev} vs {exactStddev}");
        }
        else
        {
            Assert.Null(stddev);
        }

        Assert.Equal(values.Min(), min);
        Assert.Equal(values.Max(), max);
        var sorted = values.Order().ToArray();
        for (var i = 0; i < quantiles.Length; i++)
        {
            var q = NumericDistribution.ReportedQuantiles[i];
            var exact = sorted[(int)Math.Floor(q * (sorted.Length - 1))];
            Assert.True(
                Math.Abs(quantiles[i]!.Value - exact) <= (DDSketch.DefaultRelativeAccuracy * Math.Abs(exact) * (1 + 1e-9)) + 1e-12,
                $"{context}: p{q * 100} {quantiles[i]} vs exact {exact}");
        }

        Assert.Equal(values.Length, DDSketch.Deserialize(sketch).Count);
    }
}
