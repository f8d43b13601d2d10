using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Exporter.Tests;

/// <summary>The exporter host against the real private Postgres: rows inserted with SQL, then scraped.</summary>
public sealed class ExporterPostgresTests(PostgresDatabaseFixture database) : IClassFixture<PostgresDatabaseFixture>
{
    [Fact]
    public async Task Scrape_serves_the_latest_completed_window_from_Postgres()
    {
        await database.MigrateAsync();

        var start = StatisticsReader.LatestCompletedWindowStart(DateTimeOffset.UtcNow, 300, TimeSpan.Zero);
        var earlier = start.AddSeconds(-300);
        var current = start.AddSeconds(300); // still open: must not be exported
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO models (predictor_name, model_id, first_seen, last_seen)
                VALUES ('eta', 'eta-v1', @earlier, @current), ('eta', 'eta-v0', @earlier, @earlier),
                       ('tmp', 'tmp-v1', @earlier, @start), ('back', 'back-v1', @earlier, @current);
                -- Retired by an operator: tmp silent since (not exported); back served again after it (exported).
                INSERT INTO retired_models (predictor_name, model_id, retired_at) VALUES ('tmp', '', @current), ('back', 'back-v1', @start);
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count,
                    nonfinite_count, numeric_count, mean, stddev, min, max, p05, p25, p50, p75, p95)
                VALUES (300, @start, 'eta', 'eta-v1', 8, 0, 8, 12.5, 1.5, 10, 15, 10, 11, 12, 14, 15),
                       (300, @earlier, 'eta', 'eta-v1', 4, 0, 4, 99, 1, 98, 100, 98, 98, 99, 100, 100),
                       (300, @earlier, 'eta', 'eta-v0', 4, 0, 4, 50, 1, 49, 51, 49, 50, 50, 51, 51),
                       (300, @current, 'eta', 'eta-v1', 1, 0, 1, 1000, NULL, 1000, 1000, 1000, 1000, 1000, 1000, 1000),
                       (300, @start, 'tmp', 'tmp-v1', 3, 0, 3, 1, 0, 1, 1, 1, 1, 1, 1, 1),
                       (300, @start, 'back', 'back-v1', 2, 0, 2, 1, 0, 1, 1, 1, 1, 1, 1, 1);
                INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature, value_count,
                    null_count, default_count, nonfinite_count, numeric_count, mean, stddev, min, max, p05, p25, p50, p75, p95,
                    categorical_count, categories)
                VALUES (300, @start, 'eta', 'eta-v1', 'dist "km"\', 6, 0, 6, 1, 5, 3.5, 0.5, 3, 4, 3, 3.2, 3.5, 3.8, 4, 0, '{}'),
                       (300, @start, 'eta', 'eta-v1', 'market', 8, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 8, '{"sf": 6, "nyc": 2}'),
                       (300, @earlier, 'eta', 'eta-v1', 'weather', 4, 0, 0, 0, 4, 20, 1, 19, 21, 19, 20, 20, 21, 21, 0, '{}'),
                       (300, @start, 'tmp', 'tmp-v1', 'x', 3, 0, 0, 0, 3, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, '{}');
                -- tenure sent as a number by 5 records, as a string by 2 and as a boolean by 1: 3 of 8 are not the majority type.
                INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature, value_count,
                    null_count, default_count, nonfinite_count, numeric_count, categorical_count, boolean_count, categories)
                VALUES (300, @start, 'eta', 'eta-v1', 'tenure', 8, 0, 0, 0, 5, 3, 1, '{"12": 2, "true": 1}');
                """, new { start = start.UtcDateTime, earlier = earlier.UtcDateTime, current = current.UtcDateTime });
        }

        await using var factory = ExporterHost.On(database.ConnectionString);
        using var client = factory.CreateClient();

        var text = await ExporterHost.StatisticsAsync(client);

        Assert.Contains("modelmonitor_prediction_count{predictor_name=\"eta\",model_id=\"eta-v1\",window=\"5m\"} 8\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_prediction_mean{predictor_name=\"eta\",model_id=\"eta-v1\",window=\"5m\"} 12.5\n", text, StringComparison.Ordinal);
        // eta-v0 sent nothing in the latest window: count 0, its older mean is not presented as current.
        Assert.Contains("modelmonitor_prediction_count{predictor_name=\"eta\",model_id=\"eta-v0\",window=\"5m\"} 0\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_prediction_mean{predictor_name=\"eta\",model_id=\"eta-v0\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain(" 1000\n", text, StringComparison.Ordinal); // the open window
        Assert.Contains("modelmonitor_feature_default_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"dist \\\"km\\\"\\\\\",window=\"5m\"} 0.75\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_nonfinite_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"dist \\\"km\\\"\\\\\",window=\"5m\"} 0.125\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_missing_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"weather\",window=\"5m\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_category_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"market\",window=\"5m\",category=\"sf\"} 0.75\n", text, StringComparison.Ordinal);
        Assert.Contains($"modelmonitor_window_end_timestamp_seconds{{predictor_name=\"eta\",model_id=\"eta-v1\",window=\"5m\"}} {start.ToUnixTimeSeconds() + 300}\n", text, StringComparison.Ordinal);
        Assert.Contains($"modelmonitor_model_last_seen_timestamp_seconds{{predictor_name=\"eta\",model_id=\"eta-v1\"}} {current.ToUnixTimeSeconds()}\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_type_mismatch_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"tenure\",window=\"5m\"} 0.375\n", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_feature_type_mismatch_ratio{predictor_name=\"eta\",model_id=\"eta-v1\",feature=\"market\",window=\"5m\"} 0\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("predictor_name=\"tmp\"", text, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_prediction_count{predictor_name=\"back\",model_id=\"back-v1\",window=\"5m\"} 2\n", text, StringComparison.Ordinal);
        var (exitCode, output) = PromtoolCheckMetricsTests.PromtoolCheckMetrics(System.Text.Encoding.UTF8.GetBytes(text));
        Assert.True(exitCode is 0 or 3, output);
        Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);

        // The exporter's own metrics and the process metrics are on /metrics, from prometheus-net's registry.
        var own = await client.GetStringAsync("/metrics");
        Assert.Contains("modelmonitor_exporter_series ", own, StringComparison.Ordinal);
        Assert.Contains("modelmonitor_exporter_dropped_series_total{reason=\"models\"} 0\n", own, StringComparison.Ordinal);
        Assert.Contains("process_cpu_seconds_total ", own, StringComparison.Ordinal);
        Assert.DoesNotContain("modelmonitor_prediction_count", own, StringComparison.Ordinal);
        var (ownExit, ownLint) = PromtoolCheckMetricsTests.PromtoolCheckMetrics(System.Text.Encoding.UTF8.GetBytes(own));
        Assert.True(ownExit is 0 or 3, ownLint);

        // Prometheus asks for gzip: the statistics come compressed (once per refresh) and decompress to the same text.
        using var gzipRequest = new HttpRequestMessage(HttpMethod.Get, "/metrics/statistics");
        gzipRequest.Headers.AcceptEncoding.ParseAdd("gzip");
        using var gzipped = await client.SendAsync(gzipRequest);
        Assert.Equal("gzip", Assert.Single(gzipped.Content.Headers.ContentEncoding));
        await using var unzip = new System.IO.Compression.GZipStream(await gzipped.Content.ReadAsStreamAsync(), System.IO.Compression.CompressionMode.Decompress);
        Assert.Contains("modelmonitor_prediction_count{predictor_name=\"eta\",model_id=\"eta-v1\",window=\"5m\"} 8\n", await new StreamReader(unzip).ReadToEndAsync(), StringComparison.Ordinal);

        var ready = await client.GetAsync("/readyz");
        var report = await ready.Content.ReadAsStringAsync();
        Assert.True(ready.IsSuccessStatusCode, report);
        // The library's Postgres check (AspNetCore.HealthChecks.NpgSql) is part of readiness, next to the exporter's own.
        using var checks = System.Text.Json.JsonDocument.Parse(report);
        Assert.Equal("Healthy", checks.RootElement.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
        Assert.Equal("Healthy", checks.RootElement.GetProperty("checks").GetProperty("exporter").GetProperty("status").GetString());
    }
}
